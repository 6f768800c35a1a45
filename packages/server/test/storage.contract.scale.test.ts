/**
 * Contract of the scale-out storage (migration 037) on every engine: leases
 * (storage/leases.ts) and the shared throttle counters
 * (http/shared-counters.ts), with several holders/processes simulated by
 * several objects over one store.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ENGINES } from './helpers/engines.js';
import type { TestStore } from './helpers/app.js';
import { Leases, runExclusively } from '../src/storage/leases.js';
import { SharedCounters, sqlCounterBackend } from '../src/http/shared-counters.js';
import { FailureThrottle } from '../src/http/throttle.js';
import { RateLimiter } from '../src/http/rate-limit.js';
import { openRedis, redisCounterBackend } from '../src/storage/redis.js';
import { createChangeBus } from '../src/storage/changes.js';

const quiet = { error: () => {} };

for (const engine of ENGINES) {
  describe(`scale-out storage (${engine.name})`, () => {
    let t: TestStore;
    beforeEach(async () => {
      t = await engine.open();
      await t.store.migrate();
    });
    afterEach(async () => t.dispose());

    test('a lease has one holder at a time; it renews for its holder and passes on when it expires or is released', async () => {
      let now = 1_000_000;
      const a = new Leases(t.store.db, 'a', () => now);
      const b = new Leases(t.store.db, 'b', () => now);
      expect(await a.acquire('job', 10_000)).toBe(true);
      expect(await b.acquire('job', 10_000)).toBe(false);
      now += 5_000;
      expect(await a.acquire('job', 10_000)).toBe(true); // renewed until 1_015_000
      now += 9_000;
      expect(await b.acquire('job', 10_000)).toBe(false);
      expect((await b.holderOf('job'))?.holder).toBe('a');
      now += 2_000; // a died: its lease ran out
      expect(await b.acquire('job', 10_000)).toBe(true);
      expect(await a.acquire('job', 10_000)).toBe(false);
      await a.release('job'); // not a's to release
      expect((await a.holderOf('job'))?.holder).toBe('b');
      await b.release('job');
      expect(await a.holderOf('job')).toBeUndefined();
      expect(await a.acquire('job', 10_000)).toBe(true);
    });

    test('racing holders: exactly one wins', async () => {
      const holders = Array.from({ length: 8 }, (_, i) => new Leases(t.store.db, `h${i}`));
      const won = await Promise.all(holders.map((h) => h.acquire('race', 60_000)));
      expect(won.filter(Boolean)).toHaveLength(1);
    });

    test('an exclusive job runs once per interval across processes', async () => {
      let runs = 0;
      const jobs = ['p1', 'p2', 'p3'].map((h) => runExclusively(new Leases(t.store.db, h), 'sweeper', 3_600_000, async () => { runs++; }, quiet));
      const ran = await Promise.all(jobs.map((j) => j.tick()));
      expect(ran.filter(Boolean)).toHaveLength(1);
      expect(runs).toBe(1);
      await Promise.all(jobs.map((j) => j.stop()));
    });

    test('withLease serializes start-up work of several processes', async () => {
      const order: string[] = [];
      const work = (name: string) => new Leases(t.store.db, name).withLease('startup', 10_000, async () => {
        order.push(`${name}+`);
        await new Promise((r) => setTimeout(r, 50));
        order.push(`${name}-`);
      });
      await Promise.all([work('x'), work('y')]);
      expect([order.slice(0, 2), order.slice(2)].map((p) => p[0]!.slice(0, 1) === p[1]!.slice(0, 1))).toEqual([true, true]);
    });

    test('a change published by one process is heard by another (LISTEN/NOTIFY on PostgreSQL, polling on SQLite)', async () => {
      const log = { warn: () => {}, info: () => {} };
      const url = t.url;
      const sender = createChangeBus({ db: t.store.db, engine: engine.name, databaseUrl: url, log });
      const receiver = createChangeBus({ db: t.store.db, engine: engine.name, databaseUrl: url, log });
      await receiver.start();
      try {
        const heard = new Promise((resolve) => receiver.subscribe(resolve));
        await sender.publish('clients');
        expect(await heard).toBe('clients');
      } finally {
        await receiver.stop();
      }
    });

    test('failures counted by one process throttle the key in another once totals are read', async () => {
      const one = new SharedCounters(sqlCounterBackend(t.store.db));
      const two = new SharedCounters(sqlCounterBackend(t.store.db));
      const first = new FailureThrottle(3, Date.now, one);
      const second = new FailureThrottle(3, Date.now, two);
      first.recordFailure('198.51.100.7');
      second.recordFailure('198.51.100.7');
      first.recordFailure('198.51.100.7');
      expect(first.isBlocked('198.51.100.7')).toBe(false);
      await one.flush();
      await two.flush();
      await one.refresh();
      await two.refresh();
      expect(first.isBlocked('198.51.100.7')).toBe(true);
      expect(second.isBlocked('198.51.100.7')).toBe(true);
      expect(second.isBlocked('198.51.100.8')).toBe(false);
      // Gone once the window has passed and the sweeper ran.
      await sqlCounterBackend(t.store.db).sweep(Date.now() + 61_000);
      await two.refresh();
      expect(second.isBlocked('198.51.100.7')).toBe(false);
    });

    test('rate limiters with the same name share their budget; other names do not', async () => {
      // A clock that moves a millisecond per reading, as real requests are apart.
      let at = Date.now();
      const now = () => ++at;
      const one = new SharedCounters(sqlCounterBackend(t.store.db), { now });
      const two = new SharedCounters(sqlCounterBackend(t.store.db), { now });
      const a = new RateLimiter(4, 60_000, { shared: { counters: one, name: 'reset' }, now });
      const b = new RateLimiter(4, 60_000, { shared: { counters: two, name: 'reset' }, now });
      const other = new RateLimiter(4, 60_000, { shared: { counters: two, name: 'resend' }, now });
      expect([a.take('ip'), a.take('ip'), b.take('ip')]).toEqual([true, true, true]);
      await one.flush();
      await two.flush();
      await two.refresh();
      expect(b.take('ip')).toBe(true); // the fourth
      expect(b.take('ip')).toBe(false);
      expect(other.take('ip')).toBe(true);
    });
  });
}

describe('scale-out state in Redis (127.0.0.1:6379)', () => {
  const prefix = `test:${process.pid}:${Date.now()}:`;
  const log = { warn: () => {}, info: () => {} };

  test('failures counted through one connection throttle the key for another', async () => {
    const a = openRedis('redis://127.0.0.1:6379', log);
    const b = openRedis('redis://127.0.0.1:6379', log);
    try {
      const one = new SharedCounters(redisCounterBackend(a, prefix));
      const two = new SharedCounters(redisCounterBackend(b, prefix));
      const first = new FailureThrottle(2, Date.now, one);
      const second = new FailureThrottle(2, Date.now, two);
      first.recordFailure('203.0.113.9');
      first.recordFailure('203.0.113.9');
      await one.flush();
      expect(second.isBlocked('203.0.113.9')).toBe(false);
      await two.refresh();
      expect(second.isBlocked('203.0.113.9')).toBe(true);
      await redisCounterBackend(a, prefix).sweep(Date.now() + 61_000);
      await two.refresh();
      expect(second.isBlocked('203.0.113.9')).toBe(false);
    } finally {
      a.disconnect();
      b.disconnect();
    }
  });

  test('a change published by one process is heard by another', async () => {
    const a = openRedis('redis://127.0.0.1:6379', log);
    const b = openRedis('redis://127.0.0.1:6379', log);
    const db = undefined as never;
    const sender = createChangeBus({ db, engine: 'sqlite', databaseUrl: '', redis: { client: a, prefix }, log });
    const receiver = createChangeBus({ db, engine: 'sqlite', databaseUrl: '', redis: { client: b, prefix }, log });
    try {
      await receiver.start();
      const heard = new Promise((resolve) => receiver.subscribe(resolve));
      await new Promise((r) => setTimeout(r, 100));
      await sender.publish('apis');
      expect(await heard).toBe('apis');
    } finally {
      await receiver.stop();
      a.disconnect();
      b.disconnect();
    }
  });
});
