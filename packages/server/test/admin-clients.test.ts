/**
 * Authorization-server admin API: clients (metadata validated as the
 * configuration file's, consent policy, token lifetimes, secrets with an
 * overlap window on rotation), APIs and scopes, signing keys; step-up for
 * high-privilege changes; tenant boundaries.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { discover, signInThrough } from './helpers/flows.js';
import {
  ACME_ADMIN, OPAL, PLATFORM_ADMIN, adminApi, adminConfig, machineToken, personToken, steppedUpToken, withAuthenticator,
} from './helpers/admin.js';
import { API, CONF_SECRET, REDIRECT, USER } from './fixtures.js';
import { createAuditRepository } from '../src/audit/repository.js';

type Client = Record<string, unknown> & { client_id: string; client_secret?: string; has_secret: boolean; tenant: string };

let t: TestApp;
let api: ReturnType<typeof adminApi>;
const tokens: Record<'opal' | 'adminMfa' | 'ada' | 'bot' | 'acmeBot', string> = {} as never;

beforeAll(async () => {
  t = await startTestApp({ config: adminConfig() });
  api = adminApi(t.issuer);
  Object.assign(tokens, {
    opal: await personToken(t.issuer, OPAL),
    ada: await personToken(t.issuer, ACME_ADMIN, { client: 'acme-console' }),
    bot: await machineToken(t.issuer, 'ops-bot'),
    acmeBot: await machineToken(t.issuer, 'acme-bot'),
  });
  tokens.adminMfa = await steppedUpToken(t.issuer, PLATFORM_ADMIN, await withAuthenticator(t.issuer, PLATFORM_ADMIN));
}, 120_000);
afterAll(async () => {
  await t?.close();
});

/** A client_credentials request with a secret: the status and body of the token endpoint's answer. */
async function clientCredentials(clientId: string, secret: string, extra: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${t.issuer}/oidc/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...extra }).toString(),
  });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

const etagOf = async (path: string, token = tokens.opal) => (await api('GET', path, { token })).headers.get('etag')!;
const audit = () => createAuditRepository(t.app.store.db);

