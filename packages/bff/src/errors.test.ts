import { describe, expect, test } from 'vitest';
import { safeReturnTo } from './errors.js';

describe('safeReturnTo', () => {
  test('keeps local paths with query and fragment', () => {
    expect(safeReturnTo('/orders?x=1#top')).toBe('/orders?x=1#top');
    expect(safeReturnTo('/')).toBe('/');
  });

  test('anything that could leave the origin becomes /', () => {
    for (const value of [undefined, 42, '', 'orders', 'https://evil.example/', '//evil.example', '/\\evil.example', '\\\\evil.example',
      'javascript:alert(1)', '/\t/evil.example', '/\n/evil.example', `/${'a'.repeat(2001)}`]) {
      expect(safeReturnTo(value), String(value)).toBe('/');
    }
  });
});
