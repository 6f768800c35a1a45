import { describe, expect, test } from 'vitest';
import { MemorySessionStore } from './store.js';

describe('MemorySessionStore', () => {
  test('values expire after their TTL and are copies, not shared objects', async () => {
    let now = 1_000_000;
    const store = new MemorySessionStore({ now: () => now, sweepIntervalMs: 0 });
    const value = { a: 1 };
    await store.set('k', value, 10);
    value.a = 2;
    const read = (await store.get('k')) as { a: number };
    expect(read).toEqual({ a: 1 });
    read.a = 3;
    expect(await store.get('k')).toEqual({ a: 1 });
    now += 10_000;
    expect(await store.get('k')).toBeUndefined();
    expect(store.size).toBe(0);
  });

  test('a full store drops its oldest entry', async () => {
    const store = new MemorySessionStore({ maxEntries: 2, sweepIntervalMs: 0 });
    await store.set('a', 1, 60);
    await store.set('b', 2, 60);
    await store.set('a', 1, 60); // rewriting refreshes its position
    await store.set('c', 3, 60);
    expect(await store.get('b')).toBeUndefined();
    expect(await store.get('a')).toBe(1);
    expect(await store.get('c')).toBe(3);
    await store.delete('a');
    expect(store.size).toBe(1);
  });
});