describe('clients', () => {
  test('create a confidential client: the secret is in the 201 answer only, and works', async () => {
    const created = await api<Client>('POST', '/clients', {
      token: tokens.opal, body: { client_id: 'reports', client_name: 'Reports', grant_types: ['client_credentials'], access_token_ttl: 120 },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ client_id: 'reports', tenant: 'default', has_secret: true, first_party: false, access_token_ttl: 120 });
    expect(created.body.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const read = await api<Client>('GET', '/clients/reports', { token: tokens.opal });
    expect(read.body).not.toHaveProperty('client_secret');
    expect(read.headers.get('etag')).toBe(created.headers.get('etag'));
    const token = await clientCredentials('reports', created.body.client_secret!);
    expect(token.status).toBe(200);
    expect(token.body.expires_in).toBe(120); // the client's token lifetime
    const [entry] = await audit().query({ subjectId: 'reports', action: 'client.created' });
    expect(entry).toMatchObject({ tenantId: 'default', details: { target: 'client', actor_type: 'user' } });
  });

  test('create a public client: no secret', async () => {
    const created = await api<Client>('POST', '/clients', {
      token: tokens.opal, body: { client_id: 'mobile', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'] },
    });
    expect(created.status).toBe(201);
    expect(created.body.has_secret).toBe(false);
    expect(created.body).not.toHaveProperty('client_secret');
  });

  test('invalid metadata: field-level 400s, from the schema and from the engine', async () => {
    const bad = await api('POST', '/clients', { token: tokens.opal, body: { client_id: 'x y', grant_types: ['implicit'], colour: 'red', redirect_uris: ['/relative'] } });
    expect(bad.status).toBe(400);
    expect(bad.body.fields).toEqual({ client_id: 'invalid', 'grant_types.0': 'invalid', colour: 'unknown_field', 'redirect_uris.0': 'invalid' });
    const noRedirect = await api('POST', '/clients', { token: tokens.opal, body: { client_id: 'web2' } });
    expect(noRedirect.body.fields).toEqual({ redirect_uris: 'invalid' });
    const publicMachine = await api('POST', '/clients', { token: tokens.opal, body: { client_id: 'pm', token_endpoint_auth_method: 'none', grant_types: ['client_credentials'] } });
    expect(publicMachine.body.fields).toEqual({ grant_types: 'invalid' });
    const engine = await api('POST', '/clients', { token: tokens.opal, body: { client_id: 'sc', grant_types: ['client_credentials'], scope: 'openid payroll' } });
    expect(engine.status).toBe(400);
    expect(engine.body.fields).toEqual({ scope: 'invalid' });
    expect(engine.body.error_description).toBe('scope names payroll, which no API declares');
    expect((await api('POST', '/clients', { token: tokens.opal, body: { client_id: 'reports', grant_types: ['client_credentials'] } })).status).toBe(409);
  });

  test('a first-party client, or one granted admin scopes, needs step-up to create', async () => {
    const body = { client_id: 'portal', redirect_uris: [REDIRECT], first_party: true };
    expect((await api('POST', '/clients', { token: tokens.opal, body })).status).toBe(401);
    expect((await api('POST', '/clients', { token: tokens.adminMfa, body })).status).toBe(201);
    const bot = { client_id: 'new-bot', grant_types: ['client_credentials'], admin_scopes: ['identity.admin'] };
    expect((await api('POST', '/clients', { token: tokens.opal, body: bot })).status).toBe(401);
    const created = await api<Client>('POST', '/clients', { token: tokens.adminMfa, body: bot });
    expect(created.status).toBe(201);
    // The new machine client can use the admin API within its grant, and obtains nothing beyond it.
    const token = (await clientCredentials('new-bot', created.body.client_secret!, { resource: `${t.issuer}/api/admin`, scope: 'identity.admin' })).body.access_token as string;
    expect((await api('GET', '/users', { token })).status).toBe(200);
    expect((await api('GET', '/clients', { token })).status).toBe(403);
    const beyond = await clientCredentials('new-bot', created.body.client_secret!, { resource: `${t.issuer}/api/admin`, scope: 'identity.admin auth.admin' });
    expect(beyond.body).toMatchObject({ error: 'invalid_scope', scope: 'auth.admin' });
  });

  test('PATCH: names and lifetimes freely; redirect URIs, grants and consent policy need step-up; ETags guard concurrent edits', async () => {
    expect((await api('PATCH', '/clients/web', { token: tokens.opal, body: { client_name: 'X' } })).status).toBe(428);
    const etag = await etagOf('/clients/web');
    const renamed = await api<Client>('PATCH', '/clients/web', { token: tokens.opal, body: { client_name: 'Web v2', id_token_ttl: 900 }, headers: { 'if-match': etag } });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ client_name: 'Web v2', id_token_ttl: 900, redirect_uris: [REDIRECT] });
    expect((await api('PATCH', '/clients/web', { token: tokens.opal, body: { client_name: 'Stale' }, headers: { 'if-match': etag } })).status).toBe(412);
    const next = renamed.headers.get('etag')!;
    const redirect = { redirect_uris: [REDIRECT, 'https://app.example.test/cb'] };
    expect((await api('PATCH', '/clients/web', { token: tokens.opal, body: redirect, headers: { 'if-match': next } })).status).toBe(401);
    const changed = await api<Client>('PATCH', '/clients/web', { token: tokens.adminMfa, body: redirect, headers: { 'if-match': next } });
    expect(changed.body.redirect_uris).toEqual(redirect.redirect_uris);
    const [entry] = await audit().query({ subjectId: 'web', action: 'client.updated' });
    expect(entry!.details).toMatchObject({ fields: ['redirect_uris'] });
    // null clears an optional field.
    const cleared = await api<Client>('PATCH', '/clients/web', { token: tokens.opal, body: { id_token_ttl: null }, headers: { 'if-match': changed.headers.get('etag')! } });
    expect(cleared.body).not.toHaveProperty('id_token_ttl');
  });

  test('token exchange: the grant and its policy go together; widening the policy needs step-up', async () => {
    const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
    const policy = { subject_clients: ['web'], audiences: [API], scopes: ['read'] };
    const without = await api('POST', '/clients', { token: tokens.opal, body: { client_id: 'exchanger', grant_types: [GRANT] } });
    expect(without.status).toBe(400);
    const created = await api<Client>('POST', '/clients', { token: tokens.opal, body: { client_id: 'exchanger', grant_types: [GRANT], token_exchange: policy } });
    expect(created.status).toBe(201);
    expect(created.body.token_exchange).toEqual(policy);
    const wider = { token_exchange: { ...policy, subject_clients: ['web', 'acme-web'] } };
    const etag = created.headers.get('etag')!;
    expect((await api('PATCH', '/clients/exchanger', { token: tokens.opal, body: wider, headers: { 'if-match': etag } })).status).toBe(401);
    const changed = await api<Client>('PATCH', '/clients/exchanger', { token: tokens.adminMfa, body: wider, headers: { 'if-match': etag } });
    expect(changed.status).toBe(200);
    expect(changed.body.token_exchange).toEqual(wider.token_exchange);
  });

  test('consent policy: first_party makes the consent page go away (step-up to set)', async () => {
    const flow = async () => {
      const config = await discover(t.issuer, { clientId: 'web', clientSecret: 'confidential-secret-0123456789-abcdefghij', auth: 'basic' });
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT, scope: 'openid', state: 's', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
      });
      return signInThrough(new UserAgent(), url, t.issuer, USER, { consent: false });
    };
    expect((await flow()).searchParams.get('error')).toBe('access_denied'); // consent page shown, and declined
    const etag = await etagOf('/clients/web');
    expect((await api('PATCH', '/clients/web', { token: tokens.opal, body: { first_party: true }, headers: { 'if-match': etag } })).status).toBe(401);
    expect((await api('PATCH', '/clients/web', { token: tokens.adminMfa, body: { first_party: true }, headers: { 'if-match': etag } })).status).toBe(200);
    expect((await flow()).searchParams.get('code')).toBeTruthy(); // no consent page any more
  }, 60_000);

  test('a client cannot switch between public and confidential; the built-in account client is off limits', async () => {
    const etag = await etagOf('/clients/web');
    const sw = await api('PATCH', '/clients/web', { token: tokens.adminMfa, body: { token_endpoint_auth_method: 'none' }, headers: { 'if-match': etag } });
    expect(sw.body.fields).toEqual({ token_endpoint_auth_method: 'cannot_change_client_type' });
    const account = await etagOf('/clients/tessera-account');
    expect((await api('PATCH', '/clients/tessera-account', { token: tokens.adminMfa, body: { client_name: 'Mine' }, headers: { 'if-match': account } })).status).toBe(409);
    expect((await api('DELETE', '/clients/tessera-account', { token: tokens.adminMfa })).status).toBe(409);
  });

  test('secret rotation: step-up; the new secret once; the old one works during the overlap, then stops', async () => {
    const created = await api<Client>('POST', '/clients', { token: tokens.opal, body: { client_id: 'rotor', grant_types: ['client_credentials'] } });
    const first = created.body.client_secret!;
    expect((await api('POST', '/clients/rotor/secret', { token: tokens.opal })).status).toBe(401);
    const rotated = await api<{ client_id: string; client_secret: string; previous_secret_expires_at: string }>('POST', '/clients/rotor/secret', { token: tokens.adminMfa });
    expect(rotated.status).toBe(200);
    const second = rotated.body.client_secret;
    expect(second).not.toBe(first);
    expect(Date.parse(rotated.body.previous_secret_expires_at) - Date.now()).toBeGreaterThan(86_000_000);
    expect((await clientCredentials('rotor', first)).status).toBe(200);
    expect((await clientCredentials('rotor', second)).status).toBe(200);
    expect((await api<Client>('GET', '/clients/rotor', { token: tokens.opal })).body.previous_secret_expires_at).toBe(rotated.body.previous_secret_expires_at);

    // A short overlap: the previous (second) secret works, then stops; the first is gone already.
    const third = (await api<{ client_secret: string }>('POST', '/clients/rotor/secret', { token: tokens.adminMfa, body: { overlap_seconds: 1 } })).body.client_secret;
    expect((await clientCredentials('rotor', first)).status).toBe(401);
    expect((await clientCredentials('rotor', second)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await clientCredentials('rotor', second)).status).toBe(401);
    expect((await clientCredentials('rotor', third)).status).toBe(200);
    // overlap 0: the old one stops at once.
    const fourth = (await api<{ client_secret: string }>('POST', '/clients/rotor/secret', { token: tokens.adminMfa, body: { overlap_seconds: 0 } })).body.client_secret;
    expect((await clientCredentials('rotor', third)).status).toBe(401);
    expect((await clientCredentials('rotor', fourth)).status).toBe(200);

    expect((await api('POST', '/clients/mobile/secret', { token: tokens.adminMfa })).status).toBe(409); // public client
    expect((await api('POST', '/clients/rotor/secret', { token: tokens.adminMfa, body: { overlap_seconds: -1 } })).body.fields).toEqual({ overlap_seconds: 'too_small' });
    const entries = await audit().query({ subjectId: 'rotor', action: 'client.secret_rotated' });
    expect(entries).toHaveLength(3);
    expect(JSON.stringify(entries)).not.toContain(fourth);
  });

  test('delete: its credentials stop working', async () => {
    const created = await api<Client>('POST', '/clients', { token: tokens.opal, body: { client_id: 'doomed', grant_types: ['client_credentials'] } });
    expect((await api('DELETE', '/clients/doomed', { token: tokens.opal, headers: { 'if-match': '"old"' } })).status).toBe(412);
    expect((await api('DELETE', '/clients/doomed', { token: tokens.opal })).status).toBe(204);
    expect((await api('GET', '/clients/doomed', { token: tokens.opal })).status).toBe(404);
    expect((await clientCredentials('doomed', created.body.client_secret!)).status).toBe(401);
  });

  test('tenant boundaries: a tenant administrator sees and registers clients in their tenant only', async () => {
    const list = await api<{ items: Client[] }>('GET', '/clients', { token: tokens.ada });
    expect(list.body.items.map((c) => c.client_id).sort()).toEqual(['acme-bot', 'acme-console', 'acme-console-mfa', 'service']);
    expect((await api('GET', '/clients/web', { token: tokens.ada })).status).toBe(404);
    expect((await api('PATCH', '/clients/web', { token: tokens.acmeBot, body: { client_name: 'X' }, headers: { 'if-match': '*' } })).status).toBe(404);
    expect((await api('DELETE', '/clients/web', { token: tokens.acmeBot })).status).toBe(404);
    expect((await api('POST', '/clients/web/secret', { token: tokens.acmeBot })).status).toBe(404);
    const own = await api<Client>('POST', '/clients', { token: tokens.ada, body: { client_id: 'acme-app', grant_types: ['client_credentials'] } });
    expect(own.body.tenant).toBe('acme');
    const elsewhere = await api('POST', '/clients', { token: tokens.ada, body: { client_id: 'acme-x', grant_types: ['client_credentials'], tenant: 'default' } });
    expect(elsewhere.body.fields).toEqual({ tenant: 'unknown_tenant' });
    const moved = await api('PATCH', '/clients/acme-app', { token: tokens.acmeBot, body: { tenant: 'default' }, headers: { 'if-match': '*' } });
    expect(moved.body.fields).toEqual({ tenant: 'unknown_tenant' });
  });
});

