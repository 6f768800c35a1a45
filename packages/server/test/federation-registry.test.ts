/**
 * The identity-provider registry (docs/federation.md#fields, #admin-api):
 * providers from the configuration file and the admin API, secrets
 * encrypted at rest and never returned, step-up for creation and secret
 * changes, tenant confinement, bad input; SAML providers' view (ACS,
 * SP metadata) and field checks. Runs on SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { ACME_ADMIN, OPAL, PLATFORM_ADMIN, adminApi, adminConfig, machineToken, personToken, steppedUpToken, withAuthenticator } from './helpers/admin.js';
import { parseDeclarative } from '../src/config/load.js';
import { ConfigError } from '../src/config/errors.js';

type Provider = Record<string, unknown> & { alias: string; secrets_set: string[]; redirect_uri: string; source: string };

const FILE_SECRET = 'file-declared-upstream-secret-0123456789';
const fileProviders = [
  {
    alias: 'corp', type: 'oidc', display_name: 'Corp SSO', issuer: 'https://login.corp.example', client_id: 'tessera-at-corp',
    client_secret: FILE_SECRET, tenants: ['default', 'acme'], email_domains: ['Corp.Example'], claim_preset: 'entra',
    trust_upstream_mfa: { amr: ['mfa'] }, jit: 'create', group_mappings: [{ group: 'staff', roles: ['auditor'], tenant: 'acme', membership: true }],
  },
  { alias: 'acme-fb', type: 'oauth2', display_name: 'Facebook', tenants: ['acme'], authorization_endpoint: 'https://www.facebook.example/dialog/oauth',
    token_endpoint: 'https://graph.facebook.example/oauth/access_token', profile_endpoint: 'https://graph.facebook.example/me?fields=id,name,email',
    client_id: 'fb-app', client_secret: 'fb-app-secret', appsecret_proof: true, claim_preset: 'facebook' },
];

let t: TestApp;
let api: ReturnType<typeof adminApi>;
const tokens = {} as Record<'bot' | 'opal' | 'ada' | 'adminMfa' | 'acmeBot', string>;

beforeAll(async () => {
  t = await startTestApp({ config: { ...adminConfig(), identity_providers: fileProviders } });
  api = adminApi(t.issuer);
  Object.assign(tokens, {
    bot: await machineToken(t.issuer, 'ops-bot'),
    acmeBot: await machineToken(t.issuer, 'acme-bot'),
    opal: await personToken(t.issuer, OPAL),
    ada: await personToken(t.issuer, ACME_ADMIN, { client: 'acme-console' }),
  });
  tokens.adminMfa = await steppedUpToken(t.issuer, PLATFORM_ADMIN, await withAuthenticator(t.issuer, PLATFORM_ADMIN));
}, 120_000);
afterAll(async () => {
  await t?.close();
});

describe('providers from the configuration file', () => {
  test('stored with defaults, the redirect URI, no secret in the answer', async () => {
    const r = await api<Provider>('GET', '/identity-providers/corp', { token: tokens.bot });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      alias: 'corp', type: 'oidc', display_name: 'Corp SSO', enabled: true, tenants: ['default', 'acme'], email_domains: ['corp.example'],
      issuer: 'https://login.corp.example', client_id: 'tessera-at-corp', client_auth: 'client_secret_basic', scopes: ['openid', 'email', 'profile'],
      claim_preset: 'entra', trust_upstream_mfa: { acr: [], amr: ['mfa'] }, jit: 'create', link: 'with_proof', federated_logout: false,
      secrets_set: ['client_secret'], redirect_uri: `${t.issuer}/federation/corp/callback`, source: 'file',
    });
    expect(JSON.stringify(r.body)).not.toContain(FILE_SECRET);
    expect(r.body).not.toHaveProperty('client_secret');
  });

  test('the secret is encrypted at rest, and decrypts to what the file says', async () => {
    const rows = await t.app.store.db.selectFrom('identity_providers').selectAll().execute();
    expect(rows.map((row) => row.alias).sort()).toEqual(['acme-fb', 'corp']);
    for (const row of rows) {
      expect(row.secrets).toMatch(/^v1\./);
      for (const plain of [FILE_SECRET, 'fb-app-secret']) {
        expect(row.secrets).not.toContain(plain);
        expect(row.config).not.toContain(plain);
      }
    }
    expect((await t.app.platform.identityProviders.get('corp'))!.secrets).toEqual({ client_secret: FILE_SECRET });
  });

  test('applying the file again changes nothing', async () => {
    const before = await t.app.store.db.selectFrom('identity_providers').select(['alias', 'updated_at', 'secrets']).execute();
    expect(await t.app.platform.identityProviders.applyDeclared(fileProviders)).toEqual({ created: 0, updated: 0, unchanged: 2 });
    const after = await t.app.store.db.selectFrom('identity_providers').select(['alias', 'updated_at', 'secrets']).execute();
    expect(after).toEqual(before);
  });

  test('a tenant administrator sees the providers of their tenant only', async () => {
    const ada = await api<{ items: Provider[] }>('GET', '/identity-providers', { token: tokens.ada });
    expect(ada.body.items.map((p) => p.alias)).toEqual(['acme-fb', 'corp']);
    const opal = await api<{ items: Provider[] }>('GET', '/identity-providers', { token: tokens.opal });
    expect(opal.body.items.map((p) => p.alias)).toEqual(['acme-fb', 'corp']); // a platform administrator sees all
    expect((await api('GET', '/identity-providers/acme-fb', { token: tokens.ada })).status).toBe(200);
  });

  test('file-declared providers are not edited or removed through the API (409)', async () => {
    const patch = await api('PATCH', '/identity-providers/corp', { token: tokens.adminMfa, body: { display_name: 'Other' } });
    expect(patch.status).toBe(409);
    expect(patch.body).toMatchObject({ error: 'conflict', fields: { alias: 'declared_in_file' } });
    expect((await api('DELETE', '/identity-providers/corp', { token: tokens.adminMfa })).status).toBe(409);
  });

  test('bad declarations in the file name the field', () => {
    const bad = (providers: unknown[]) => {
      try {
        parseDeclarative(JSON.stringify({ identity_providers: providers }));
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(bad([{ alias: 'Bad Alias', type: 'oidc', display_name: 'x', issuer: 'https://a.example', client_id: 'c', client_secret: 's' }]).join('\n'))
      .toMatch(/identity_providers\[0\]\.alias/);
    expect(bad([{ alias: 'x', type: 'nope', display_name: 'x' }]).join('\n')).toMatch(/identity_providers\[0\]\.type: must be one of oidc, oauth2, mock/);
    expect(bad([{ alias: 'x', type: 'oidc', display_name: 'x', issuer: 'https://a.example', client_id: 'c' }]).join('\n'))
      .toMatch(/identity_providers\[0\]\.client_secret: is required when client_auth is client_secret_basic/);
    expect(bad([{ alias: 'x', type: 'oidc', display_name: 'x', issuer: 'https://a.example', client_id: 'c', client_auth: 'none', tenants: ['nowhere'] }]).join('\n'))
      .toMatch(/identity_providers\[0\]\.tenants\[0\]: unknown tenant "nowhere"/);
    expect(bad([{ alias: 'x', type: 'oauth2', display_name: 'x', client_id: 'c', client_secret: 's', authorization_endpoint: 'https://a.example/a',
      token_endpoint: 'https://a.example/t', profile_endpoint: 'https://a.example/me', issuer_url: 'typo' }]).join('\n'))
      .toMatch(/identity_providers\[0\]\.issuer_url/);
    const dup = { alias: 'x', type: 'mock', display_name: 'x', mock: 'google' };
    expect(bad([dup, dup]).join('\n')).toMatch(/identity_providers\[1\]\.alias: duplicate alias "x"/);
  });

  test('a mock provider is refused with NODE_ENV=production', () => {
    const before = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      expect(() => parseDeclarative(JSON.stringify({ identity_providers: [{ alias: 'g', type: 'mock', display_name: 'G', mock: 'google' }] })))
        .toThrow(/identity_providers\[0\]\.type: "mock" is for development only/);
    } finally {
      process.env.NODE_ENV = before;
    }
  });
});

describe('providers through the admin API', () => {
  const body = {
    alias: 'okta', type: 'oidc', display_name: 'Okta', issuer: 'https://acme.okta.example', client_id: 'okta-client',
    client_secret: 'okta-secret-one', tenants: ['acme'], claim_preset: 'okta',
  };

  test('creating needs step-up (RFC 9470); without it nothing is stored', async () => {
    const r = await api('POST', '/identity-providers', { token: tokens.opal, body });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/insufficient_user_authentication/);
    expect((await api('GET', '/identity-providers/okta', { token: tokens.bot })).status).toBe(404);
  });

  test('create: 201, secret write-only, audited without the secret', async () => {
    const r = await api<Provider>('POST', '/identity-providers', { token: tokens.adminMfa, body });
    expect(r.status).toBe(201);
    expect(r.headers.get('location')).toBe('/api/admin/v1/identity-providers/okta');
    expect(r.body).toMatchObject({ alias: 'okta', source: 'api', secrets_set: ['client_secret'], tenants: ['acme'] });
    expect(JSON.stringify(r.body)).not.toContain('okta-secret-one');
    expect((await api('POST', '/identity-providers', { token: tokens.adminMfa, body })).status).toBe(409);
    const audit = await api<{ items: Array<{ details: Record<string, unknown> }> }>('GET', '/audit?action=identity_provider.created', { token: tokens.bot });
    expect(audit.body.items[0]!.details).toMatchObject({ type: 'oidc', secrets_set: ['client_secret'], actor_type: 'user' });
    expect(JSON.stringify(audit.body)).not.toContain('okta-secret-one');
  });

  test('change without a secret needs no step-up and keeps the stored secret', async () => {
    const r = await api<Provider>('PATCH', '/identity-providers/okta', { token: tokens.opal, body: { display_name: 'Okta Workforce', email_domains: ['acme.example'] } });
    expect(r.body).toMatchObject({ alias: 'okta' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ display_name: 'Okta Workforce', email_domains: ['acme.example'], secrets_set: ['client_secret'] });
    expect((await t.app.platform.identityProviders.get('okta'))!.secrets.client_secret).toBe('okta-secret-one');
  });

  test('a new secret needs step-up', async () => {
    const r = await api('PATCH', '/identity-providers/okta', { token: tokens.opal, body: { client_secret: 'okta-secret-two' } });
    expect(r.status).toBe(401);
    expect((await t.app.platform.identityProviders.get('okta'))!.secrets.client_secret).toBe('okta-secret-one');
    expect((await api('PATCH', '/identity-providers/okta', { token: tokens.adminMfa, body: { client_secret: 'okta-secret-two' } })).status).toBe(200);
    expect((await t.app.platform.identityProviders.get('okta'))!.secrets.client_secret).toBe('okta-secret-two');
    const audit = await api<{ items: Array<{ details: Record<string, unknown> }> }>('GET', '/audit?action=identity_provider.updated', { token: tokens.bot });
    expect(audit.body.items.some((e) => JSON.stringify(e.details.secrets_changed) === '["client_secret"]')).toBe(true);
  });

  test('If-Match: a stale ETag is refused (412)', async () => {
    const r = await api('PATCH', '/identity-providers/okta', { token: tokens.opal, body: { enabled: false }, headers: { 'if-match': '"stale"' } });
    expect(r.status).toBe(412);
  });

  test('bad input: field codes, never 500; alias and type are immutable', async () => {
    const r = await api('POST', '/identity-providers', { token: tokens.adminMfa, body: { ...body, alias: 'x2', issuer: 'not a url', scopes: 'openid', colour: 'red' } });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: 'validation_failed', fields: { issuer: 'invalid', scopes: 'invalid', colour: 'unknown_field' } });
    const missing = await api('POST', '/identity-providers', { token: tokens.adminMfa, body: { alias: 'x3', type: 'oidc', display_name: 'X' } });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ fields: { issuer: 'required', client_id: 'required' } });
    expect((await api('POST', '/identity-providers', { token: tokens.adminMfa, body: [1, 2] })).status).toBe(400);
    expect((await api('POST', '/identity-providers', { token: tokens.adminMfa, body: { ...body, alias: 'x4', tenants: ['nowhere'] } })).body)
      .toMatchObject({ fields: { 'tenants.0': 'unknown_tenant' } });
    expect((await api('PATCH', '/identity-providers/okta', { token: tokens.opal, body: { type: 'oauth2' } })).body).toMatchObject({ fields: { type: 'immutable' } });
    expect((await api('PATCH', '/identity-providers/okta', { token: tokens.opal, body: { alias: 'other' } })).body).toMatchObject({ fields: { alias: 'immutable' } });
    expect((await api('GET', '/identity-providers/a%00b', { token: tokens.bot })).status).toBe(404);
  });

  test('a tenant administrator cannot add a provider for another tenant (403) nor see one', async () => {
    const other = await api('POST', '/identity-providers', { token: tokens.acmeBot, body: { ...body, alias: 'globex-sso', tenants: ['globex'] } });
    expect(other.status).toBe(403);
    const mine = await api<Provider>('POST', '/identity-providers', { token: tokens.acmeBot, body: { ...body, alias: 'acme-sso' } });
    expect(mine.status).toBe(201);
    expect((await api('GET', '/identity-providers/acme-sso', { token: tokens.ada })).status).toBe(200);
  });

  test('delete needs step-up, then 204 and gone', async () => {
    expect((await api('DELETE', '/identity-providers/okta', { token: tokens.opal })).status).toBe(401);
    expect((await api('DELETE', '/identity-providers/okta', { token: tokens.adminMfa })).status).toBe(204);
    expect((await api('GET', '/identity-providers/okta', { token: tokens.bot })).status).toBe(404);
    expect((await api('DELETE', '/identity-providers/okta', { token: tokens.adminMfa })).status).toBe(404);
  });
});

describe('SAML providers in the admin API (docs/directories.md#saml)', () => {
  test('create: the ACS as redirect_uri, the SP metadata URL and entity id; no secret fields', async () => {
    const r = await api<Provider>('POST', '/identity-providers', { token: tokens.adminMfa, body: {
      alias: 'adfs', type: 'saml', display_name: 'Corp (AD FS)', idp_metadata_url: 'https://adfs.corp.example/FederationMetadata/2007-06/FederationMetadata.xml',
      attribute_profile: 'microsoft', want_assertions_encrypted: true,
    } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      alias: 'adfs', type: 'saml', redirect_uri: `${t.issuer}/federation/adfs/saml/acs`, saml_metadata_url: `${t.issuer}/federation/adfs/saml/metadata`,
      saml_sp_entity_id: `${t.issuer}/federation/adfs/saml/metadata`, name_id_format: 'persistent', sign_requests: true, allow_idp_initiated: false,
      clock_skew_seconds: 60, secrets_set: [],
    });
  });

  test('bad input: field codes, never 500', async () => {
    const both = await api('POST', '/identity-providers', { token: tokens.adminMfa, body: {
      alias: 's2', type: 'saml', display_name: 'S', idp_metadata_url: 'https://idp.example/md', idp_sso_url: 'https://idp.example/sso',
    } });
    expect(both.status).toBe(400);
    expect(both.body).toMatchObject({ error: 'validation_failed', fields: { idp_metadata_url: 'invalid' } });
    const oidcOnly = await api('POST', '/identity-providers', { token: tokens.adminMfa, body: {
      alias: 's5', type: 'saml', display_name: 'S', idp_metadata_url: 'https://idp.example/md', claim_preset: 'entra', federated_logout: true,
    } });
    expect(oidcOnly.body).toMatchObject({ fields: { claim_preset: 'invalid', federated_logout: 'invalid' } });
    const partial = await api('POST', '/identity-providers', { token: tokens.adminMfa, body: {
      alias: 's3', type: 'saml', display_name: 'S', idp_sso_url: 'https://idp.example/sso', idp_entity_id: 'urn:idp', idp_certificates: [`-----BEGIN CERTIFICATE-----\n${'QUJD'.repeat(40)}\n-----END CERTIFICATE-----`],
    } });
    expect(partial.status).toBe(400);
    expect(partial.body).toMatchObject({ fields: { 'idp_certificates.0': 'invalid' } });
    const idpInitiated = await api('POST', '/identity-providers', { token: tokens.adminMfa, body: {
      alias: 's4', type: 'saml', display_name: 'S', idp_metadata_url: 'https://idp.example/md', allow_idp_initiated: true,
    } });
    expect(idpInitiated.status).toBe(400);
    expect(idpInitiated.body).toMatchObject({ fields: { idp_initiated_redirect: 'invalid' } });
  });
});
