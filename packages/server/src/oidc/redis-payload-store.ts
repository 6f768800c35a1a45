import type { Redis, Result } from 'ioredis';
import { DatabaseUnavailableError } from '../storage/availability.js';
import type { RedisPayloads } from './payload-store.js';
import { ISSUED_UNDER_GRANT, payloadProtector, readable, storable } from './payload-store.js';

type Payload = Record<string, unknown>;

/**
 * The engine's short-lived state in Redis (`TESSERA_ENGINE_STATE=redis`,
 * docs/scaling.md#what-lives-where): sign-ins under way, browser sessions,
 * authorization codes, pushed requests and replay caches. They are written on
 * every step of a sign-in and live minutes to hours; in Redis they cost the
 * database nothing. Grants, refresh and opaque access tokens and device codes
 * stay in the database: they must survive a Redis restart.
 */
export const REDIS_MODELS: ReadonlySet<string> = new Set([
  'Interaction', 'Session', 'AuthorizationCode', 'PushedAuthorizationRequest', 'ReplayDetection',
  // SAML assertion ids (federation/saml/routes.ts), kept until the assertion expires.
  'SamlAssertion',
]);

/**
 * Layout, under the deployment's prefix: one hash per artefact,
 * `oidc:<model>:<digest of the id>` with `p` (the payload, token copies
 * sealed as in the database) and `c` (consumed at), expiring with it; and
 * index keys for the lookups by reference: `oidc:uid:<model>:<uid>` → digest,
 * and sets `oidc:grant:<grantId>` and `oidc:account:<accountId>` of
 * `<model>:<digest>` (members whose artefact expired are skipped, and the sets
 * expire with their longest-lived member). Ids are keyed digests here too: a
 * Redis dump yields no usable code or session.
 *
 * A Redis error becomes DatabaseUnavailableError, so the engine answers `503
 * temporarily_unavailable` (oidc/unavailable.ts): sign-ins fail closed while
 * Redis is away, they never fall back to something weaker.
 */
