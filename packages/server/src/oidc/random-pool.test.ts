import { expect, test } from 'vitest';
import { pooledRandomBytes } from './random-pool.js';

test('pooled random bytes: the size asked, never the same bytes twice, across refills; kept bytes are not overwritten', () => {
  const seen = new Set<string>();
  const kept: [Buffer, string][] = [];
  // 1 000 nonces of 12 bytes: three refills of the 4 KiB pool.
  for (let i = 0; i < 1000; i++) {
    const iv = pooledRandomBytes(12);
    expect(iv).toHaveLength(12);
    const hex = iv.toString('hex');
    expect(seen.has(hex)).toBe(false);
    seen.add(hex);
    if (i % 100 === 0) kept.push([iv, hex]);
  }
  for (const [iv, hex] of kept) expect(iv.toString('hex')).toBe(hex);
  // Not all zeros or one repeated byte: drawn from the CSPRNG.
  expect(new Set(pooledRandomBytes(64)).size).toBeGreaterThan(20);
  for (const n of [0, 65, 1.5, -1]) expect(() => pooledRandomBytes(n)).toThrow(RangeError);
});
