import type { Kysely } from 'kysely';
import type { Redis, Result } from 'ioredis';
import type { Database } from '../storage/schema.js';
import { DatabaseUnavailableError } from '../storage/availability.js';
import type { UserRepository } from './repository.js';
import type { MfaRepository } from '../mfa/repository.js';

/** The account's bucket for unknown sources (identity/sign-in-sources.ts). */
export const ACCOUNT = 'account';
/** The account's count of wrong second-factor codes, which a correct password does not reset (mfa/service.ts). */
export const MFA = 'mfa';

/**
 * The lockout's counters (docs/security.md#lockout-and-throttling): failures
 * per account and bucket within the policy's window, and the temporary locks
 * they cause. A bucket is ACCOUNT, MFA or a known source's key (the digest
 * stored in `sign_in_sources.source`).
 *
 * Which sources are known (`sign_in_sources.known_at`) is durable account
 * data and stays in the database with either backend; so does the account
 * lock for unknown sources (the users row's `locked_until` and `locked`
 * status): it is account state the admin API, SCIM and Okta views, status
 * filters and exports show, and it is written once per lockout, not per
 * failure. Only the counts and the known sources' locks move.
 */
export interface LockoutCounters {
  readonly kind: 'database' | 'redis';
  /**
   * Counts one failure of `bucket`: a window that started before
   * `now - windowMs` (or none) restarts at 1. Returns the count in the window.
   * @throws DatabaseUnavailableError when the backend cannot answer.
   */
  countFailure(userId: string, bucket: string, now: number, windowMs: number): Promise<number>;
  /** Locks `bucket` until `until` and starts its count over (ACCOUNT: the users row's temporary lock). */
  lock(userId: string, bucket: string, until: number, now: number): Promise<void>;
  /** The end of `bucket`'s lock while it lasts, else null. */
  lockedUntil(userId: string, bucket: string, now: number): Promise<number | null>;
  /** The failures `bucket` has counted (0 when none). */
  failures(userId: string, bucket: string): Promise<number>;
  /** Forgets `bucket`'s count (a success); a lock stays. */
  resetFailures(userId: string, bucket: string): Promise<void>;
  /**
   * Whether a known source of the account is locked now, and whether the
   * account or a known source has failures counting or a lock (an unlock has
   * something to end). The count of wrong codes (MFA) is not looked at.
   */
  state(userId: string, now: number): Promise<{ locked: boolean; failures: boolean }>;
  /**
   * Forgets the account's count and every known source's count and lock (a
   * password reset, an unlock). The count of wrong codes stays (only a
   * correct code ends it); the account lock is the caller's (UserRepository.clearLockout).
   */
  clear(userId: string): Promise<void>;
}

/**
 * The database backend, as before: the account's count on the users row,
 * the MFA count in `mfa_failures`, a known source's count and lock on its
 * `sign_in_sources` row (a source that has no row counts nothing).
 */
export function sqlLockoutCounters(
  db: Kysely<Database>, users: Pick<UserRepository, 'incrementLoginFailures' | 'lock'>, mfa: Pick<MfaRepository, 'incrementFailures' | 'clearFailures'>,
): LockoutCounters {
  const source = (userId: string, bucket: string) => db.updateTable('sign_in_sources').where('user_id', '=', userId).where('source', '=', bucket);
  return {
    kind: 'database',
    async countFailure(userId, bucket, now, windowMs) {
      const windowStart = now - windowMs;
      if (bucket === ACCOUNT) return users.incrementLoginFailures(userId, now, windowStart);
      if (bucket === MFA) return mfa.incrementFailures(userId, now, windowStart);
      const row = await source(userId, bucket)
        .set((eb) => ({
          failures: eb.case().when('window_start', 'is', null).then(1).when('window_start', '<', windowStart).then(1)
            .else(eb('failures', '+', 1)).end(),
          window_start: eb.case().when('window_start', 'is', null).then(now).when('window_start', '<', windowStart).then(now)
            .else(eb.ref('window_start')).end(),
        }))
        .returning('failures').executeTakeFirst();
      return Number(row?.failures ?? 0);
    },
    async lock(userId, bucket, until) {
      if (bucket === ACCOUNT) return users.lock(userId, until);
      if (bucket === MFA) throw new Error('the MFA count locks the account (ACCOUNT), not itself');
      await source(userId, bucket).set({ locked_until: until, failures: 0, window_start: null }).execute();
    },
    async lockedUntil(userId, bucket, now) {
      const row = bucket === ACCOUNT
        ? await db.selectFrom('users').select('locked_until').where('id', '=', userId).executeTakeFirst()
        : await db.selectFrom('sign_in_sources').select('locked_until').where('user_id', '=', userId).where('source', '=', bucket).executeTakeFirst();
      const until = row?.locked_until == null ? null : Number(row.locked_until);
      return until !== null && until > now ? until : null;
    },
    async failures(userId, bucket) {
      const row = bucket === ACCOUNT
        ? await db.selectFrom('users').select('failed_logins as n').where('id', '=', userId).executeTakeFirst()
        : bucket === MFA
          ? await db.selectFrom('mfa_failures').select('failures as n').where('user_id', '=', userId).executeTakeFirst()
          : await db.selectFrom('sign_in_sources').select('failures as n').where('user_id', '=', userId).where('source', '=', bucket).executeTakeFirst();
      return Number(row?.n ?? 0);
    },
    async resetFailures(userId, bucket) {
      if (bucket === ACCOUNT) await db.updateTable('users').set({ failed_logins: 0, failed_window_start: null }).where('id', '=', userId).execute();
      else if (bucket === MFA) await mfa.clearFailures(userId);
      else await source(userId, bucket).set({ failures: 0, window_start: null }).execute();
    },
    async state(userId, now) {
      const rows = await db.selectFrom('sign_in_sources').select(['failures', 'locked_until']).where('user_id', '=', userId)
        .where((eb) => eb.or([eb('failures', '>', 0), eb('locked_until', '>', now)])).execute();
      const account = await db.selectFrom('users').select('failed_logins').where('id', '=', userId).executeTakeFirst();
      return {
        locked: rows.some((r) => r.locked_until !== null && Number(r.locked_until) > now),
        failures: rows.length > 0 || Number(account?.failed_logins ?? 0) > 0,
      };
    },
    async clear(userId) {
      await db.updateTable('users').set({ failed_logins: 0, failed_window_start: null }).where('id', '=', userId).execute();
      await db.updateTable('sign_in_sources').set({ failures: 0, window_start: null, locked_until: null }).where('user_id', '=', userId).execute();
    },
  };
}

