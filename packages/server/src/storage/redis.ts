import type { Redis } from 'ioredis';
import { requireOnUse } from '../startup/lazy.js';
import type { CounterBackend } from '../http/shared-counters.js';

/**
 * Redis (REDIS_URL, docs/scaling.md): shared throttle and rate-limit counts
 * and change notifications for many instances. Commands fail after one
 * reconnection attempt while Redis is away, and requests never wait on them:
 * throttles fall back to per-process counts and change notifications to the
 * caches' own timeouts until it is back (docs/scaling.md#redis-outage).
 */
// Loaded when REDIS_URL is set, not at every start (issue 20: about 120 ms and 20 MiB).
const ioredis = requireOnUse<typeof import('ioredis')>('ioredis');

export function openRedis(url: string, log: { warn(obj: object, msg: string): void }): Redis {
  const redis = new (ioredis().Redis)(url, {
    // A command waits for at most one reconnection attempt (≤ 2 s), then fails.
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(200 * attempt, 2_000),
  });
  let last = 0;
  redis.on('error', (err: Error) => {
    // At most one line per 10 s while it is down.
    if (Date.now() - last > 10_000) {
      last = Date.now();
      log.warn({ err: { message: err.message } }, 'redis unavailable');
    }
  });
  return redis;
}

/**
 * Counts in one hash per deployment (`<prefix>counters`), a field per key,
 * bucket and expiry; the totals are summed from it, expired fields deleted
 * by the sweeper (and on read).
 */
export function redisCounterBackend(redis: Redis, prefix: string): CounterBackend {
  const hash = `${prefix}counters`;
  const parse = (field: string) => {
    const i = field.lastIndexOf('|');
    const j = field.lastIndexOf('|', i - 1);
    return { key: field.slice(0, j), expires: Number(field.slice(i + 1)) };
  };
  return {
    kind: 'redis',
    async add(key, bucket, hits, expiresAt) {
      await redis.hincrby(hash, `${key}|${bucket}|${expiresAt}`, hits);
    },
    async heavy(now, atLeast) {
      const all = await redis.hgetall(hash);
      const sums = new Map<string, number>();
      for (const [field, n] of Object.entries(all)) {
        const { key, expires } = parse(field);
        if (expires > now) sums.set(key, (sums.get(key) ?? 0) + Number(n));
      }
      for (const [k, n] of sums) if (n < atLeast) sums.delete(k);
      return sums;
    },
    async sweep(now) {
      const fields = await redis.hkeys(hash);
      const old = fields.filter((f) => parse(f).expires <= now);
      for (let i = 0; i < old.length; i += 500) await redis.hdel(hash, ...old.slice(i, i + 500));
    },
  };
}
