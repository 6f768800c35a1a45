/**
 * Contract of the lockout counters (identity/lockout-counters.ts): one suite
 * for both backends, the database (on every engine) and Redis
 * (127.0.0.1:6379), over a real store that holds the users and
 * `sign_in_sources` rows.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Redis } from 'ioredis';
import { ENGINES } from './helpers/engines.js';
import type { TestStore } from './helpers/app.js';
import { ACCOUNT, MFA, redisLockoutCounters, sqlLockoutCounters } from '../src/identity/lockout-counters.js';
import type { LockoutCounters } from '../src/identity/lockout-counters.js';
import { createTenantRepository, createUserRepository } from '../src/identity/repository.js';
import { createMfaRepository } from '../src/mfa/repository.js';
import { openRedis } from '../src/storage/redis.js';
import { DatabaseUnavailableError } from '../src/storage/availability.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const log = { warn: () => {} };
const WINDOW = 600_000;
const SOURCE = 'c291cmNlLWRpZ2VzdC1vbmU';
const OTHER = 'c291cmNlLWRpZ2VzdC10d28';

const BACKENDS = ['database', 'redis'] as const;

for (const engine of ENGINES) {
  for (const backend of BACKENDS) {
    describe(`lockout counters: ${backend} (${engine.name})`, () => {
      let t: TestStore;
      let redis: Redis | undefined;
      let prefix: string;
      let counters: LockoutCounters;
      let userId: string;
      const users = () => createUserRepository(t.store.db);

      beforeEach(async () => {
        t = await engine.open();
        await t.store.migrate();
        await createTenantRepository(t.store.db).upsert('default', 'Default');
        userId = (await users().create({ tenantId: 'default', username: 'alice' })).id;
        // Two known sources of alice (known_at is the database's in both backends).
        for (const source of [SOURCE, OTHER]) {
          await t.store.db.insertInto('sign_in_sources')
            .values({ user_id: userId, source, known_at: Date.now(), failures: 0, window_start: null, locked_until: null }).execute();
        }
        prefix = `test:lockout:${process.pid}:${Math.random().toString(36).slice(2)}:`;
        if (backend === 'redis') {
          redis = openRedis(REDIS_URL, log);
          counters = redisLockoutCounters(redis, prefix, users(), t.store.db);
        } else {
          counters = sqlLockoutCounters(t.store.db, users(), createMfaRepository(t.store.db));
        }
      });
      afterEach(async () => {
        if (redis) {
          await redis.del(`${prefix}lockout:${userId}`);
          redis.disconnect();
          redis = undefined;
        }
        await t.dispose();
      });

      test('failures count per bucket within the window; a window that ran out starts again at 1', async () => {
        const now = 1_800_000_000_000;
        expect(await counters.countFailure(userId, ACCOUNT, now, WINDOW)).toBe(1);
        expect(await counters.countFailure(userId, ACCOUNT, now + 1000, WINDOW)).toBe(2);
        expect(await counters.countFailure(userId, SOURCE, now + 1000, WINDOW)).toBe(1);
        expect(await counters.countFailure(userId, MFA, now + 1000, WINDOW)).toBe(1);
        expect(await counters.countFailure(userId, ACCOUNT, now + WINDOW, WINDOW)).toBe(3); // the window's last instant
        expect(await counters.failures(userId, ACCOUNT)).toBe(3);
        expect(await counters.failures(userId, OTHER)).toBe(0);
        expect(await counters.countFailure(userId, ACCOUNT, now + WINDOW + 1, WINDOW)).toBe(1);
        expect(await counters.failures(userId, SOURCE)).toBe(1);
      });

      test('concurrent failures are each counted once', async () => {
        const now = Date.now();
        const counts = await Promise.all(Array.from({ length: 12 }, () => counters.countFailure(userId, SOURCE, now, WINDOW)));
        expect(counts.sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      });

      test('a known source locks on its own until its end; the lock starts its count over', async () => {
        const now = Date.now();
        await counters.countFailure(userId, SOURCE, now, WINDOW);
        await counters.countFailure(userId, SOURCE, now, WINDOW);
        await counters.lock(userId, SOURCE, now + 5_000, now);
        expect(await counters.lockedUntil(userId, SOURCE, now)).toBe(now + 5_000);
        expect(await counters.lockedUntil(userId, SOURCE, now + 5_000)).toBeNull();
        expect(await counters.lockedUntil(userId, OTHER, now)).toBeNull();
        expect(await counters.lockedUntil(userId, ACCOUNT, now)).toBeNull();
        expect(await counters.failures(userId, SOURCE)).toBe(0);
        expect(await counters.state(userId, now)).toEqual({ locked: true, failures: true });
        expect(await counters.state(userId, now + 5_000)).toEqual({ locked: false, failures: false });
        // The account row is untouched by a source's lock.
        expect(await users().findById(userId)).toMatchObject({ status: 'active', lockedUntil: null });
      });

      test('the account lock is the users row\'s temporary lock (account state), its count starts over', async () => {
        const now = Date.now();
        await counters.countFailure(userId, ACCOUNT, now, WINDOW);
        await counters.lock(userId, ACCOUNT, now + 60_000, now);
        expect(await users().findById(userId)).toMatchObject({ status: 'locked', lockedUntil: now + 60_000 });
        expect(await counters.lockedUntil(userId, ACCOUNT, now)).toBe(now + 60_000);
        expect(await counters.failures(userId, ACCOUNT)).toBe(0);
        expect(await counters.countFailure(userId, ACCOUNT, now + 1, WINDOW)).toBe(1);
      });

      test('a success forgets a bucket\'s count, not its lock nor the other buckets', async () => {
        const now = Date.now();
        await counters.countFailure(userId, SOURCE, now, WINDOW);
        await counters.countFailure(userId, OTHER, now, WINDOW);
        await counters.lock(userId, OTHER, now + 60_000, now);
        await counters.countFailure(userId, OTHER, now, WINDOW);
        await counters.resetFailures(userId, SOURCE);
        await counters.resetFailures(userId, OTHER);
        expect(await counters.failures(userId, SOURCE)).toBe(0);
        expect(await counters.failures(userId, OTHER)).toBe(0);
        expect(await counters.lockedUntil(userId, OTHER, now)).toBe(now + 60_000);
        expect(await counters.state(userId, now)).toEqual({ locked: true, failures: true });
      });

      test('clear ends every count and source lock but the count of wrong codes; state does not look at that one', async () => {
        const now = Date.now();
        await counters.countFailure(userId, MFA, now, WINDOW);
        expect(await counters.state(userId, now)).toEqual({ locked: false, failures: false });
        await counters.countFailure(userId, ACCOUNT, now, WINDOW);
        expect(await counters.state(userId, now)).toEqual({ locked: false, failures: true });
        await counters.countFailure(userId, SOURCE, now, WINDOW);
        await counters.lock(userId, OTHER, now + 60_000, now);
        await counters.clear(userId);
        expect(await counters.state(userId, now)).toEqual({ locked: false, failures: false });
        expect(await counters.failures(userId, ACCOUNT)).toBe(0);
        expect(await counters.failures(userId, SOURCE)).toBe(0);
        expect(await counters.lockedUntil(userId, OTHER, now)).toBeNull();
        expect(await counters.failures(userId, MFA)).toBe(1);
        await counters.resetFailures(userId, MFA);
        expect(await counters.failures(userId, MFA)).toBe(0);
      });

      if (backend === 'redis') {
        test('Redis: nothing lingers: the account\'s hash expires with its longest window or lock', async () => {
          const key = `${prefix}lockout:${userId}`;
          const now = Date.now();
          await counters.countFailure(userId, SOURCE, now, 30_000);
          expect(await redis!.pttl(key)).toBeGreaterThan(25_000);
          expect(await redis!.pttl(key)).toBeLessThanOrEqual(30_000);
          await counters.lock(userId, SOURCE, now + 90_000, now);
          expect(await redis!.pttl(key)).toBeGreaterThan(85_000);
          expect(await redis!.pttl(key)).toBeLessThanOrEqual(90_000);
          // A shorter window later never shortens it.
          await counters.countFailure(userId, OTHER, now, 1_000);
          expect(await redis!.pttl(key)).toBeGreaterThan(85_000);
          await counters.countFailure(userId, OTHER, now, 50);
          await counters.resetFailures(userId, SOURCE);
          await counters.clear(userId);
          expect(await redis!.exists(key)).toBe(0);
        });

        test('Redis away: every call fails with DatabaseUnavailableError (a sign-in answers 503, nothing goes uncounted)', async () => {
          const gone = openRedis('redis://127.0.0.1:1', log);
          try {
            const broken = redisLockoutCounters(gone, prefix, users(), t.store.db);
            await expect(broken.countFailure(userId, SOURCE, Date.now(), WINDOW)).rejects.toBeInstanceOf(DatabaseUnavailableError);
            await expect(broken.lockedUntil(userId, SOURCE, Date.now())).rejects.toBeInstanceOf(DatabaseUnavailableError);
            await expect(broken.lock(userId, SOURCE, Date.now() + 1000, Date.now())).rejects.toBeInstanceOf(DatabaseUnavailableError);
            await expect(broken.clear(userId)).rejects.toBeInstanceOf(DatabaseUnavailableError);
          } finally {
            gone.disconnect();
          }
        });
      }
    });
  }
}
