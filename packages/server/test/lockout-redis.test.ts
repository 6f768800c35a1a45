/**
 * The lockout with its counters in Redis (REDIS_URL, 127.0.0.1:6379;
 * identity/lockout-counters.ts, docs/scaling.md#what-lives-where): failures
 * and known sources' locks are counted there and not in the database, the
 * account lock is still the users row's (the admin API shows it), an
 * administrator's unlock and `tessera users unlock` end the Redis locks, and
 * with Redis away a password sign-in answers 503 instead of going uncounted.
 * Through real HTTP (the legacy password grant, which applies the sign-in
 * page's lockout rules); SQLite, or PostgreSQL with TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { Redis } from 'ioredis';
import { dropRedisPrefix, startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { MACHINE_SECRET, adminApi, adminConfig, machineToken, person } from './helpers/admin.js';
import { ACCOUNT } from '../src/identity/lockout-counters.js';
import { unlockCommand } from '../src/admin/recovery-cli.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const PASSWORD = 'a long enough test password';
const MAX_FAILURES = 3;
const LEGACY_SECRET = 'legacy-secret-0123456789-abcdefghijklmnopq';
const base = adminConfig({
  users: ['uma', 'vera', 'walt'].map((u) => person(u)),
  clients: [{ client_id: 'legacy', client_secret: LEGACY_SECRET, token_endpoint_auth_method: 'client_secret_basic', grant_types: ['password'], scope: 'openid' }],
});
const config = {
  ...base,
  tenants: [
    { id: 'default', name: 'Default', policy: { lockout: { max_failures: MAX_FAILURES, window_seconds: 600, duration_seconds: 600 } } },
    ...base.tenants.filter((x) => x.id !== 'default'),
  ],
};

/** One password-grant attempt: 200 signed in, 400 invalid_grant (wrong, or locked: the same answer). */
async function grant(app: TestApp, username: string, password: string): Promise<{ status: number; error?: string }> {
  const res = await fetch(`${app.issuer}/oidc/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`legacy:${LEGACY_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'password', username, password, scope: 'openid' }).toString(),
  });
  const body = await res.json() as { error?: string };
  return { status: res.status, error: body.error };
}