/**
 * The Redis backend (REDIS_URL; `TESSERA_LOCKOUT_STATE`, docs/scaling.md):
 * one hash per account, `<prefix>lockout:<user id>`, with per bucket `n:`
 * (count), `w:` (window start) and `l:` (lock end). Counting and locking are
 * one script each, so concurrent failures on several instances count
 * exactly. The hash expires when its longest window or lock ends (PEXPIRE,
 * only ever lengthened): nothing lingers. The account lock stays on the
 * users row (written through `users.lock`, once per lockout).
 *
 * A Redis error becomes DatabaseUnavailableError: a sign-in answers `503
 * temporarily_unavailable` while Redis is away (fails closed, as the
 * engine's state in Redis does), never an attempt that is not counted.
 */
export function redisLockoutCounters(redis: Redis, prefix: string, users: Pick<UserRepository, 'lock'>, db: Kysely<Database>): LockoutCounters {
  defineLockoutCommands(redis);
  const key = (userId: string) => `${prefix}lockout:${userId}`;
  const guarded = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw new DatabaseUnavailableError(err);
    }
  };
  return {
    kind: 'redis',
    countFailure: (userId, bucket, now, windowMs) => guarded(async () =>
      Number(await redis.lockoutCount(key(userId), bucket, String(now), String(windowMs)))),
    async lock(userId, bucket, until, now) {
      if (bucket === MFA) throw new Error('the MFA count locks the account (ACCOUNT), not itself');
      // The account lock is account state on the users row; its count starts over here.
      if (bucket === ACCOUNT) await users.lock(userId, until);
      await guarded(() => redis.lockoutLock(key(userId), bucket, bucket === ACCOUNT ? '' : String(until), String(Math.max(1, until - now))));
    },
    async lockedUntil(userId, bucket, now) {
      if (bucket === ACCOUNT) {
        const row = await db.selectFrom('users').select('locked_until').where('id', '=', userId).executeTakeFirst();
        const until = row?.locked_until == null ? null : Number(row.locked_until);
        return until !== null && until > now ? until : null;
      }
      const until = Number(await guarded(() => redis.hget(key(userId), `l:${bucket}`)) ?? 0);
      return until > now ? until : null;
    },
    failures: (userId, bucket) => guarded(async () => Number((await redis.hget(key(userId), `n:${bucket}`)) ?? 0)),
    resetFailures: (userId, bucket) => guarded(async () => {
      await redis.hdel(key(userId), `n:${bucket}`, `w:${bucket}`);
    }),
    state: (userId, now) => guarded(async () => {
      const hash = await redis.hgetall(key(userId));
      let locked = false;
      let failures = false;
      for (const [field, value] of Object.entries(hash)) {
        if (field.startsWith('l:') && Number(value) > now) locked = failures = true;
        if (field.startsWith('n:') && field !== `n:${MFA}` && Number(value) > 0) failures = true;
      }
      return { locked, failures };
    }),
    clear: (userId) => guarded(async () => {
      await redis.lockoutClear(key(userId), MFA);
    }),
  };
}

declare module 'ioredis' {
  interface RedisCommander<Context> {
    lockoutCount(key: string, bucket: string, now: string, windowMs: string): Result<number, Context>;
    lockoutLock(key: string, bucket: string, until: string, ttlMs: string): Result<number, Context>;
    lockoutClear(key: string, keep: string): Result<number, Context>;
  }
}

function defineLockoutCommands(redis: Redis): void {
  if (typeof (redis as unknown as Record<string, unknown>).lockoutCount === 'function') return;
  // The database's rule: a window older than now - windowMs (or none) restarts at 1. The key lives at least one window more.
  redis.defineCommand('lockoutCount', {
    numberOfKeys: 1,
    lua: `local w = tonumber(redis.call('HGET', KEYS[1], 'w:' .. ARGV[1]))
local n
if (not w) or w < tonumber(ARGV[2]) - tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'w:' .. ARGV[1], ARGV[2], 'n:' .. ARGV[1], 1)
  n = 1
else
  n = redis.call('HINCRBY', KEYS[1], 'n:' .. ARGV[1], 1)
end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return n`,
  });
  // A lock restarts the bucket's count (the full allowance after it ends); ARGV[2] empty: count only (the lock is elsewhere).
  redis.defineCommand('lockoutLock', {
    numberOfKeys: 1,
    lua: `redis.call('HDEL', KEYS[1], 'n:' .. ARGV[1], 'w:' .. ARGV[1])
if ARGV[2] == '' then return 0 end
redis.call('HSET', KEYS[1], 'l:' .. ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`,
  });
  // Everything but the count of wrong codes (ARGV[1]), which an unlock or a reset leaves, as the database does.
  redis.defineCommand('lockoutClear', {
    numberOfKeys: 1,
    lua: `for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 3) ~= ARGV[1] then redis.call('HDEL', KEYS[1], f) end
end
return 1`,
  });
}
