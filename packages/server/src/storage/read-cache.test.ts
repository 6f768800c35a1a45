import { describe, expect, test } from 'vitest';
import { ReadCache } from './read-cache.js';

describe('ReadCache', () => {
  test('serves within the window, reloads after it, and forgets on invalidate', async () => {
    let now = 1000;
    let loads = 0;
    const cache = new ReadCache<string>(50, 100, () => now);
    const load = async () => `v${++loads}`;
    expect(await cache.get('a', load)).toBe('v1');
    expect(await cache.get('a', load)).toBe('v1');
    now += 51;
    expect(await cache.get('a', load)).toBe('v2');
    cache.invalidate('a');
    expect(await cache.get('a', load)).toBe('v3');
  });

  test('caches misses too', async () => {
    let loads = 0;
    const cache = new ReadCache<string>(1000);
    const load = async () => {
      loads++;
      return undefined;
    };
    await cache.get('missing', load);
    await cache.get('missing', load);
    expect(loads).toBe(1);
  });
});
