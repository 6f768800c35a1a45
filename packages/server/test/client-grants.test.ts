/**
 * Client grants for APIs (issue 16, item 1; docs/b2b.md#client-grants): a
 * client obtains an API scope only when its `scope` lists it, for every
 * grant, and asking for another is `invalid_scope`. openid-client is the
 * relying party; tokens are checked with jose.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { REDIRECT, USER, baseConfig } from './fixtures.js';
import { parseDeclarative } from '../src/config/load.js';
import { clientGrantWarnings } from '../src/oidc/client-grants.js';

const ORDERS = 'https://orders.example.test';
const SECRET = 'grants-secret-0123456789-abcdefghijklmnop';
const machine = (client_id: string, extra: Record<string, unknown> = {}) =>
  ({ client_id, client_secret: SECRET, grant_types: ['client_credentials'], ...extra });

const config = {
  ...baseConfig,
  apis: [...baseConfig.apis, { identifier: ORDERS, name: 'Orders', scopes: ['orders:read', 'orders:write'] }],
  clients: [
    ...baseConfig.clients,
    machine('reader', { scope: 'orders:read' }),
    machine('writer', { scope: 'orders:read orders:write' }),
    // Relied on "any scope" before client grants: named at start-up, now obtains no API scope.
    machine('legacy'),
    // A browser app that lists OpenID scopes only has said what it needs: not named.
    { client_id: 'login-only', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', scope: 'openid profile' },
    // A machine client with OpenID scopes only: still named.
    machine('machine-oidc', { scope: 'openid' }),
    // A typo in a grant: named at start-up too.
    machine('typo', { scope: 'orders:raed' }),
    { client_id: 'partner-pw', client_secret: SECRET, grant_types: ['password', 'refresh_token'], scope: 'offline_access orders:read' },
    {
      client_id: 'shop', client_secret: SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
      scope: 'openid profile offline_access orders:read',
    },
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
});

const basic = (id: string) => `Basic ${Buffer.from(`${id}:${SECRET}`).toString('base64')}`;
async function token(clientId: string, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${t.issuer}/oidc/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId) }, body: new URLSearchParams(form),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const scopeOf = async (accessToken: string) => (await jwtVerify(accessToken, jwks, { issuer: t.issuer, audience: ORDERS })).payload.scope;

describe('client credentials', () => {
  test('a granted scope is issued; an ungranted one is invalid_scope, never a token', async () => {
    const granted = await oidc.clientCredentialsGrant(await discover(t.issuer, { clientId: 'reader', clientSecret: SECRET }), { scope: 'orders:read', resource: ORDERS });
    expect(await scopeOf(granted.access_token)).toBe('orders:read');
    for (const scope of ['orders:write', 'orders:read orders:write']) {
      const refused = await token('reader', { grant_type: 'client_credentials', scope, resource: ORDERS });
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ error: 'invalid_scope', error_description: 'requested scope is not granted to this client', scope: 'orders:write' });
    }
    const writer = await token('writer', { grant_type: 'client_credentials', scope: 'orders:read orders:write', resource: ORDERS });
    expect(await scopeOf(writer.body.access_token as string)).toBe('orders:read orders:write');
  });

  test('a client whose scope lists no API scope obtains none, and an OpenID scope it does not list is refused', async () => {
    expect((await token('legacy', { grant_type: 'client_credentials', scope: 'orders:read', resource: ORDERS })).body).toMatchObject({ error: 'invalid_scope', scope: 'orders:read' });
    // Without a scope parameter: a token for the API without any scope (as before for any client).
    const bare = await token('legacy', { grant_type: 'client_credentials', resource: ORDERS });
    expect(bare.status).toBe(200);
    expect(decodeJwt(bare.body.access_token as string).scope).toBeUndefined();
    // `reader` lists API scopes only: OpenID scopes are not among them.
    expect((await token('reader', { grant_type: 'client_credentials', scope: 'openid' })).body).toMatchObject({ error: 'invalid_scope', scope: 'openid' });
  });

  test('scopes no API declares are still dropped silently (RFC 6749 §3.3), as before', async () => {
    const res = await token('reader', { grant_type: 'client_credentials', scope: 'orders:read shipping:track', resource: ORDERS });
    expect(res.status).toBe(200);
    expect(await scopeOf(res.body.access_token as string)).toBe('orders:read');
  });
});

describe('authorization code and refresh', () => {
  test('an authorization request for an ungranted API scope returns invalid_scope to the client', async () => {
    const config = await discover(t.issuer, { clientId: 'shop', clientSecret: SECRET });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid orders:read orders:write', resource: ORDERS, state: 'st',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const res = await new UserAgent().get(url);
    expect(res.status).toBe(303);
    const back = new URL(res.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    expect(Object.fromEntries(back.searchParams)).toMatchObject({ error: 'invalid_scope', state: 'st' });
  });

  test('a granted scope goes through consent and the code; a narrowed grant is applied at refresh', async () => {
    const config = await discover(t.issuer, { clientId: 'shop', clientSecret: SECRET });
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, USER, { scope: 'openid offline_access orders:read', resource: ORDERS }, {});
    expect(await scopeOf(tokens.access_token)).toBe('orders:read');

    // The operator withdraws orders:read: the next refresh carries no API scope, and asking for it is refused.
    const record = (await t.app.platform.clients.find('shop'))!;
    await t.app.platform.clients.upsert({ ...record, metadata: { ...record.metadata, scope: 'openid profile offline_access' } });
    try {
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, { resource: ORDERS });
      expect(decodeJwt(refreshed.access_token).scope).toBeUndefined();
      const asked = await token('shop', { grant_type: 'refresh_token', refresh_token: refreshed.refresh_token ?? tokens.refresh_token!, scope: 'orders:read', resource: ORDERS });
      expect(asked.body).toMatchObject({ error: 'invalid_scope', scope: 'orders:read' });
    } finally {
      await t.app.platform.clients.upsert(record);
    }
  });
});

describe('password grant', () => {
  test('granted scopes only; another is invalid_scope before the password is looked at', async () => {
    const ok = await token('partner-pw', { grant_type: 'password', username: USER.username, password: USER.password, scope: 'orders:read', resource: ORDERS });
    expect(await scopeOf(ok.body.access_token as string)).toBe('orders:read');
    const refused = await token('partner-pw', { grant_type: 'password', username: USER.username, password: 'wrong password', scope: 'orders:read orders:write', resource: ORDERS });
    expect(refused.body).toMatchObject({ error: 'invalid_scope', scope: 'orders:write' });
    expect((await token('partner-pw', { grant_type: 'password', username: USER.username, password: USER.password, scope: 'profile' })).body)
      .toMatchObject({ error: 'invalid_scope', scope: 'profile' });
  });
});

describe('migration aid and configuration', () => {
  test('start-up names the clients that list no API scope, and scopes no API declares', () => {
    const warnings = t.logs.filter((l) => l.includes('"level":40')).map((l) => JSON.parse(l) as { clientId?: string; msg: string }).filter((w) => w.msg.startsWith('client '));
    const legacy = warnings.find((w) => w.clientId === 'legacy');
    expect(legacy?.msg).toMatch(/^client legacy lists no API scope in its scope, so it obtains none \(before client grants it could obtain any: read write orders:read orders:write\); add the API scopes it needs/);
    expect(warnings.find((w) => w.clientId === 'typo')?.msg).toBe('client typo lists scopes no API declares: orders:raed');
    expect(warnings.find((w) => w.clientId === 'machine-oidc')?.msg).toMatch(/^client machine-oidc lists no API scope/);
    // Clients that list API scopes, browser apps that list OpenID scopes only, and the built-in clients are not named.
    expect(warnings.filter((w) => ['reader', 'writer', 'shop', 'login-only', 'tessera-console', 'tessera-account'].includes(w.clientId ?? ''))).toEqual([]);
  });

  test('the warning logic: login-only clients with refresh alone are not named; nothing is named when no API declares scopes', () => {
    const client = (clientId: string, metadata: Record<string, unknown>) => ({ clientId, tenantId: 'default', secretHash: null, firstParty: false, metadata });
    const api = { identifier: ORDERS, name: 'Orders', scopes: ['orders:read'], signingAlg: 'ES256', accessTokenTtl: 60 };
    expect(clientGrantWarnings([client('r', { grant_types: ['refresh_token'] })], [api])).toEqual([]);
    expect(clientGrantWarnings([client('m', { grant_types: ['client_credentials'] })], [{ ...api, scopes: [] }])).toEqual([]);
    expect(clientGrantWarnings([client('a', { grant_types: ['client_credentials'], admin_scopes: ['identity.admin'] })], [api]).map((w) => w.clientId)).toEqual(['a']);
  });

  test('the file accepts API scopes in scope (the engine sees the OpenID part) and refuses malformed lists', () => {
    const parse = (scope: string) => parseDeclarative(JSON.stringify({ clients: [{ client_id: 'c', client_secret: SECRET, grant_types: ['client_credentials'], scope }] }));
    expect(parse('openid orders:read').clients[0]!.scope).toBe('openid orders:read');
    expect(() => parse('openid  orders:read')).toThrow(/clients\[0\]\.scope: must be scope tokens separated by single spaces/);
    expect(() => parse('orders"read')).toThrow(/clients\[0\]\.scope/);
  });

  test('the engine holds the OpenID part only', async () => {
    const shop = await t.app.provider().Client.find('shop');
    expect(shop?.scope).toBe('openid profile offline_access');
    expect((await t.app.provider().Client.find('reader'))?.scope).toBeUndefined();
  });
});