describe('lockout counters in Redis', () => {
  let t: TestApp;
  let redis: Redis;
  beforeAll(async () => {
    t = await startTestApp({ config, env: { REDIS_URL, TESSERA_REDIS_PREFIX: `test-lockout-${process.pid}-${Date.now()}:` } });
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    redis?.disconnect();
    await t?.close();
    if (t) await dropRedisPrefix(REDIS_URL, t.settings.redisPrefix);
  });
  const userOf = async (username: string) => (await t.app.platform.users.findByUsername('default', username))!;
  const hash = async (username: string) => redis.hgetall(`${t.settings.redisPrefix}lockout:${(await userOf(username)).id}`);

  test('REDIS_URL selects the Redis backend; failures from unknown sources count there, the lock is the users row\'s and the admin API shows it', async () => {
    expect(t.settings.lockoutState).toBe('redis');
    expect(t.app.platform.signInSources.counters.kind).toBe('redis');
    expect((await grant(t, 'uma', 'wrong password 1')).error).toBe('invalid_grant');
    expect((await grant(t, 'uma', 'wrong password 2')).error).toBe('invalid_grant');
    expect(await hash('uma')).toMatchObject({ [`n:${ACCOUNT}`]: '2' });
    // The database holds no count.
    expect(await userOf('uma')).toMatchObject({ failedLogins: 0, failedWindowStart: null, lockedUntil: null });
    expect((await grant(t, 'uma', 'wrong password 3')).error).toBe('invalid_grant');
    const locked = await userOf('uma');
    expect(locked).toMatchObject({ status: 'locked', failedLogins: 0 });
    expect(locked.lockedUntil).toBeGreaterThan(Date.now());
    expect(await hash('uma')).not.toHaveProperty(`n:${ACCOUNT}`); // a lock starts the count over
    expect((await grant(t, 'uma', PASSWORD)).error).toBe('invalid_grant');
    const api = adminApi(t.issuer);
    const token = await machineToken(t.issuer, 'ops-bot');
    expect((await api('GET', `/users/${locked.id}`, { token })).body).toMatchObject({ locked: true, status: 'locked' });
    expect((await api('POST', `/users/${locked.id}/unlock`, { token })).body).toMatchObject({ locked: false, status: 'active' });
    expect((await grant(t, 'uma', PASSWORD)).status).toBe(200);
  });

  test('a known address locks on its own in Redis (with a TTL), not in sign_in_sources; an administrator\'s unlock ends it', async () => {
    // A finished sign-in makes 127.0.0.1 a known address of vera (durable: sign_in_sources.known_at).
    expect((await grant(t, 'vera', PASSWORD)).status).toBe(200);
    for (let i = 0; i < MAX_FAILURES; i++) expect((await grant(t, 'vera', `wrong password ${i}`)).error).toBe('invalid_grant');
    expect((await grant(t, 'vera', PASSWORD)).error).toBe('invalid_grant');
    const vera = await userOf('vera');
    const rows = await t.app.store.db.selectFrom('sign_in_sources').selectAll().where('user_id', '=', vera.id).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ failures: 0, window_start: null, locked_until: null });
    expect(Number(rows[0]!.known_at)).toBeGreaterThan(0);
    const fields = await hash('vera');
    expect(Number(fields[`l:${rows[0]!.source}`])).toBeGreaterThan(Date.now());
    const ttl = await redis.pttl(`${t.settings.redisPrefix}lockout:${vera.id}`);
    expect(ttl).toBeGreaterThan(590_000);
    expect(ttl).toBeLessThanOrEqual(600_000);
    // The account itself is not locked (failures from a known source lock that source only).
    expect(vera).toMatchObject({ status: 'active', lockedUntil: null });
    const api = adminApi(t.issuer);
    const token = await machineToken(t.issuer, 'ops-bot');
    const unlocked = await api('POST', `/users/${vera.id}/unlock`, { token });
    expect(unlocked.status).toBe(200);
    expect(await hash('vera')).toEqual({});
    expect((await grant(t, 'vera', PASSWORD)).status).toBe(200);
  });

  test('`tessera users unlock` ends a known source\'s lock in Redis', async () => {
    expect((await grant(t, 'walt', PASSWORD)).status).toBe(200);
    for (let i = 0; i < MAX_FAILURES; i++) await grant(t, 'walt', `wrong password ${i}`);
    expect((await grant(t, 'walt', PASSWORD)).error).toBe('invalid_grant');
    const out = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await unlockCommand(t.app.platform, { username: 'walt', tenant: 'default' })).toBe(0);
      expect(out.mock.calls.flat().join('\n')).toMatch(/^unlocked walt \(/);
    } finally {
      out.mockRestore();
    }
    expect((await grant(t, 'walt', PASSWORD)).status).toBe(200);
  });
});

test('Redis away: a password sign-in answers 503 (the lockout fails closed), never an uncounted attempt', async () => {
  // The engine's state in the database, so only the lockout depends on Redis here.
  const t = await startTestApp({ config, env: { REDIS_URL: 'redis://127.0.0.1:1', TESSERA_ENGINE_STATE: 'database' } });
  try {
    expect(t.app.platform.signInSources.counters.kind).toBe('redis');
    const wrong = await grant(t, 'uma', 'wrong password');
    expect(wrong).toEqual({ status: 503, error: 'temporarily_unavailable' });
    expect(await t.app.platform.users.findByUsername('default', 'uma')).toMatchObject({ failedLogins: 0, lockedUntil: null });
    // Client credentials do not touch the lockout: they go on.
    expect((await fetch(`${t.issuer}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`ops-bot:${MACHINE_SECRET}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${t.issuer}/api/admin`, scope: 'identity.admin' }).toString(),
    })).status).toBe(200);
  } finally {
    await t.close();
  }
}, 60_000);