describe('APIs and scopes', () => {
  const encoded = encodeURIComponent('https://billing.example.test');
  test('declare, read, change scopes and lifetime (If-Match), delete; platform administrators only', async () => {
    const body = { identifier: 'https://billing.example.test', name: 'Billing', scopes: ['invoices:read'], access_token_ttl: 300 };
    expect((await api('POST', '/apis', { token: tokens.ada, body })).status).toBe(403);
    const created = await api('POST', '/apis', { token: tokens.opal, body });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ identifier: body.identifier, signing_alg: 'ES256', scopes: ['invoices:read'], access_token_ttl: 300 });
    expect((await api('POST', '/apis', { token: tokens.opal, body })).status).toBe(409);
    expect((await api('POST', '/apis', { token: tokens.opal, body: { identifier: 'not a url', name: 'x' } })).body.fields).toEqual({ identifier: 'invalid' });
    expect((await api('GET', `/apis/${encoded}`, { token: tokens.ada })).status).toBe(200);
    expect((await api('GET', `/apis/${encodeURIComponent('https://nowhere.test')}`, { token: tokens.opal })).status).toBe(404);

    const etag = await etagOf(`/apis/${encoded}`);
    expect((await api('PATCH', `/apis/${encoded}`, { token: tokens.opal, body: { scopes: [] } })).status).toBe(428);
    const patched = await api('PATCH', `/apis/${encoded}`, { token: tokens.opal, body: { scopes: ['invoices:read', 'invoices:write'], access_token_ttl: 180 }, headers: { 'if-match': etag } });
    expect(patched.status).toBe(200);
    expect((await api('PATCH', `/apis/${encoded}`, { token: tokens.opal, body: { name: 'Stale' }, headers: { 'if-match': etag } })).status).toBe(412);
    // Client grants: the service must list the new scope before it can obtain it.
    const ungranted = await clientCredentials('service', 'service-secret-0123456789-abcdefghijklmn', { resource: 'https://billing.example.test', scope: 'invoices:write' });
    expect(ungranted.body).toMatchObject({ error: 'invalid_scope', scope: 'invoices:write' });
    const granted = await api('PATCH', '/clients/service', { token: tokens.adminMfa, body: { scope: 'read write invoices:write' }, headers: { 'if-match': await etagOf('/clients/service') } });
    expect(granted.status).toBe(200);
    const token = await clientCredentials('service', 'service-secret-0123456789-abcdefghijklmn', { resource: 'https://billing.example.test', scope: 'invoices:write' });
    expect(token.status).toBe(200);
    expect(token.body.expires_in).toBe(180);
    expect(decodeJwt(token.body.access_token as string).scope).toBe('invoices:write');

    expect((await api('DELETE', `/apis/${encoded}`, { token: tokens.ada })).status).toBe(403);
    expect((await api('DELETE', `/apis/${encoded}`, { token: tokens.opal })).status).toBe(204);
    const refused = await clientCredentials('service', 'service-secret-0123456789-abcdefghijklmn', { resource: 'https://billing.example.test' });
    expect(refused.body.error).toBe('invalid_target');
  });

  test('the admin API itself cannot be changed or deleted here', async () => {
    const admin = encodeURIComponent(`${t.issuer}/api/admin`);
    const etag = await etagOf(`/apis/${admin}`);
    expect((await api('PATCH', `/apis/${admin}`, { token: tokens.opal, body: { access_token_ttl: 86_400 }, headers: { 'if-match': etag } })).status).toBe(409);
    expect((await api('DELETE', `/apis/${admin}`, { token: tokens.opal })).status).toBe(409);
    const list = await api<{ items: { identifier: string }[] }>('GET', '/apis', { token: tokens.opal });
    expect(list.body.items.map((a) => a.identifier)).toEqual(expect.arrayContaining([API, `${t.issuer}/api/admin`]));
  });
});

