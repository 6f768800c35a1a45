import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, test } from 'vitest';
import { ERROR_CODES } from '../src/http/errors.js';

test('every stable error code is documented in docs/errors.md', () => {
  const doc = readFileSync(resolve(import.meta.dirname, '../../../docs/errors.md'), 'utf8');
  const missing = Object.keys(ERROR_CODES).filter((code) => !doc.includes(`\`${code}\``));
  expect(missing).toEqual([]);
});
