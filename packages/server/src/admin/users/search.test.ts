import { expect, test } from 'vitest';
import { prefixSuccessor } from './search.js';

test('prefixSuccessor: the least string above every string with the prefix, in code point order', () => {
  expect(prefixSuccessor('ali')).toBe('alj');
  expect(prefixSuccessor('mü')).toBe('mý');
  expect(prefixSuccessor('a\u{10FFFF}')).toBe('b');
  expect(prefixSuccessor('\u{10FFFF}')).toBeUndefined();
  expect(prefixSuccessor('a\uD7FF')).toBe('a\uE000');
  // Everything starting with the prefix sorts below the successor, byte-wise as the engines compare.
  const bytes = (s: string) => Buffer.from(s, 'utf8');
  for (const s of ['ali', 'alice', 'ali\u{1F600}', 'ali\uFFFF']) expect(Buffer.compare(bytes(s), bytes(prefixSuccessor('ali')!))).toBe(-1);
});
