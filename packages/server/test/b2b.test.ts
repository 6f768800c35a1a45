/**
 * B2B integration (issue 5): the legacy password grant and per-client IP
 * allowlists at the token endpoint, tested from two loopback source
 * addresses (127.0.0.1 and 127.0.0.2; Linux routes all of 127/8 to `lo`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { discover } from './helpers/flows.js';
import { API, REDIRECT, SERVICE_SECRET, USER, baseConfig } from './fixtures.js';
import { createAuditRepository } from '../src/audit/repository.js';
import { createUserRepository } from '../src/identity/repository.js';
import { ACCOUNT } from '../src/identity/lockout-counters.js';
import { parseDeclarative } from '../src/config/load.js';
import { ConfigError } from '../src/config/errors.js';
import { openStore } from '../src/storage/database.js';
import { createClientRepository } from '../src/oidc/repository.js';

const SECRET = 'partner-secret-0123456789-abcdefghijklmnop';
const PASSWORD = 'a long enough partner password';
const MAX_FAILURES = 3;
const LOCAL = ['127.0.0.1', '127.0.0.2', '127.0.0.3'] as const;
type Local = (typeof LOCAL)[number];
// undici 7 takes `localAddress` as a top-level option (nested under `connect` it is silently ignored).
const agents = new Map(LOCAL.map((a) => [a, new Agent({ localAddress: a })]));

const partner = (client_id: string, extra: Record<string, unknown> = {}) =>
  ({ client_id, client_secret: SECRET, token_endpoint_auth_method: 'client_secret_basic', grant_types: ['password'], scope: 'openid profile offline_access read write', ...extra });

const config = {
  ...baseConfig,
  tenants: [
    { id: 'default', name: 'Default', policy: { lockout: { max_failures: MAX_FAILURES, window_seconds: 600, duration_seconds: 600 } } },
    { id: 'acme', name: 'Acme Corp' },
    { id: 'secure', name: 'Secure Corp', policy: { mfa: { mode: 'required' } } },
  ],
  clients: [
    ...baseConfig.clients,
    partner('partner', { grant_types: ['password', 'refresh_token'] }),
    partner('partner-acme', { tenant: 'acme' }),
    partner('partner-secure', { tenant: 'secure' }),
    partner('partner-strict', { mfa: 'required' }),
    partner('fenced', { grant_types: ['client_credentials', 'password'], ip_allowlist: ['203.0.113.0/24', '2001:db8::/32', '127.0.0.1/32'] }),
    // An IPv4-mapped IPv6 rule: it must match the IPv4 peer 127.0.0.1 (and nothing else).
    partner('fenced-mapped', { grant_types: ['client_credentials'], ip_allowlist: ['::ffff:127.0.0.1/128'] }),
  ],
  users: [
    ...baseConfig.users,
    ...['bob', 'carl', 'dora', 'erin', 'finn'].map((username) => ({ username, password: PASSWORD, email: `${username}@example.test`, email_verified: true })),
    { username: 'alice', password: 'the acme alice password', tenant: 'acme' },
    { username: 'sam', password: PASSWORD, tenant: 'secure' },
  ],
};

let t: TestApp;
let jwks: ReturnType<typeof createLocalJWKSet>;
beforeAll(async () => {
  t = await startTestApp({ config });
  jwks = createLocalJWKSet((await (await fetch(`${t.issuer}/oidc/jwks`)).json()) as JSONWebKeySet);
});
afterAll(async () => {
  await t?.close();
  await Promise.all([...agents.values()].map((a) => a.close()));
});

const users = () => createUserRepository(t.app.store.db);
const user = async (username: string, tenant = 'default') => (await users().findByUsername(tenant, username))!;
const audit = (action: string) => createAuditRepository(t.app.store.db).query({ action });
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

interface Answer { status: number; body: Record<string, unknown>; headers: Headers }

/** A raw POST to a protocol endpoint from one of the loopback addresses. */
async function post(form: Record<string, string>, opts: { from?: Local; client?: [string, string]; app?: TestApp; path?: string } = {}): Promise<Answer> {
  const app = opts.app ?? t;
  const [id, secret] = opts.client ?? ['partner', SECRET];
  const res = await undiciFetch(`${app.issuer}${opts.path ?? '/oidc/token'}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(id, secret), 'user-agent': 'B2BTest/1.0' },
    body: new URLSearchParams(form).toString(),
    dispatcher: agents.get(opts.from ?? '127.0.0.1'),
  });
  const text = await res.text(); // revocation answers 200 with an empty body
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown>, headers: res.headers as unknown as Headers };
}

const passwordGrant = (username: string, password: string, extra: Record<string, string> = {}, opts: Parameters<typeof post>[1] = {}) =>
  post({ grant_type: 'password', username, password, ...extra }, opts);

/** openid-client as the partner's relying party, sending from `from`. */
async function rp(clientId: string, from: Local = '127.0.0.1', secret = SECRET): Promise<oidc.Configuration> {
  const config = await discover(t.issuer, { clientId, clientSecret: secret, auth: 'basic' });
  config[oidc.customFetch] = ((url: string, options: Record<string, unknown>) =>
    undiciFetch(url, { ...options, dispatcher: agents.get(from) } as never)) as unknown as oidc.CustomFetch;
  return config;
}

/** One attempt on the hosted sign-in page (client `spa`, tenant default). */
async function pageSignIn(username: string, password: string): Promise<{ status: number; alert: string | undefined }> {
  const agent = new UserAgent();
  const url = oidc.buildAuthorizationUrl(await discover(t.issuer, { clientId: 'spa' }), {
    redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256', state: 'st',
  });
  const { res } = await agent.follow(await agent.get(url), url.href);
  const posted = await agent.post(new URL(formAction(await res.text(), '/login'), t.issuer), { username, password });
  return { status: posted.status, alert: /<p class="alert" role="alert">([^<]*)<\/p>/.exec(await posted.text())?.[1] };
}

describe('legacy password grant', () => {
  test('is advertised in discovery', async () => {
    const meta = (await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json()) as { grant_types_supported: string[] };
    expect(meta.grant_types_supported).toContain('password');
  });

  test('yields a JWT for the API: aud, sub = user, tenant, scope ∩ the API scopes, acr/amr of a password sign-in', async () => {
    const tokens = await oidc.genericGrantRequest(await rp('partner'), 'password', {
      username: USER.username, password: USER.password, scope: 'read write delete', resource: API,
    });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.scope).toBe('read write');
    expect(tokens.refresh_token).toBeUndefined(); // no offline_access asked for
    expect(tokens.id_token).toBeUndefined(); // not an OpenID Connect sign-in
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, { issuer: t.issuer, audience: API });
    expect(protectedHeader.typ).toBe('at+jwt');
    const alice = await user('alice');
    expect(payload).toMatchObject({
      sub: alice.id, client_id: 'partner', tenant: 'default', scope: 'read write',
      acr: 'urn:tessera:acr:pwd', amr: ['pwd'], roles: ['editor'],
    });
    expect((payload.exp as number) - (payload.iat as number)).toBe(600); // the API's access_token_ttl

    const [succeeded] = (await audit('login.succeeded')).filter((e) => e.subjectId === alice.id);
    expect(succeeded).toMatchObject({ ip: '127.0.0.1', userAgent: expect.any(String), details: { method: 'pwd' } });
  });

  test('users are looked up in the client\'s tenant', async () => {
    const acme = await oidc.genericGrantRequest(await rp('partner-acme'), 'password', { username: 'alice', password: 'the acme alice password', resource: API });
    const { payload } = await jwtVerify(acme.access_token, jwks, { issuer: t.issuer, audience: API });
    expect(payload).toMatchObject({ sub: (await user('alice', 'acme')).id, tenant: 'acme' });
    // The default tenant's alice does not exist for this client.
    const wrongTenant = await passwordGrant(USER.username, USER.password, {}, { client: ['partner-acme', SECRET] });
    expect(wrongTenant.body.error).toBe('invalid_grant');
  });

  test('offline_access gives a refresh token (client with refresh_token); refreshing keeps sub, tenant, acr and amr', async () => {
    const config = await rp('partner');
    const first = await oidc.genericGrantRequest(config, 'password', { username: 'finn', password: PASSWORD, scope: 'read offline_access', resource: API });
    expect(first.refresh_token).toEqual(expect.any(String));
    const refreshed = await oidc.refreshTokenGrant(config, first.refresh_token!);
    const { payload } = await jwtVerify(refreshed.access_token, jwks, { issuer: t.issuer, audience: API });
    expect(payload).toMatchObject({ sub: (await user('finn')).id, tenant: 'default', scope: 'read', acr: 'urn:tessera:acr:pwd', amr: ['pwd'] });
    // A client without the refresh_token grant gets none, even with offline_access.
    const noRefresh = await passwordGrant(USER.username, 'the acme alice password', { scope: 'offline_access read', resource: API }, { client: ['partner-acme', SECRET] });
    expect(noRefresh.status).toBe(200);
    expect(noRefresh.body.refresh_token).toBeUndefined();
  });

  test('without resource the token is opaque and good for UserInfo', async () => {
    const tokens = await oidc.genericGrantRequest(await rp('partner'), 'password', { username: USER.username, password: USER.password, scope: 'openid profile' });
    expect(tokens.access_token.split('.')).toHaveLength(1);
    const res = await fetch(`${t.issuer}/oidc/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(await res.json()).toMatchObject({ sub: (await user('alice')).id, preferred_username: 'alice' });
  });

  test('clients that do not list the grant are refused', async () => {
    for (const client of [['web', 'confidential-secret-0123456789-abcdefghij'], ['service', SERVICE_SECRET]] as [string, string][]) {
      const res = await passwordGrant(USER.username, USER.password, {}, { client });
      expect(res.status).toBe(400);
      // The engine's answer for any grant type a client does not have (as for client_credentials).
      expect(res.body).toMatchObject({ error: 'invalid_request', error_description: 'requested grant type is not allowed for this client' });
    }
  });

  test('missing parameters are invalid_request (RFC 6749 §4.3.2)', async () => {
    expect((await post({ grant_type: 'password', password: PASSWORD })).body).toMatchObject({ error: 'invalid_request', error_description: "missing required parameter 'username'" });
    expect((await post({ grant_type: 'password', username: 'bob' })).body).toMatchObject({ error: 'invalid_request', error_description: "missing required parameter 'password'" });
    expect((await passwordGrant('bob', PASSWORD, { resource: 'https://unknown.example.test' })).body.error).toBe('invalid_target');
  });

  test('unknown user, wrong password, locked and disabled accounts get one identical answer; the reason is in the audit log only', async () => {
    await users().lock((await user('carl')).id, Date.now() + 600_000);
    await users().updateProfile((await user('dora')).id, { status: 'disabled' });
    const answers = [
      await passwordGrant('nobody-here', PASSWORD),
      await passwordGrant('bob', 'not the password at all'),
      await passwordGrant('carl', PASSWORD), // locked, right password
      await passwordGrant('dora', PASSWORD), // disabled, right password
    ];
    for (const a of answers) {
      expect(a.status).toBe(400);
      expect(a.body).toEqual({ error: 'invalid_grant', error_description: 'the username or password is incorrect' });
      expect(a.headers.get('cache-control')).toBe('no-store');
    }
    const reasons = (await audit('login.failed')).filter((e) => e.userAgent === 'B2BTest/1.0').map((e) => e.details.reason);
    expect(reasons).toEqual(expect.arrayContaining(['unknown_user', 'wrong_password', 'locked', 'disabled']));
  });

  test('failures lock the account exactly as the sign-in page does: one counter, then even the right password fails everywhere', async () => {
    expect((await passwordGrant('erin', 'wrong password 1')).body.error).toBe('invalid_grant');
    expect((await pageSignIn('erin', 'wrong password 2')).status).toBe(401);
    // The account's count, wherever the lockout counters live (the users row, or Redis with TEST_REDIS_URL).
    expect(await t.app.platform.signInSources.counters.failures((await user('erin')).id, ACCOUNT)).toBe(2);
    expect((await passwordGrant('erin', 'wrong password 3')).body.error).toBe('invalid_grant');
    const locked = await user('erin');
    expect(locked.status).toBe('locked');
    expect((await audit('user.locked')).find((e) => e.subjectId === locked.id)).toMatchObject({ details: { failures: MAX_FAILURES }, ip: '127.0.0.1' });

    const right = await passwordGrant('erin', PASSWORD);
    expect(right.body).toEqual({ error: 'invalid_grant', error_description: 'the username or password is incorrect' });
    expect(await pageSignIn('erin', PASSWORD)).toEqual({ status: 401, alert: 'The username or password is incorrect.' });
  });

  test('users who must use MFA are refused (tenant policy or client setting): the grant cannot ask for a second factor', async () => {
    const tenantRequired = await passwordGrant('sam', PASSWORD, {}, { client: ['partner-secure', SECRET] });
    expect(tenantRequired.body).toEqual({ error: 'invalid_grant', error_description: 'multi-factor authentication required' });
    const clientRequired = await passwordGrant(USER.username, USER.password, {}, { client: ['partner-strict', SECRET] });
    expect(clientRequired.body).toEqual({ error: 'invalid_grant', error_description: 'multi-factor authentication required' });
    // A wrong password still gets the generic answer (the MFA answer only follows the right one).
    const wrong = await passwordGrant('sam', 'not the password', {}, { client: ['partner-secure', SECRET] });
    expect(wrong.body.error_description).toBe('the username or password is incorrect');
  });

  test('the right password for an unconfirmed account says so (as the sign-in page does); a wrong one does not', async () => {
    await t.app.identity.createUser({ tenantId: 'default', username: 'pete', password: PASSWORD, status: 'pending' });
    expect((await passwordGrant('pete', PASSWORD)).body).toEqual({ error: 'invalid_grant', error_description: 'the account is not confirmed yet' });
    expect((await passwordGrant('pete', 'not it')).body).toEqual({ error: 'invalid_grant', error_description: 'the username or password is incorrect' });
  });

  test('a public client registered with the grant anyway (not through the file) is refused', async () => {
    await t.app.platform.clients.upsert({
      clientId: 'sneaky', tenantId: 'default', secretHash: null, firstParty: false,
      metadata: { grant_types: ['password'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'none' },
    });
    const res = await fetch(`${t.issuer}/oidc/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', client_id: 'sneaky', username: USER.username, password: USER.password }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'unauthorized_client' });
  });

  test('a public client cannot be given the grant', () => {
    const bad = () => parseDeclarative(JSON.stringify({ clients: [{ client_id: 'p', token_endpoint_auth_method: 'none', grant_types: ['password'] }] }));
    expect(bad).toThrow(/clients\[0\]\.grant_types: password \(the legacy password grant\) needs a confidential client/);
  });
});

describe('IP allowlists', () => {
  test('the server sees the second loopback address', async () => {
    await passwordGrant('nobody-from-two', PASSWORD, {}, { from: '127.0.0.2' });
    const [entry] = (await audit('login.failed')).filter((e) => e.details.login === 'nobody-from-two');
    expect(entry?.ip).toBe('127.0.0.2');
  });

  test('allowed from 127.0.0.1: client_credentials and the password grant', async () => {
    const cc = await oidc.clientCredentialsGrant(await rp('fenced'), { scope: 'read', resource: API });
    expect((await jwtVerify(cc.access_token, jwks, { issuer: t.issuer, audience: API })).payload.sub).toBe('fenced');
    const pw = await oidc.genericGrantRequest(await rp('fenced'), 'password', { username: USER.username, password: USER.password, resource: API });
    expect(pw.access_token).toEqual(expect.any(String));
  });

  test('refused from 127.0.0.2 for every grant, before the secret or the password is checked; each refusal is audited', async () => {
    const before = (await audit('login.failed')).length + (await audit('login.succeeded')).length;
    const answers = [
      await post({ grant_type: 'client_credentials', scope: 'read', resource: API }, { from: '127.0.0.2', client: ['fenced', SECRET] }),
      await passwordGrant(USER.username, USER.password, {}, { from: '127.0.0.2', client: ['fenced', SECRET] }),
      await post({ grant_type: 'client_credentials' }, { from: '127.0.0.2', client: ['fenced', 'a wrong secret, which makes no difference'] }),
    ];
    for (const a of answers) {
      expect(a.status).toBe(401);
      expect(a.body).toEqual({ error: 'invalid_client', error_description: 'client not allowed from this address' });
      expect(a.headers.get('www-authenticate')).toMatch(/^Basic .*error="invalid_client"/);
    }
    // The password was never looked at: no sign-in event.
    expect((await audit('login.failed')).length + (await audit('login.succeeded')).length).toBe(before);
    await expect(oidc.clientCredentialsGrant(await rp('fenced', '127.0.0.2'), { resource: API })).rejects.toThrow();

    const denied = (await audit('client.ip_denied')).filter((e) => e.details.client_id === 'fenced');
    expect(denied.length).toBeGreaterThanOrEqual(4);
    expect(denied.find((e) => e.details.grant_type === 'password')).toMatchObject({
      ip: '127.0.0.2', userAgent: 'B2BTest/1.0', tenantId: 'default', subjectId: null,
      details: { client_id: 'fenced', endpoint: 'token', grant_type: 'password' },
    });
  });

  test('introspection, revocation and pushed authorization requests apply the allowlist too', async () => {
    const par = await post({ response_type: 'code', redirect_uri: REDIRECT }, { from: '127.0.0.2', client: ['fenced', SECRET], path: '/oidc/request' });
    expect(par.status).toBe(401);
    expect(par.body.error_description).toBe('client not allowed from this address');
    for (const path of ['/oidc/token/introspection', '/oidc/token/revocation']) {
      const away = await post({ token: 'x' }, { from: '127.0.0.2', client: ['fenced', SECRET], path });
      expect(away.status).toBe(401);
      expect(away.body.error_description).toBe('client not allowed from this address');
      expect((await post({ token: 'x' }, { client: ['fenced', SECRET], path })).status).toBe(200);
    }
    const endpoints = (await audit('client.ip_denied')).map((e) => e.details.endpoint);
    expect(endpoints).toEqual(expect.arrayContaining(['introspection', 'revocation', 'pushed_authorization_request']));
  });

  test('an IPv4-mapped IPv6 rule matches the IPv4 peer', async () => {
    expect((await post({ grant_type: 'client_credentials' }, { client: ['fenced-mapped', SECRET] })).status).toBe(200);
    expect((await post({ grant_type: 'client_credentials' }, { from: '127.0.0.2', client: ['fenced-mapped', SECRET] })).status).toBe(401);
  });

  test('clients without an allowlist answer from anywhere', async () => {
    expect((await passwordGrant(USER.username, USER.password, {}, { from: '127.0.0.2' })).status).toBe(200);
  });

  test('CIDR syntax is checked, by path, in the file and by the engine', async () => {
    const file = (ip_allowlist: unknown) => JSON.stringify({ clients: [partner('ok'), partner('p', { ip_allowlist })] });
    expect(parseDeclarative(file(['2001:db8::/32', '203.0.113.0/24', '::1'])).clients[1]!.ip_allowlist).toHaveLength(3);
    const problems = (ip_allowlist: unknown) => {
      try {
        parseDeclarative(file(ip_allowlist));
      } catch (err) {
        return (err as ConfigError).problems;
      }
      return [];
    };
    expect(problems(['2001:db8::/32', '2001:db8::/129'])).toEqual(['clients[1].ip_allowlist[1]: must be a CIDR block such as 203.0.113.0/24 or 2001:db8::/32, or a single IP address']);
    expect(problems(['10.0.0.0/8', 'intranet'])[0]).toMatch(/^clients\[1\]\.ip_allowlist\[1\]: must be a CIDR block/);
    expect(problems([])[0]).toMatch(/^clients\[1\]\.ip_allowlist: must list at least one CIDR block/);
    // The engine's own validation (clients registered other than by the file).
    await expect(t.app.provider().Client.validate({ client_id: 'x', client_secret: SECRET, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], ip_allowlist: ['10.0.0.0/33'] } as never))
      .rejects.toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringContaining('ip_allowlist[0]') });
  });
});

describe('per-IP throttle', () => {
  let small: TestApp;
  beforeAll(async () => {
    small = await startTestApp({ config, env: { TESSERA_AUTH_FAILURES_PER_MINUTE: '3' } });
  });
  afterAll(async () => {
    await small?.close();
  });

  test('failed password grants count like failed sign-ins, per address', async () => {
    for (let i = 0; i < 3; i++) expect((await passwordGrant(`ghost-${i}`, PASSWORD, {}, { app: small, from: '127.0.0.2' })).status).toBe(400);
    const blocked = await passwordGrant('bob', PASSWORD, {}, { app: small, from: '127.0.0.2' });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBe('60');
    expect(blocked.body.error).toBe('invalid_request');
    // The other address is not affected.
    expect((await passwordGrant('bob', PASSWORD, {}, { app: small })).status).toBe(200);
  });

  test('requests refused by an allowlist count as failed client authentication', async () => {
    for (let i = 0; i < 3; i++) expect((await post({ grant_type: 'client_credentials' }, { app: small, from: '127.0.0.3', client: ['fenced', SECRET] })).status).toBe(401);
    expect((await post({ grant_type: 'client_credentials' }, { app: small, from: '127.0.0.3', client: ['fenced', SECRET] })).status).toBe(429);
  });
});

describe('behind a trusted proxy', () => {
  let proxied: TestApp;
  beforeAll(async () => {
    proxied = await startTestApp({ config, env: { TESSERA_TRUST_PROXY: 'true' } });
  });
  afterAll(async () => {
    await proxied?.close();
  });

  test('the allowlist applies to the forwarded client address (IPv6 and IPv4 blocks)', async () => {
    const viaProxy = async (forwardedFor: string) => (await undiciFetch(`${proxied.issuer}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('fenced', SECRET), 'x-forwarded-for': forwardedFor },
      body: 'grant_type=client_credentials',
    })).status;
    expect(await viaProxy('2001:db8:1::7')).toBe(200);
    expect(await viaProxy('203.0.113.200')).toBe(200);
    expect(await viaProxy('2001:db9::7')).toBe(401);
    expect(await viaProxy('198.51.100.7')).toBe(401);
    const denied = await createAuditRepository(proxied.app.store.db).query({ action: 'client.ip_denied' });
    expect(denied.map((e) => e.ip).sort()).toEqual(['198.51.100.7', '2001:db9::7']);
  });

  test('one trusted proxy: the address it appended counts, never an entry the client wrote to its left', async () => {
    // A client outside the allowlist sends "X-Forwarded-For: <allowed address>"; the proxy appends the real one.
    const res = await undiciFetch(`${proxied.issuer}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('fenced', SECRET), 'x-forwarded-for': '203.0.113.200, 198.51.100.9' },
      body: 'grant_type=client_credentials',
    });
    expect(res.status).toBe(401);
    const denied = await createAuditRepository(proxied.app.store.db).query({ action: 'client.ip_denied' });
    expect(denied.map((e) => e.ip)).toContain('198.51.100.9');
  });
});

describe('behind two trusted proxies (TESSERA_TRUST_PROXY=2)', () => {
  test('the second entry from the right is the client; further left is not believed', async () => {
    const two = await startTestApp({ config, env: { TESSERA_TRUST_PROXY: '2' } });
    try {
      const via = async (xff: string) => (await undiciFetch(`${two.issuer}/oidc/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('fenced', SECRET), 'x-forwarded-for': xff },
        body: 'grant_type=client_credentials',
      })).status;
      // client 203.0.113.200 → edge proxy (appends it) → inner proxy (appends the edge's address 10.0.0.5) → Tessera.
      expect(await via('203.0.113.200, 10.0.0.5')).toBe(200);
      expect(await via('203.0.113.200, 198.51.100.7, 10.0.0.5')).toBe(401);
    } finally {
      await two.close();
    }
  });
});

