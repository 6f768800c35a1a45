import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { createOidcPayloadStore, createTieredPayloadStore } from '../src/oidc/payload-store.js';
import type { OidcPayloadStore } from '../src/oidc/payload-store.js';
import { REDIS_MODELS, createRedisPayloadStore } from '../src/oidc/redis-payload-store.js';
import { openRedis } from '../src/storage/redis.js';
import { DatabaseUnavailableError } from '../src/storage/availability.js';
import { createTestStore } from './helpers/app.js';
import type { TestStore } from './helpers/app.js';

/**
 * The engine's short-lived state in Redis (TESSERA_ENGINE_STATE=redis): the
 * tiered store against the machine's Redis (127.0.0.1:6379, a prefix of this
 * run's own) and the test database, on SQLite and PostgreSQL.
 */
const KEY = 'redis-payload-test-key';
const log = { warn: () => {} };
let redis: Redis;
let store: TestStore;
let payloads: OidcPayloadStore;
let prefix: string;

beforeAll(async () => {
  redis = openRedis('redis://127.0.0.1:6379', log);
  store = await createTestStore();
  await store.store.migrate();
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await store?.dispose();
});
beforeEach(() => {
  prefix = `tessera-test-${randomBytes(4).toString('hex')}:`;
  payloads = createTieredPayloadStore(createOidcPayloadStore(store.store.db, KEY), createRedisPayloadStore(redis, prefix, KEY), REDIS_MODELS);
});

const redisDump = async () => {
  const out: string[] = [];
  for (const k of await redis.keys(`${prefix}*`)) {
    const type = await redis.type(k);
    const value = type === 'hash' ? JSON.stringify(await redis.hgetall(k)) : type === 'set' ? JSON.stringify(await redis.smembers(k)) : await redis.get(k);
    out.push(`${k} ${value}`);
  }
  return out.join('\n');
};
const sqlRows = async (model: string) => store.store.db.selectFrom('oidc_payloads').select('id').where('model', '=', model).execute();

