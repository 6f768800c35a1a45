/**
 * Partner onboarding in one step (issue 16, item 7; docs/b2b.md#onboarding-a-partner):
 * POST /api/admin/v1/partners creates the partner's client with its API
 * grants, IP allowlist and authentication method, and answers once with
 * what the partner needs. The partner then gets tokens with openid-client,
 * using exactly what the answer gave it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { adminApi, adminConfig, machineToken } from './helpers/admin.js';
import { API } from './fixtures.js';
import { createAuditRepository } from '../src/audit/repository.js';

type Answer = Record<string, unknown> & { client_id: string; client_secret?: string; token_endpoint: string; issuer: string };

let t: TestApp;
let api: ReturnType<typeof adminApi>;
let bot: string;
let acmeBot: string;

beforeAll(async () => {
  t = await startTestApp({ config: adminConfig() });
  api = adminApi(t.issuer);
  bot = await machineToken(t.issuer, 'ops-bot');
  acmeBot = await machineToken(t.issuer, 'acme-bot');
}, 120_000);
afterAll(async () => {
  await t?.close();
});

/** The partner's side: discovery from the answer's issuer, then client credentials. */
async function partnerConfig(answer: Answer, auth: oidc.ClientAuth) {
  return oidc.discovery(new URL(answer.issuer), answer.client_id, undefined, auth, { execute: [oidc.allowInsecureRequests] });
}

