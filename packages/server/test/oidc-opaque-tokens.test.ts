import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { adminApi, adminConfig, machineToken } from './helpers/admin.js';
import { SERVICE_SECRET, USER } from './fixtures.js';
import { parseDeclarative } from '../src/config/load.js';

/**
 * `apis[].access_token_format: opaque`: access tokens for that API are
 * references the API introspects (RFC 7662), so revocation bites at once.
 * Who may read an introspection answer is Tessera's policy
 * (src/oidc/introspection-policy.ts): own tokens; for explicit introspectors
 * (`resource_server: true`), their tenant's access tokens, or every tenant's
 * for a platform introspector; refresh tokens only to their own client.
 */
const LEDGER = 'https://ledger.example.test';
const machine = (client_id: string, tenant: string, resource_server = true) => ({
  client_id, client_secret: SERVICE_SECRET, grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', tenant, scope: 'ledger:read read', resource_server,
});

let t: TestApp;
const base = adminConfig();
beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...base,
      apis: [...base.apis, { identifier: LEDGER, name: 'Ledger', scopes: ['ledger:read'], access_token_format: 'opaque' }],
      clients: [...(base.clients as Record<string, unknown>[]).map((c) => (c.client_id === 'spa' ? { ...c, scope: `${String(c.scope)} ledger:read` } : c)), machine('ledger-default', 'default'), machine('ledger-acme', 'acme'), machine('ledger-acme-2', 'acme'), machine('ledger-globex', 'globex'),
        machine('acme-worker', 'acme', false), machine('platform-worker', 'default', false)],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

const tokenFor = async (clientId: string, resource = LEDGER) => {
  const config = await discover(t.issuer, { clientId, clientSecret: SERVICE_SECRET, auth: 'basic' });
  return (await oidc.clientCredentialsGrant(config, { scope: 'ledger:read', resource })).access_token;
};
const introspectAs = async (clientId: string, token: string) => {
  const config = await discover(t.issuer, { clientId, clientSecret: SERVICE_SECRET, auth: 'basic' });
  return oidc.tokenIntrospection(config, token);
};

describe('opaque access tokens for an API', () => {
  test('client_credentials: an opaque token whose introspection names the API, scope, tenant and expiry', async () => {
    const token = await tokenFor('ledger-acme');
    expect(token.split('.')).toHaveLength(1);
    const answer = await introspectAs('ledger-acme', token);
    expect(answer).toMatchObject({ active: true, aud: LEDGER, scope: 'ledger:read', client_id: 'ledger-acme', token_type: 'Bearer', tenant: 'acme', iss: t.issuer });
    expect(answer.exp! - answer.iat!).toBe(3600);
  });

  test('code flow: the user\'s opaque token carries sub, tenant, roles and acr in the introspection answer', async () => {
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, USER, { scope: 'openid ledger:read', resource: LEDGER });
    expect(tokens.access_token.split('.')).toHaveLength(1);
    const answer = await introspectAs('ledger-default', tokens.access_token);
    expect(answer).toMatchObject({ active: true, aud: LEDGER, client_id: 'spa', tenant: 'default', roles: ['editor'], acr: 'urn:tessera:acr:pwd' });
    expect(answer.sub).toBeTruthy();
  });

  test('revoked: inactive at once', async () => {
    const token = await tokenFor('ledger-acme');
    const config = await discover(t.issuer, { clientId: 'ledger-acme', clientSecret: SERVICE_SECRET, auth: 'basic' });
    await oidc.tokenRevocation(config, token);
    expect((await introspectAs('ledger-acme', token)).active).toBe(false);
  });

  test('APIs without the option still get JWTs', async () => {
    const config = await discover(t.issuer, { clientId: 'ledger-acme', clientSecret: SERVICE_SECRET, auth: 'basic' });
    const jwt = (await oidc.clientCredentialsGrant(config, { scope: 'read', resource: 'https://api.example.test' })).access_token;
    expect(jwt.split('.')).toHaveLength(3);
  });
});