describe('the engine\'s short-lived state in Redis', () => {
  test('sessions, interactions and codes go to Redis, under digests: no usable id in Redis, nothing in the table', async () => {
    const sessionId = 'session-cookie-value-0123456789';
    await payloads.upsert('Session', sessionId, { uid: 'uid-1', accountId: 'user-1', jti: sessionId }, 3600);
    await payloads.upsert('Interaction', 'interaction-xyz', { uid: 'i-uid', session: { cookie: sessionId } }, 600);
    await payloads.upsert('AuthorizationCode', 'code-abcdef', { grantId: 'g1', accountId: 'user-1', jti: 'code-abcdef' }, 60);
    expect(await payloads.find('Session', sessionId)).toEqual({ uid: 'uid-1', accountId: 'user-1', jti: sessionId });
    expect(await payloads.findByUid('Session', 'uid-1')).toMatchObject({ accountId: 'user-1' });
    expect(await payloads.find('Interaction', 'interaction-xyz')).toEqual({ uid: 'i-uid', session: { cookie: sessionId } });
    expect(await sqlRows('Session')).toEqual([]);
    expect(await sqlRows('AuthorizationCode')).toEqual([]);
    const dump = await redisDump();
    expect(dump).toContain('oidc:Session:h1.');
    for (const secret of [sessionId, 'interaction-xyz', 'code-abcdef']) expect(dump).not.toContain(secret);
  });

  test('upsertMany sends each artefact to its tier', async () => {
    await payloads.upsertMany([
      { model: 'RefreshToken', id: 'rt-m', payload: { grantId: 'g-m', accountId: 'user-1' }, expiresIn: 3600 },
      { model: 'Session', id: 'session-m', payload: { uid: 'uid-m', accountId: 'user-1' }, expiresIn: 3600 },
    ]);
    expect(await sqlRows('RefreshToken')).toHaveLength(1);
    expect(await sqlRows('Session')).toEqual([]);
    expect(await payloads.find('RefreshToken', 'rt-m')).toEqual({ grantId: 'g-m', accountId: 'user-1' });
    expect(await payloads.findByUid('Session', 'uid-m')).toEqual({ uid: 'uid-m', accountId: 'user-1' });
    await payloads.revokeByGrantId('g-m');
    expect(await sqlRows('RefreshToken')).toEqual([]);
  });

  test('grants and refresh tokens stay in the database', async () => {
    await payloads.upsert('Grant', 'g1', { accountId: 'user-1' }, 3600);
    await payloads.upsert('RefreshToken', 'rt-1', { grantId: 'g1', accountId: 'user-1' }, 3600);
    expect(await sqlRows('Grant')).toHaveLength(1);
    expect(await sqlRows('RefreshToken')).toHaveLength(1);
    expect(await payloads.find('RefreshToken', 'rt-1')).toEqual({ grantId: 'g1', accountId: 'user-1' });
    expect(await redisDump()).toBe('');
  });

  test('a code is consumed once: of two concurrent claims exactly one wins; consumed shows on read', async () => {
    await payloads.upsert('AuthorizationCode', 'c1', { grantId: 'g1' }, 60);
    const claims = await Promise.all([payloads.consumeOnce('AuthorizationCode', 'c1'), payloads.consumeOnce('AuthorizationCode', 'c1')]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect((await payloads.find('AuthorizationCode', 'c1'))!.consumed).toEqual(expect.any(Number));
    // Consuming what does not exist creates nothing.
    await payloads.consume('AuthorizationCode', 'missing');
    expect(await payloads.consumeOnce('AuthorizationCode', 'missing')).toBe(false);
    expect(await payloads.find('AuthorizationCode', 'missing')).toBeUndefined();
  });

  test('replay cache: of two concurrent inserts of one jti exactly one wins; it expires', async () => {
    const inserts = await Promise.all([1, 2, 3].map(() => payloads.insertOnce('ReplayDetection', 'jti-1', { iss: 'c' }, 1)));
    expect(inserts.filter(Boolean)).toHaveLength(1);
    expect(await redis.pttl((await redis.keys(`${prefix}oidc:ReplayDetection:*`))[0]!)).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await payloads.insertOnce('ReplayDetection', 'jti-1', { iss: 'c' }, 1)).toBe(true);
    // SAML assertion ids use the same cache, in Redis too.
    expect(await payloads.insertOnce('SamlAssertion', 'corp _a1', { provider: 'corp' }, 60)).toBe(true);
    expect(await payloads.insertOnce('SamlAssertion', 'corp _a1', { provider: 'corp' }, 60)).toBe(false);
    expect(await redis.keys(`${prefix}oidc:SamlAssertion:*`)).toHaveLength(1);
    expect(await sqlRows('SamlAssertion')).toEqual([]);
  });

  test('expiry: an artefact and its uid lookup are gone when it expires', async () => {
    await payloads.upsert('Interaction', 'short', { uid: 'short-uid' }, 1);
    expect(await payloads.findByUid('Interaction', 'short-uid')).toBeDefined();
    await new Promise((r) => setTimeout(r, 1100));
    expect(await payloads.find('Interaction', 'short')).toBeUndefined();
    expect(await payloads.findByUid('Interaction', 'short-uid')).toBeUndefined();
  });

  test('re-issued session keeps its uid; destroy and destroyByUid remove it and its lookup', async () => {
    await payloads.upsert('Session', 'old-id', { uid: 'u', accountId: 'a' }, 3600);
    await payloads.destroy('Session', 'old-id');
    await payloads.upsert('Session', 'new-id', { uid: 'u', accountId: 'a' }, 3600);
    expect(await payloads.findByUid('Session', 'u')).toEqual({ uid: 'u', accountId: 'a' });
    expect(await payloads.destroyByUid('Session', 'u')).toBe(true);
    expect(await payloads.find('Session', 'new-id')).toBeUndefined();
    expect(await payloads.destroyByUid('Session', 'u')).toBe(false);
  });

  test('revokeByGrantId removes the grant\'s codes in Redis and tokens in the database', async () => {
    await payloads.upsert('AuthorizationCode', 'c1', { grantId: 'g1', accountId: 'a' }, 60);
    await payloads.upsert('AuthorizationCode', 'c2', { grantId: 'g2', accountId: 'a' }, 60);
    await payloads.upsert('RefreshToken', 'r1', { grantId: 'g1', accountId: 'a' }, 3600);
    await payloads.revokeByGrantId('g1');
    expect(await payloads.find('AuthorizationCode', 'c1')).toBeUndefined();
    expect(await payloads.find('RefreshToken', 'r1')).toBeUndefined();
    expect(await payloads.find('AuthorizationCode', 'c2')).toBeDefined();
  });

  test('revokeByGrantId leaves an interaction and a session that name the grant (the engine ends a grant before resuming another user\'s sign-in)', async () => {
    await payloads.upsert('Interaction', 'i1', { uid: 'i1', grantId: 'g1' }, 600);
    await payloads.upsert('Session', 's1', { uid: 'su1', accountId: 'a', grantId: 'g1' }, 600);
    await payloads.upsert('AuthorizationCode', 'c1', { grantId: 'g1', accountId: 'a' }, 60);
    await payloads.revokeByGrantId('g1');
    expect(await payloads.find('AuthorizationCode', 'c1')).toBeUndefined();
    expect(await payloads.find('Interaction', 'i1')).toBeDefined();
    expect(await payloads.find('Session', 's1')).toBeDefined();
  });

  test('by account: list sessions, sign out everywhere else, sign out everywhere', async () => {
    await payloads.upsert('Session', 's1', { uid: 'keep', accountId: 'a' }, 3600);
    await payloads.upsert('Session', 's2', { uid: 'other', accountId: 'a' }, 3600);
    await payloads.upsert('Session', 's3', { uid: 'b-session', accountId: 'b' }, 3600);
    await payloads.upsert('Grant', 'g-keep', { accountId: 'a' }, 3600);
    await payloads.upsert('AuthorizationCode', 'c-keep', { grantId: 'g-keep', accountId: 'a' }, 60);
    await payloads.upsert('AuthorizationCode', 'c-other', { grantId: 'g-other', accountId: 'a' }, 60);
    expect((await payloads.listByAccount('Session', 'a')).map((s) => s.uid).sort()).toEqual(['keep', 'other']);

    await payloads.revokeByAccountExcept('a', { sessionUid: 'keep', grantIds: ['g-keep'] });
    expect((await payloads.listByAccount('Session', 'a')).map((s) => s.uid)).toEqual(['keep']);
    expect(await payloads.find('AuthorizationCode', 'c-keep')).toBeDefined();
    expect(await payloads.find('AuthorizationCode', 'c-other')).toBeUndefined();
    expect(await payloads.find('Grant', 'g-keep')).toBeDefined();

    expect(await payloads.revokeByAccount('a')).toBeGreaterThanOrEqual(3);
    expect(await payloads.listByAccount('Session', 'a')).toEqual([]);
    expect(await payloads.find('Grant', 'g-keep')).toBeUndefined();
    expect((await payloads.listByAccount('Session', 'b'))).toHaveLength(1);
  });

  test('Redis unreachable: the store throws DatabaseUnavailableError (the engine answers 503), never a driver error', async () => {
    const gone = openRedis('redis://127.0.0.1:1', log);
    const broken = createTieredPayloadStore(createOidcPayloadStore(store.store.db, KEY), createRedisPayloadStore(gone, prefix, KEY), REDIS_MODELS);
    await expect(broken.find('Session', 'x')).rejects.toBeInstanceOf(DatabaseUnavailableError);
    await expect(broken.upsert('Interaction', 'x', {}, 60)).rejects.toBeInstanceOf(DatabaseUnavailableError);
    // Database models do not need Redis.
    await broken.upsert('Grant', 'g-x', { accountId: 'z' }, 60);
    expect(await broken.find('Grant', 'g-x')).toEqual({ accountId: 'z' });
    gone.disconnect();
  });
});