export function createRedisPayloadStore(redis: Redis, prefix: string, idKey: string): RedisPayloads {
  defineRedisPayloadCommands(redis);
  const p = payloadProtector(idKey);
  const key = (model: string, digest: string) => `${prefix}oidc:${model}:${digest}`;
  const uidKey = (model: string, uid: string) => `${prefix}oidc:uid:${model}:${uid}`;
  const grantKey = (grantId: string) => `${prefix}oidc:grant:${grantId}`;
  const accountKey = (accountId: string) => `${prefix}oidc:account:${accountId}`;
  const digestOf = (model: string, id: string) => p.digest(model, 'id', id);
  const guarded = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw new DatabaseUnavailableError(err);
    }
  };
  const live = (hash: Record<string, string>, foundById?: string): Payload | undefined => {
    if (!hash.p) return undefined;
    const payload = readable(JSON.parse(hash.p) as Payload, p, foundById);
    return hash.c ? { ...payload, consumed: Math.floor(Number(hash.c) / 1000) } : payload;
  };
  const byMember = async (member: string): Promise<{ model: string; k: string; hash: Record<string, string> }> => {
    const i = member.indexOf(':');
    const model = member.slice(0, i);
    const k = key(model, member.slice(i + 1));
    return { model, k, hash: await redis.hgetall(k) };
  };
  /** Sets an expiry on an index key no shorter than the one it has (NX, then GT: Redis 7). */
  const extend = (multi: ReturnType<Redis['multi']>, k: string, ms: number | undefined) => {
    if (ms === undefined) multi.persist(k);
    else multi.pexpire(k, ms, 'NX').pexpire(k, ms, 'GT');
  };
  const removeMembers = async (members: Array<{ model: string; k: string; hash: Record<string, string> }>) => {
    if (!members.length) return 0;
    const multi = redis.multi();
    for (const m of members) {
      multi.del(m.k);
      const uid = m.hash.p ? (JSON.parse(m.hash.p) as Payload).uid : undefined;
      if (typeof uid === 'string') multi.del(uidKey(m.model, uid));
    }
    await multi.exec();
    return members.filter((m) => m.hash.p).length;
  };

  const store: RedisPayloads = {
    upsert: (model, id, payload, expiresIn) => guarded(async () => {
      const digest = digestOf(model, id);
      const k = key(model, digest);
      const ms = expiresIn ? expiresIn * 1000 : undefined;
      // The previous version's uid index goes (a re-issued Session keeps its uid; another artefact may not).
      const previous = await redis.hget(k, 'p');
      const multi = redis.multi().del(k).hset(k, 'p', JSON.stringify(storable(payload, p)));
      if (ms !== undefined) multi.pexpire(k, ms);
      const oldUid = previous ? (JSON.parse(previous) as Payload).uid : undefined;
      if (typeof oldUid === 'string' && oldUid !== payload.uid) multi.del(uidKey(model, oldUid));
      if (typeof payload.uid === 'string') {
        multi.set(uidKey(model, payload.uid), digest);
        if (ms !== undefined) multi.pexpire(uidKey(model, payload.uid), ms);
      }
      // Only what is issued under a grant joins its set, as in the database (ISSUED_UNDER_GRANT): an
      // Interaction names the grant it would reuse, and must outlive the grant's end (a sign-out
      // before another user's sign-in resumes).
      const underGrant = typeof payload.grantId === 'string' && ISSUED_UNDER_GRANT.includes(model);
      for (const [indexKey, on] of [[grantKey(String(payload.grantId)), underGrant], [accountKey(String(payload.accountId)), typeof payload.accountId === 'string']] as const) {
        if (!on) continue;
        multi.sadd(indexKey, `${model}:${digest}`);
        extend(multi, indexKey, ms);
      }
      await multi.exec();
    }),
    // A request's batch holds at most a code and a session here (write-batch.ts): one by one is enough.
    async upsertMany(entries) {
      for (const e of entries) await store.upsert(e.model, e.id, e.payload, e.expiresIn);
    },
    find: (model, id) => guarded(async () => live(await redis.hgetall(key(model, digestOf(model, id))), id)),
    findByUid: (model, uid) => guarded(async () => {
      const digest = await redis.get(uidKey(model, uid));
      return digest ? live(await redis.hgetall(key(model, digest))) : undefined;
    }),
    consume: (model, id) => guarded(async () => {
      await redis.consumeIfPresent(key(model, digestOf(model, id)), String(Date.now()), '0');
    }),
    consumeOnce: (model, id) => guarded(async () => (await redis.consumeIfPresent(key(model, digestOf(model, id)), String(Date.now()), '1')) === 1),
    insertOnce: (model, id, payload, expiresIn) => guarded(async () =>
      (await redis.insertIfAbsent(key(model, digestOf(model, id)), JSON.stringify(storable(payload, p)), String(expiresIn * 1000))) === 1),
    destroy: (model, id) => guarded(async () => {
      const k = key(model, digestOf(model, id));
      await removeMembers([{ model, k, hash: await redis.hgetall(k) }]);
    }),
    destroyByUid: (model, uid) => guarded(async () => {
      const digest = await redis.get(uidKey(model, uid));
      if (!digest) return false;
      const k = key(model, digest);
      return (await removeMembers([{ model, k, hash: await redis.hgetall(k) }])) > 0;
    }),
    revokeByGrantId: (grantId) => guarded(async () => {
      // Sets written before the index was limited may name an Interaction: it stays.
      const members = await Promise.all((await redis.smembers(grantKey(grantId)))
        .filter((m) => ISSUED_UNDER_GRANT.includes(m.slice(0, m.indexOf(':')))).map(byMember));
      await removeMembers(members);
      await redis.del(grantKey(grantId));
    }),
    listByAccount: (model, accountId) => guarded(async () => {
      const members = (await redis.smembers(accountKey(accountId))).filter((m) => m.startsWith(`${model}:`));
      const found = await Promise.all(members.map(byMember));
      return found.map((m) => live(m.hash)).filter((x): x is Payload => x !== undefined);
    }),
    revokeByAccount: (accountId, models, keep) => guarded(async () => {
      const all = await Promise.all((await redis.smembers(accountKey(accountId))).map(byMember));
      const doomed = all.filter((m) => (!models?.length || models.includes(m.model))
        && !(keep && m.hash.p && keep(m.model, readable(JSON.parse(m.hash.p) as Payload, p))));
      const n = await removeMembers(doomed);
      if (doomed.length === all.length) await redis.del(accountKey(accountId));
      return n;
    }),
  };
  return store;
}

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** Sets `c` on an existing artefact; with ARGV[2] = '1' only if it was not set (1 if this call set it). */
    consumeIfPresent(key: string, now: string, onlyOnce: string): Result<number, Context>;
    /** Stores the payload with its expiry only if no artefact has this key (1 if stored). */
    insertIfAbsent(key: string, payload: string, ms: string): Result<number, Context>;
  }
}

/** The two atomic operations (one round trip, no other client in between). */
function defineRedisPayloadCommands(redis: Redis): void {
  if (typeof (redis as unknown as Record<string, unknown>).consumeIfPresent === 'function') return;
  redis.defineCommand('consumeIfPresent', {
    numberOfKeys: 1,
    lua: `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == '1' then return redis.call('HSETNX', KEYS[1], 'c', ARGV[1]) end
redis.call('HSET', KEYS[1], 'c', ARGV[1])
return 1`,
  });
  redis.defineCommand('insertIfAbsent', {
    numberOfKeys: 1,
    lua: `if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'p', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`,
  });
}