describe('POST /partners', () => {
  test('a secret partner: the answer has everything once; the partner gets its granted scope, not another', async () => {
    const res = await api<Answer>('POST', '/partners', {
      token: bot,
      body: { client_id: 'acme-orders', client_name: 'Acme Orders', scope: 'read', ip_allowlist: ['127.0.0.1/32', '203.0.113.0/24'], access_token_ttl: 300 },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/api/admin/v1/clients/acme-orders');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body).toEqual({
      client_id: 'acme-orders', client_name: 'Acme Orders', tenant: 'default',
      issuer: t.issuer, discovery_url: `${t.issuer}/.well-known/openid-configuration`, token_endpoint: `${t.issuer}/oidc/token`,
      token_endpoint_auth_method: 'client_secret_basic', client_secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      grant_types: ['client_credentials'], scope: 'read',
      apis: [{ resource: API, name: 'Example API', scopes: ['read'] }],
      ip_allowlist: ['127.0.0.1/32', '203.0.113.0/24'],
    });
    // What the partner was given is enough: discovery, then a token for the API it was granted.
    const config = await partnerConfig(res.body, oidc.ClientSecretBasic(res.body.client_secret!));
    expect(config.serverMetadata().token_endpoint).toBe(res.body.token_endpoint);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'read', resource: API });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ scope: 'read', client_id: 'acme-orders', ip_allowlist: ['127.0.0.1/32', '203.0.113.0/24'] });
    await expect(oidc.clientCredentialsGrant(config, { scope: 'write', resource: API })).rejects.toMatchObject({ error: 'invalid_scope' });

    // Stored like any client: the secret is never shown again; the write is audited as onboarding.
    const read = await api('GET', '/clients/acme-orders', { token: bot });
    expect(read.body).toMatchObject({ has_secret: true, scope: 'read', access_token_ttl: 300, ip_allowlist: ['127.0.0.1/32', '203.0.113.0/24'], grant_types: ['client_credentials'] });
    expect(read.body).not.toHaveProperty('client_secret');
    const [entry] = await createAuditRepository(t.app.store.db).query({ subjectId: 'acme-orders', action: 'client.created' });
    expect(entry!.details).toMatchObject({ onboarding: true, scope: 'read', ip_allowlist: ['127.0.0.1/32', '203.0.113.0/24'], token_endpoint_auth_method: 'client_secret_basic', actor_type: 'client' });
  });

  test('a key partner (private_key_jwt, jwks): no secret, the key ids and the assertion audience; PrivateKeyJwt gets a token', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'globex-1', use: 'sig', alg: 'ES256' };
    const res = await api<Answer>('POST', '/partners', {
      token: bot, body: { client_id: 'globex-billing', scope: 'read write', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } },
    });
    expect(res.status).toBe(201);
    expect(res.body).not.toHaveProperty('client_secret');
    expect(res.body).toMatchObject({
      token_endpoint_auth_method: 'private_key_jwt', ip_allowlist: null,
      key_registration: { key_ids: ['globex-1'], assertion_audience: t.issuer, rotate_with: expect.stringContaining('PATCH /api/admin/v1/clients/globex-billing') },
      apis: [{ resource: API, scopes: ['read', 'write'] }],
    });
    const tokens = await oidc.clientCredentialsGrant(await partnerConfig(res.body, oidc.PrivateKeyJwt(privateKey)), { scope: 'read write', resource: API });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ scope: 'read write', client_id: 'globex-billing' });
    expect(decodeJwt(tokens.access_token)).not.toHaveProperty('ip_allowlist');
  });

  test('jwks_uri: where the partner publishes its keys is in the answer', async () => {
    const res = await api<Answer>('POST', '/partners', {
      token: bot, body: { client_id: 'initech', scope: 'read', token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://keys.initech.example/jwks.json' },
    });
    expect(res.status).toBe(201);
    expect(res.body.key_registration).toMatchObject({ jwks_uri: 'https://keys.initech.example/jwks.json', key_ids: [], rotate_with: expect.stringContaining('jwks_uri') });
  });

  test('the IP allowlist holds from the first token request', async () => {
    const res = await api<Answer>('POST', '/partners', { token: bot, body: { client_id: 'far-away', scope: 'read', ip_allowlist: ['203.0.113.0/24'] } });
    expect(res.status).toBe(201);
    const config = await partnerConfig(res.body, oidc.ClientSecretBasic(res.body.client_secret!));
    // 401 invalid_client with a Basic challenge (openid-client surfaces the challenge).
    await expect(oidc.clientCredentialsGrant(config, { scope: 'read', resource: API }))
      .rejects.toMatchObject({ status: 401, cause: [{ scheme: 'basic', parameters: { error: 'invalid_client', error_description: 'client not allowed from this address' } }] });
  });

  test('a legacy password-grant partner bound to its user, in a tenant administrator\'s own tenant', async () => {
    const res = await api<Answer>('POST', '/partners', {
      token: acmeBot, body: { client_id: 'acme-legacy', scope: 'read', grant_types: ['password', 'refresh_token'], allowed_users: ['ada'] },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ tenant: 'acme', grant_types: ['password', 'refresh_token'], allowed_users: ['ada'] });
    const other = await api('POST', '/partners', { token: acmeBot, body: { client_id: 'acme-elsewhere', scope: 'read', tenant: 'globex' } });
    expect(other).toMatchObject({ status: 400, body: { fields: { tenant: 'unknown_tenant' } } });
  });

  test('bad input: 400 with the field, and nothing written', async () => {
    const cases: Array<[Record<string, unknown>, Record<string, string>]> = [
      [{ client_id: 'p1', scope: 'read', token_endpoint_auth_method: 'private_key_jwt' }, { jwks: 'invalid' }],
      [{ client_id: 'p2', scope: 'read orders:raed' }, { scope: 'invalid' }],
      [{ client_id: 'p3', scope: 'read', ip_allowlist: ['10.0.0.0/33'] }, { 'ip_allowlist.0': 'invalid' }],
      [{ client_id: 'p4', scope: 'read', grant_types: ['authorization_code'] }, { 'grant_types.0': 'invalid' }],
      [{ client_id: 'p5' }, { scope: 'required' }],
      [{ client_id: 'p6', scope: 'read', redirect_uris: ['https://x.example/cb'] }, { redirect_uris: 'unknown_field' }],
      [{ client_id: 'p7', scope: 'read', grant_types: ['client_credentials', 'refresh_token'] }, { grant_types: 'invalid' }],
    ];
    for (const [body, fields] of cases) {
      const res = await api('POST', '/partners', { token: bot, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.fields, JSON.stringify(body)).toEqual(fields);
      expect((await api('GET', `/clients/${body.client_id as string}`, { token: bot })).status).toBe(404);
    }
  });

  test('an id that is taken: 409; without auth.admin: 403', async () => {
    expect(await api('POST', '/partners', { token: bot, body: { client_id: 'acme-orders', scope: 'read' } }))
      .toMatchObject({ status: 409, body: { fields: { client_id: 'taken' } } });
    const identityOnly = await machineToken(t.issuer, 'ops-bot', 'identity.admin');
    expect((await api('POST', '/partners', { token: identityOnly, body: { client_id: 'x-partner', scope: 'read' } })).status).toBe(403);
  });
});
