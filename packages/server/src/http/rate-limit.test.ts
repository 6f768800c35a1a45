import { expect, test } from 'vitest';
import { RateLimiter } from './rate-limit.js';

test('allows `limit` requests per key in the window, then refuses until they age out', () => {
  let now = 1_000_000;
  const limiter = new RateLimiter(3, 60_000, () => now);
  expect([limiter.take('a'), limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([true, true, true, false]);
  expect(limiter.take('b')).toBe(true);
  now += 30_000;
  expect(limiter.take('a')).toBe(false);
  now += 30_001;
  expect(limiter.take('a')).toBe(true);
});