describe('onboarding from the CLI', () => {
  test('clients create --password-grant --ip-allow prints client_id, secret and token URL; the client is stored with both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-b2b-cli-'));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, TESSERA_DATA_DIR: dir, DATABASE_URL: `sqlite:${join(dir, 'tessera.db')}`, LOG_LEVEL: 'warn', TESSERA_ISSUER: 'https://id.example.test' };
      delete env.TESSERA_CONFIG;
      const run = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
        const child = spawn(process.execPath, [resolve(import.meta.dirname, '../bin/tessera.js'), 'clients', 'create', ...args], { env });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
      });
      const ok = await run(['--id', 'orders-partner', '--password-grant', '--ip-allow', '203.0.113.0/24', '--ip-allow', '2001:db8::/32', '--scope', 'openid orders:read']);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain('  client_id: orders-partner\n');
      expect(ok.stdout).toMatch(/ {2}client_secret: [A-Za-z0-9_-]{43}\n/);
      expect(ok.stdout).toContain('  token_endpoint: https://id.example.test/oidc/token\n');
      expect(ok.stdout).toContain('  grant_types: password\n');
      expect(ok.stdout).toContain('  ip_allowlist: 203.0.113.0/24 2001:db8::/32\n');
      expect(ok.stdout).toContain('  scope: openid orders:read\n');

      const store = openStore(env.DATABASE_URL!);
      try {
        const stored = await createClientRepository(store.db).find('orders-partner');
        expect(stored?.metadata).toMatchObject({ grant_types: ['password'], ip_allowlist: ['203.0.113.0/24', '2001:db8::/32'], scope: 'openid orders:read' });
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('nothing above made the engine fail (no server_error in the log)', () => {
  const errors = t.logs.filter((l) => /"level":50/.test(l));
  expect(errors).toEqual([]);
  expect(t.logs.some((l) => l.includes('client refused: address not in its ip_allowlist') && l.includes('"clientId":"fenced"'))).toBe(true);
});
