/**
 * Dynamic client registration (issue 16, item 6; docs/b2b.md#dynamic-client-registration):
 * RFC 7591 registration through openid-client's dynamicClientRegistration,
 * with and without an initial access token, requests beyond the policy, the
 * per-tenant quota, RFC 7592 management, and the switch (off by default).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow } from './helpers/flows.js';
import { ACME_ADMIN, adminApi, adminConfig, machineToken } from './helpers/admin.js';
import { API, REDIRECT, baseConfig } from './fixtures.js';
import { createAuditRepository } from '../src/audit/repository.js';
import { createClientRepository } from '../src/oidc/repository.js';

let t: TestApp;
let open: TestApp;
let off: TestApp;
let admin: ReturnType<typeof adminApi>;
let bot: string;

beforeAll(async () => {
  t = await startTestApp({ config: adminConfig(), env: { TESSERA_CLIENT_REGISTRATION: 'token', TESSERA_CLIENT_REGISTRATION_MAX_CLIENTS: '2' } });
  open = await startTestApp({ config: baseConfig, env: { TESSERA_CLIENT_REGISTRATION: 'open' } });
  off = await startTestApp({ config: baseConfig });
  admin = adminApi(t.issuer);
  bot = await machineToken(t.issuer, 'ops-bot');
}, 120_000);
afterAll(async () => {
  await Promise.all([t?.close(), open?.close(), off?.close()]);
});

const insecure = { execute: [oidc.allowInsecureRequests] };
const web = (extra: Record<string, unknown> = {}) => ({
  redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic', client_name: 'An MCP client', ...extra,
});

/** A plain registration request: status and JSON answer. */
async function register(app: TestApp, body: unknown, token?: string) {
  const res = await fetch(`${app.issuer}/oidc/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() as Record<string, unknown>, challenge: res.headers.get('www-authenticate') };
}

async function initialToken(body: Record<string, unknown>): Promise<{ id: string; token: string }> {
  const res = await admin<{ id: string; token: string }>('POST', '/registration-tokens', { token: bot, body });
  expect(res.status).toBe(201);
  return res.body;
}

describe('with an initial access token (TESSERA_CLIENT_REGISTRATION=token)', () => {
  test('discovery advertises the registration endpoint', async () => {
    const md = await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(md.registration_endpoint).toBe(`${t.issuer}/oidc/reg`);
  });

  test('openid-client registers with a token of tenant acme; the client signs in an acme user and gets the API scope the token grants', async () => {
    const iat = await initialToken({ tenant: 'acme', description: 'MCP tools', scope: 'read', max_uses: 5 });
    // Stored as a digest only.
    const row = await t.app.store.db.selectFrom('registration_tokens').selectAll().where('id', '=', iat.id).executeTakeFirstOrThrow();
    expect(row.token_hash).not.toBe(iat.token);
    expect(JSON.stringify(row)).not.toContain(iat.token);
    const listed = await admin<{ items: Array<Record<string, unknown>> }>('GET', '/registration-tokens?tenant=acme', { token: bot });
    expect(listed.body.items.find((x) => x.id === iat.id)).toMatchObject({ tenant: 'acme', scope: 'read', uses: 0, status: 'active' });
    expect(JSON.stringify(listed.body)).not.toContain(iat.token);

    const config = await oidc.dynamicClientRegistration(new URL(t.issuer), web({ scope: 'openid profile' }), undefined, { ...insecure, initialAccessToken: iat.token });
    const md = config.clientMetadata();
    expect(md.client_id).toMatch(/^dyn-/);
    expect(md.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(md.registration_access_token).toEqual(expect.any(String));
    expect(md.scope).toBe('openid profile read');

    const stored = (await createClientRepository(t.app.store.db).find(md.client_id))!;
    expect(stored).toMatchObject({ tenantId: 'acme', firstParty: false, metadata: { scope: 'openid profile read', redirect_uris: [REDIRECT] } });
    expect(stored.secretHash).toMatch(/^hs256\$/);
    const [entry] = await createAuditRepository(t.app.store.db).query({ action: 'client.registered', subjectId: md.client_id });
    expect(entry).toMatchObject({ tenantId: 'acme', details: { registration_token: iat.id, scope: 'openid profile read' } });

    // The registered client works like any other: a code flow for an acme user, a token with the granted API scope.
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, ACME_ADMIN, { scope: 'openid read', resource: API });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: API, scope: 'read', client_id: md.client_id, tenant: 'acme' });
  });

  test('RFC 7592: read, update and delete with the registration access token', async () => {
    const iat = await initialToken({ tenant: 'acme' });
    const created = await register(t, web(), iat.token);
    expect(created.status).toBe(201);
    const uri = created.body.registration_client_uri as string;
    const rat = created.body.registration_access_token as string;
    const read = await fetch(uri, { headers: { authorization: `Bearer ${rat}` } });
    expect(read.status).toBe(200);
    const readBody = await read.json() as Record<string, unknown>;
    expect(readBody.client_id).toBe(created.body.client_id);
    expect(readBody).not.toHaveProperty('client_secret'); // only a digest is stored, and it is never echoed

    const updated = await fetch(uri, {
      method: 'PUT', headers: { authorization: `Bearer ${rat}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...web({ redirect_uris: ['https://tool.example/cb'] }), client_id: created.body.client_id }),
    });
    expect(updated.status).toBe(200);
    const updatedBody = await updated.json() as Record<string, unknown>;
    expect(updatedBody.redirect_uris).toEqual(['https://tool.example/cb']);
    const stored = (await createClientRepository(t.app.store.db).find(created.body.client_id as string))!;
    expect(stored).toMatchObject({ tenantId: 'acme', metadata: { redirect_uris: ['https://tool.example/cb'] } });
    // The secret still works after the update (the digest was kept).
    const secretStillWorks = await fetch(`${t.issuer}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${created.body.client_id as string}:${created.body.client_secret as string}`).toString('base64')}` },
      body: 'grant_type=refresh_token&refresh_token=nope',
    });
    expect((await secretStillWorks.json() as Record<string, unknown>).error).toBe('invalid_grant');

    // An update beyond the policy is refused like a registration.
    const widened = await fetch(uri, {
      method: 'PUT', headers: { authorization: `Bearer ${updatedBody.registration_access_token as string}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...web({ redirect_uris: ['http://evil.example/cb'] }), client_id: created.body.client_id }),
    });
    expect(widened.status).toBe(400);
    expect((await widened.json() as Record<string, unknown>).error).toBe('invalid_redirect_uri');

    const del = await fetch(uri, { method: 'DELETE', headers: { authorization: `Bearer ${updatedBody.registration_access_token as string}` } });
    expect(del.status).toBe(204);
    expect(await createClientRepository(t.app.store.db).find(created.body.client_id as string)).toBeUndefined();
  });

  test('without a token, with a wrong, revoked or used-up one: 401 invalid_token, nothing registered', async () => {
    const before = await t.app.store.db.selectFrom('registered_clients').select('client_id').execute();
    const none = await register(t, web());
    expect(none).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
    expect(none.challenge).toMatch(/^Bearer .*error="invalid_token"/);
    await expect(oidc.dynamicClientRegistration(new URL(t.issuer), web(), undefined, insecure)).rejects.toMatchObject({ status: 401 });
    expect((await register(t, web(), 'not-a-token')).status).toBe(401);

    const revoked = await initialToken({ tenant: 'acme' });
    expect((await admin('DELETE', `/registration-tokens/${revoked.id}`, { token: bot })).status).toBe(204);
    expect(await register(t, web(), revoked.token)).toMatchObject({ status: 401, body: { error: 'invalid_token' } });

    const once = await initialToken({ tenant: 'acme', max_uses: 1 });
    expect((await register(t, web(), once.token)).status).toBe(201);
    expect(await register(t, web(), once.token)).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
    const after = await t.app.store.db.selectFrom('registered_clients').select('client_id').execute();
    expect(after.length).toBe(before.length + 1);
  });

  test('asking for more than the policy allows: invalid_client_metadata / invalid_redirect_uri, nothing registered', async () => {
    const iat = await initialToken({ tenant: 'acme' });
    const cases: Array<[Record<string, unknown>, string]> = [
      [web({ grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }), 'invalid_client_metadata'],
      [web({ grant_types: ['password'] }), 'invalid_client_metadata'],
      [web({ redirect_uris: ['http://evil.example/cb'] }), 'invalid_redirect_uri'],
      [web({ redirect_uris: ['https://tool.example/cb?x=1'] }), 'invalid_redirect_uri'],
      [web({ scope: 'openid phone' }), 'invalid_client_metadata'],
      [web({ scope: 'openid write' }), 'invalid_client_metadata'],
      [web({ first_party: true }), 'invalid_client_metadata'],
      [web({ tenant: 'default' }), 'invalid_client_metadata'],
      [web({ ip_allowlist: ['0.0.0.0/0'] }), 'invalid_client_metadata'],
    ];
    for (const [body, error] of cases) {
      const res = await register(t, body, iat.token);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error, JSON.stringify(body)).toBe(error);
    }
    const token = (await admin<{ uses: number }>('GET', `/registration-tokens/${iat.id}`, { token: bot })).body;
    expect(token.uses).toBe(0);
    await expect(oidc.dynamicClientRegistration(new URL(t.issuer), web({ redirect_uris: ['http://evil.example/cb'] }), undefined, { ...insecure, initialAccessToken: iat.token }))
      .rejects.toMatchObject({ error: 'invalid_redirect_uri' });
  });

  test('the per-tenant quota (TESSERA_CLIENT_REGISTRATION_MAX_CLIENTS=2): the third gets 403 access_denied; a deleted client frees its place', async () => {
    const iat = await initialToken({ tenant: 'globex' });
    const first = await register(t, web(), iat.token);
    expect((await register(t, web(), iat.token)).status).toBe(201);
    expect(await register(t, web(), iat.token)).toMatchObject({ status: 403, body: { error: 'access_denied' } });
    expect((await admin('DELETE', `/clients/${first.body.client_id as string}`, { token: bot })).status).toBe(204);
    expect((await register(t, web(), iat.token)).status).toBe(201);
  });

  test('admin API: a token scope no API declares is 400; a token is read without its value', async () => {
    expect(await admin('POST', '/registration-tokens', { token: bot, body: { scope: 'orders:raed' } })).toMatchObject({ status: 400, body: { fields: { scope: 'invalid' } } });
    expect(await admin('POST', '/registration-tokens', { token: bot, body: { tenant: 'nowhere' } })).toMatchObject({ status: 400, body: { fields: { tenant: 'unknown_tenant' } } });
    expect((await admin('GET', '/registration-tokens/nope', { token: bot })).status).toBe(404);
  });
});

