/**
 * Per-client claims from custom attributes and external ids
 * (docs/users.md#claims), checked with openid-client as the relying party
 * and jose for the access token: a client receives an attribute only when
 * its metadata lists it, for a granted scope, where it says (ID token,
 * access token, UserInfo); other clients never see it, whatever they ask.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { API, CONF_SECRET, REDIRECT, USER, baseConfig } from './fixtures.js';
import { MACHINE_SECRET, adminApi, machineToken } from './helpers/admin.js';
import { ADMIN_CALLER, sourceCaller } from '../src/userdata/model.js';

const client = (client_id: string, attribute_claims?: unknown[], extra: Record<string, unknown> = {}) => ({
  client_id, client_secret: CONF_SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
  token_endpoint_auth_method: 'client_secret_basic', ...(attribute_claims ? { attribute_claims } : {}), ...extra,
});

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      attributes: [
        { name: 'loyalty', type: 'enum', values: ['silver', 'gold'], source: 'secutix' },
        { name: 'team', type: 'string' },
        { name: 'tags', type: 'string_list' },
      ],
      clients: [
        ...baseConfig.clients,
        client('ticketing', [
          { external_id: 'secutix', claim: 'secutix_id', scope: 'secutix', access_token: true },
          { attribute: 'loyalty', scope: 'secutix', id_token: false, userinfo: true },
          { attribute: 'tags', scope: 'openid' },
          // Client grants (docs/b2b.md): the API scope it obtains is listed beside its OpenID and attribute scopes.
        ], { first_party: true, scope: 'openid profile email offline_access secutix read' }),
        // Lists the same attribute, under another scope, only for UserInfo.
        client('intranet', [{ attribute: 'team', scope: 'team', id_token: false }], { first_party: true }),
        // Lists neither attribute claims nor a scope: it may ask for any scope the engine knows.
        client('plain'),
        { client_id: 'ops', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], admin_scopes: ['identity.admin', 'auth.admin'] },
      ],
    },
  });
  const user = (await t.app.platform.users.findByUsername('default', USER.username))!;
  await t.app.platform.userData.update(ADMIN_CALLER, user, { attributes: { team: 'blue', tags: ['a', 'b'] }, externalIds: { secutix: '123' } });
  await t.app.platform.userData.update(sourceCaller('secutix'), user, { attributes: { loyalty: 'gold' } });
}, 60_000);
afterAll(async () => {
  await t?.close();
});

async function signIn(clientId: string, scope: string, extra: Record<string, string> = {}) {
  const config = await discover(t.issuer, { clientId, clientSecret: CONF_SECRET, auth: 'basic' });
  const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, USER, { scope, prompt: 'login', ...extra });
  return { config, tokens };
}

const userinfo = async (config: oidc.Configuration, accessToken: string, sub: string) => oidc.fetchUserInfo(config, accessToken, sub);

describe('the client that lists the claims', () => {
  test('with its scope: the external id in the ID token and UserInfo, loyalty in UserInfo only', async () => {
    const { config, tokens } = await signIn('ticketing', 'openid secutix');
    const id = tokens.claims()!;
    expect(id.secutix_id).toBe('123');
    expect(id.tags).toEqual(['a', 'b']);
    expect(id.loyalty).toBeUndefined();
    const info = await userinfo(config, tokens.access_token, id.sub);
    expect(info).toMatchObject({ secutix_id: '123', loyalty: 'gold', tags: ['a', 'b'] });
    expect(info.team).toBeUndefined();
  });

  test('without the scope: only what `openid` releases', async () => {
    const { config, tokens } = await signIn('ticketing', 'openid');
    const id = tokens.claims()!;
    expect(id.secutix_id).toBeUndefined();
    expect(id.tags).toEqual(['a', 'b']);
    const info = await userinfo(config, tokens.access_token, id.sub);
    expect(info.secutix_id).toBeUndefined();
    expect(info.loyalty).toBeUndefined();
  });

  test('the access token for an API carries the claims listed with access_token, verified with jose', async () => {
    const { tokens } = await signIn('ticketing', 'openid secutix read', { resource: API });
    const jwks = createRemoteJWKSet(new URL(`${t.issuer}/oidc/jwks`));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: t.issuer, audience: API });
    expect(payload.secutix_id).toBe('123');
    expect(payload.loyalty).toBeUndefined();
    expect(payload.tags).toBeUndefined();
    // The refreshed token still carries it.
    const config = await discover(t.issuer, { clientId: 'ticketing', clientSecret: CONF_SECRET, auth: 'basic' });
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, { resource: API });
    expect(decodeJwt(refreshed.access_token).secutix_id).toBe('123');
  });
});

describe('other clients', () => {
  test('a client that lists nothing gets nothing, even asking for the scope and the claims by name', async () => {
    const { config, tokens } = await signIn('plain', 'openid secutix', {
      prompt: 'consent', claims: JSON.stringify({ id_token: { secutix_id: null, tags: null }, userinfo: { secutix_id: null, loyalty: null } }),
    });
    const id = tokens.claims()!;
    expect(id.secutix_id).toBeUndefined();
    expect(id.tags).toBeUndefined();
    const info = await userinfo(config, tokens.access_token, id.sub);
    expect(info.secutix_id).toBeUndefined();
    expect(info.loyalty).toBeUndefined();
  });

  test('a client gets only its own attributes, where it says', async () => {
    const { config, tokens } = await signIn('intranet', 'openid team secutix');
    const id = tokens.claims()!;
    expect(id.team).toBeUndefined();
    expect(id.secutix_id).toBeUndefined();
    const info = await userinfo(config, tokens.access_token, id.sub);
    expect(info.team).toBe('blue');
    expect(info.secutix_id).toBeUndefined();
    expect(info.tags).toBeUndefined();
  });
});

describe('declaring claims', () => {
  test('the admin API refuses a standard claim name or an entry naming nothing; a new client\'s claims work at once', async () => {
    const admin = await machineToken(t.issuer, 'ops');
    const api = adminApi(t.issuer);
    const bad = await api<{ error?: string; fields?: Record<string, string> }>('POST', '/clients', {
      token: admin, body: { client_id: 'bad', redirect_uris: [REDIRECT], attribute_claims: [{ attribute: 'team', claim: 'email', scope: 'x' }, { scope: 'y' }] },
    });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body.fields ?? {})).toEqual(expect.arrayContaining(['attribute_claims.0.claim', 'attribute_claims.1.attribute']));
    const created = await api<{ client_secret: string }>('POST', '/clients', {
      token: admin, body: { client_id: 'fresh', redirect_uris: [REDIRECT], first_party: true, attribute_claims: [{ attribute: 'team', scope: 'staff' }] },
    });
    expect(created.status).toBe(201);
    // The engine is rebuilt on client.created; give the listener its turn.
    await new Promise((r) => setTimeout(r, 200));
    const config = await discover(t.issuer, { clientId: 'fresh', clientSecret: created.body.client_secret, auth: 'basic' });
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, USER, { scope: 'openid staff', prompt: 'login' });
    expect(tokens.claims()!.team).toBe('blue');
    const discovery = await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json() as { scopes_supported: string[] };
    expect(discovery.scopes_supported).toEqual(expect.arrayContaining(['secutix', 'team', 'staff']));
  });
});