describe('signing keys', () => {
  test('list: public parts only; platform administrators only', async () => {
    const keys = await api<{ items: { kid: string; alg: string; status: string; public_jwk: Record<string, unknown> }[] }>('GET', '/keys', { token: tokens.opal });
    expect(keys.status).toBe(200);
    expect(keys.body.items.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    for (const k of keys.body.items) {
      expect(k.status).toBe('active');
      expect(k.public_jwk.kid).toBe(k.kid);
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k.public_jwk).not.toHaveProperty(secret);
    }
    expect(JSON.stringify(keys.body)).not.toMatch(/"d":/);
    expect((await api('GET', '/keys', { token: tokens.ada })).status).toBe(403);
  });

  test('rotate: step-up; new keys sign, old tokens stay valid, new tokens are accepted at once', async () => {
    expect((await api('POST', '/keys/rotate', { token: tokens.opal })).status).toBe(401);
    const oldKid = decodeProtectedHeader(tokens.bot).kid;
    const rotated = await api<{ items: { kid: string; alg: string; status: string }[] }>('POST', '/keys/rotate', { token: tokens.adminMfa });
    expect(rotated.status).toBe(200);
    expect(rotated.body.items.filter((k) => k.status === 'active')).toHaveLength(2);
    expect(rotated.body.items.find((k) => k.kid === oldKid)?.status).toBe('retiring');
    expect((await api('GET', '/users', { token: tokens.bot })).status).toBe(200); // signed by the retiring key
    const fresh = await machineToken(t.issuer, 'ops-bot');
    expect(decodeProtectedHeader(fresh).kid).not.toBe(oldKid);
    expect((await api('GET', '/users', { token: fresh })).status).toBe(200); // a kid the verifier had not seen
    const [entry] = await audit().query({ action: 'keys.rotated' });
    expect((entry!.details.new_kids as string[])).toHaveLength(2);
  });
});

describe('access', () => {
  test('auth.admin is its own scope; CONF_SECRET clients without admin_scopes are refused', async () => {
    const identityOnly = await machineToken(t.issuer, 'ops-bot', 'identity.admin');
    const res = await api('GET', '/clients', { token: identityOnly });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('insufficient_scope');
    // A client without admin_scopes gets no admin token at all (client grants: invalid_scope).
    const web = await clientCredentials('service', 'service-secret-0123456789-abcdefghijklmn', { resource: `${t.issuer}/api/admin`, scope: 'auth.admin' });
    expect(web.body).toMatchObject({ error: 'invalid_scope', scope: 'auth.admin' });
    expect(CONF_SECRET).toBeTruthy();
  });
});