describe('who may introspect', () => {
  test('another confidential client of the same tenant: yes', async () => {
    expect((await introspectAs('ledger-acme-2', await tokenFor('ledger-acme'))).active).toBe(true);
  });

  test('a client of another tenant: inactive, as for an unknown token (no claims leak)', async () => {
    const answer = await introspectAs('ledger-globex', await tokenFor('ledger-acme'));
    expect(answer).toEqual({ active: false });
    expect((await introspectAs('ledger-acme', await tokenFor('ledger-default'))).active).toBe(false);
  });

  test('a platform (default-tenant) client: any tenant\'s tokens', async () => {
    expect((await introspectAs('ledger-default', await tokenFor('ledger-globex'))).active).toBe(true);
  });

  test('a confidential client not marked resource_server: only its own tokens, even in its tenant or as a platform client', async () => {
    expect(await introspectAs('acme-worker', await tokenFor('ledger-acme'))).toEqual({ active: false });
    expect(await introspectAs('platform-worker', await tokenFor('ledger-acme'))).toEqual({ active: false });
    expect((await introspectAs('acme-worker', await tokenFor('acme-worker'))).active).toBe(true);
  });

  test('a refresh token: only to its own client, never to an introspector', async () => {
    const spa = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const { tokens } = await codeFlow(spa, new UserAgent(), t.issuer, USER, { scope: 'openid offline_access ledger:read', resource: LEDGER });
    expect(tokens.refresh_token).toBeTruthy();
    expect(await introspectAs('ledger-default', tokens.refresh_token!)).toEqual({ active: false });
    expect((await oidc.tokenIntrospection(spa, tokens.refresh_token!)).active).toBe(true);
    // The access token next to it stays readable by the introspector.
    expect((await introspectAs('ledger-default', tokens.access_token)).active).toBe(true);
  });

  test('a public client: only its own tokens', async () => {
    const spa = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    expect((await oidc.tokenIntrospection(spa, await tokenFor('ledger-default'))).active).toBe(false);
  });

  test('revocation: another confidential client cannot revoke someone else\'s token', async () => {
    const token = await tokenFor('ledger-acme');
    const other = await discover(t.issuer, { clientId: 'ledger-acme-2', clientSecret: SERVICE_SECRET, auth: 'basic' });
    await expect(oidc.tokenRevocation(other, token)).rejects.toMatchObject({ error: 'invalid_request' });
    expect((await introspectAs('ledger-acme', token)).active).toBe(true);
  });
});

describe('the admin API and configuration', () => {
  test('the admin API shows and changes the format; new tokens follow at once', async () => {
    const call = adminApi(t.issuer);
    const token = await machineToken(t.issuer, 'ops-bot');
    const id = encodeURIComponent(LEDGER);
    const read = await call<{ access_token_format: string }>('GET', `/apis/${id}`, { token });
    expect(read.body.access_token_format).toBe('opaque');
    const bad = await call('PATCH', `/apis/${id}`, { token, body: { access_token_format: 'paseto' }, headers: { 'if-match': read.headers.get('etag')! } });
    expect(bad.status).toBe(400);
    const changed = await call<{ access_token_format: string }>('PATCH', `/apis/${id}`, { token, body: { access_token_format: 'jwt' }, headers: { 'if-match': read.headers.get('etag')! } });
    expect(changed.status).toBe(200);
    expect(changed.body.access_token_format).toBe('jwt');
    expect((await tokenFor('ledger-acme')).split('.')).toHaveLength(3);
    const list = await call<{ items: Array<{ identifier: string; access_token_format: string }> }>('GET', '/apis', { token });
    expect(list.body.items.find((a) => a.identifier === LEDGER)?.access_token_format).toBe('jwt');
  });

  test('the configuration file refuses an unknown format with a clear message', () => {
    expect(() => parseDeclarative(JSON.stringify({ apis: [{ identifier: LEDGER, name: 'x', access_token_format: 'paseto' }] }), 'tessera.yaml'))
      .toThrow(/apis\[0\]\.access_token_format: must be jwt or opaque/);
  });
});
