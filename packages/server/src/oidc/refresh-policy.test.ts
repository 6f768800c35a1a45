import { hkdfSync } from 'node:crypto';
import { expect, test } from 'vitest';
import { keyFor } from './refresh-policy.js';

test('the grace window key is HKDF-SHA256 of the old refresh token (salt tessera, info refresh-token successor), as hkdfSync gives it', () => {
  for (const value of ['', 'a', 'x'.repeat(43), 'token-with-ünïcödé-and-🙂', 'y'.repeat(200)]) {
    expect(keyFor(value).equals(Buffer.from(hkdfSync('sha256', value, 'tessera', 'refresh-token successor', 32)))).toBe(true);
  }
});