describe('open registration and the default', () => {
  test('TESSERA_CLIENT_REGISTRATION=open: openid-client registers without a token, into the default tenant, within the policy', async () => {
    const config = await oidc.dynamicClientRegistration(new URL(open.issuer), web({ token_endpoint_auth_method: 'none' }), oidc.None(), insecure);
    const md = config.clientMetadata();
    expect(md.client_secret).toBeUndefined();
    expect(md.scope).toBe('openid profile email offline_access');
    expect((await createClientRepository(open.app.store.db).find(md.client_id))?.tenantId).toBe('default');
    // A field the engine does not know (admin_scopes) is ignored, never stored; Tessera's own known ones are refused.
    expect((await register(open, web({ resource_server: true }))).body.error).toBe('invalid_client_metadata');
    const sneaky = await register(open, web({ admin_scopes: ['auth.admin'] }));
    expect(sneaky.status).toBe(201);
    const stored = (await createClientRepository(open.app.store.db).find(sneaky.body.client_id as string))!;
    expect(stored.metadata).not.toHaveProperty('admin_scopes');
    expect((await register(open, web({ redirect_uris: ['http://evil.example/cb'] }))).body.error).toBe('invalid_redirect_uri');
  });

  test('off by default: no registration_endpoint in discovery, and no endpoint', async () => {
    const md = await (await fetch(`${off.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(md).not.toHaveProperty('registration_endpoint');
    expect((await register(off, web())).status).toBe(404);
  });
});
