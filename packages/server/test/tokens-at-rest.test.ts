import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestStore, startTestApp } from './helpers/app.js';
import type { TestApp, TestStore } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { CONF_SECRET, SERVICE_SECRET, USER, baseConfig } from './fixtures.js';

/**
 * Issue 17 item 2: a copy of the database (a backup, a replica) holds no
 * usable token. After real flows through openid-client, no access token,
 * refresh token, code or session cookie value appears anywhere in the
 * table the engine stores them in; and a store written before digests is
 * converted at start and its tokens keep working.
 */
const OPAQUE_API = 'https://opaque.example.test';
const config = {
  ...baseConfig,
  apis: [...baseConfig.apis, { identifier: OPAQUE_API, name: 'Opaque', scopes: ['read'], access_token_format: 'opaque' }],
};

let store: TestStore;
let t: TestApp;
const table = async () => JSON.stringify(await t.app.store.db.selectFrom('oidc_payloads').selectAll().execute());

beforeAll(async () => {
  store = await createTestStore();
  t = await startTestApp({ config, testStore: store });
});
afterAll(async () => {
  await t?.close();
  await store?.dispose();
});

describe('tokens at rest', () => {
  test('codes, access and refresh tokens and session cookies never appear in the stored rows; they all still work', async () => {
    const rp = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET, auth: 'basic' });
    const agent = new UserAgent();
    const { tokens, callback } = await codeFlow(rp, agent, t.issuer, USER, { resource: OPAQUE_API, scope: 'openid offline_access read' });
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!, { resource: OPAQUE_API });
    const service = await discover(t.issuer, { clientId: 'service', clientSecret: SERVICE_SECRET, auth: 'basic' });
    const machine = await oidc.clientCredentialsGrant(service, { resource: OPAQUE_API, scope: 'read' });
    const secrets = {
      code: callback.searchParams.get('code')!,
      access: tokens.access_token, refresh: tokens.refresh_token!,
      accessAfterRefresh: refreshed.access_token, refreshAfterRefresh: refreshed.refresh_token!,
      machine: machine.access_token,
      ...Object.fromEntries(agent.cookieValues().map((v, i) => [`cookie${i}`, v.split('.')[0]!])),
    };
    expect(agent.cookieValues().length).toBeGreaterThan(0);
    const text = await table();
    for (const [name, value] of Object.entries(secrets)) {
      expect(value.length, name).toBeGreaterThan(20);
      expect(text.includes(value), `${name} is stored in the clear`).toBe(false);
    }
    // ...and every one of them works: opaque tokens introspect, the refresh token rotates, the session signs in silently.
    const introspect = async (token: string, as = rp) => (await oidc.tokenIntrospection(as, token)).active;
    expect(await introspect(refreshed.access_token)).toBe(true);
    expect(await introspect(machine.access_token, service)).toBe(true);
    expect((await oidc.refreshTokenGrant(rp, refreshed.refresh_token!, { resource: OPAQUE_API })).access_token).toBeTruthy();
    const silent = await codeFlow(rp, agent, t.issuer, undefined, { prompt: 'none', scope: 'openid' });
    expect(silent.tokens.id_token).toBeTruthy();
  });

  test('a store written before digests: converted at start, its tokens keep working', async () => {
    const rp = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET, auth: 'basic' });
    const { tokens } = await codeFlow(rp, new UserAgent(), t.issuer, USER, { resource: OPAQUE_API, scope: 'openid offline_access read' });
    const payloads = t.app.platform.payloads;
    const db = t.app.store.db;
    // Rewrite the refresh and access token rows as an earlier version stored them: the token as id and in the payload.
    for (const [model, token] of [['RefreshToken', tokens.refresh_token!], ['AccessToken', tokens.access_token]] as const) {
      const payload = await payloads.find(model, token);
      expect(payload?.jti).toBe(token);
      const row = (await db.selectFrom('oidc_payloads').selectAll().where('model', '=', model).execute())
        .find((r) => JSON.parse(r.payload).grantId === payload!.grantId)!;
      await payloads.destroy(model, token);
      await db.insertInto('oidc_payloads').values({ ...row, id: token, payload: JSON.stringify(payload) }).execute();
    }
    await db.deleteFrom('tessera_meta').where('key', '=', 'oidc_payload_ids_digested').execute();
    expect(await table()).toContain(tokens.refresh_token!);

    // Restart on the same store: the upgrade runs at start.
    await t.close();
    t = await startTestApp({ config, testStore: store });
    const text = await table();
    expect(text).not.toContain(tokens.refresh_token!);
    expect(text).not.toContain(tokens.access_token);
    const rp2 = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET, auth: 'basic' });
    expect((await oidc.tokenIntrospection(rp2, tokens.access_token)).active).toBe(true);
    const refreshed = await oidc.refreshTokenGrant(rp2, tokens.refresh_token!, { resource: OPAQUE_API });
    expect(refreshed.access_token).toBeTruthy();
  });
});
