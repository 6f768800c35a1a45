/**
 * Token exchange (RFC 8693), issue 21, with openid-client's generic grant
 * request: a service exchanges a user's access token for a token to another
 * API with an `act` claim naming itself, within its per-client policy;
 * everything else is refused; each exchange is audited.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { API, CONF_SECRET, SERVICE_SECRET, USER, baseConfig } from './fixtures.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const STOCK = 'https://stock.example.test';
let t: TestApp;
let userToken: string;
let userSub: string;

beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      apis: [...baseConfig.apis, { identifier: STOCK, name: 'Stock API', scopes: ['stock:read', 'stock:write'] }],
      clients: [
        ...baseConfig.clients,
        {
          client_id: 'orders-service', client_secret: CONF_SECRET, grant_types: [GRANT], scope: 'stock:read',
          token_exchange: { subject_clients: ['spa'], audiences: [STOCK], scopes: ['stock:read'] },
        },
      ],
    },
  });
  const spa = await discover(t.issuer, { clientId: 'spa' });
  const { tokens } = await codeFlow(spa, new UserAgent(), t.issuer, USER, { scope: 'openid read', resource: API });
  userToken = tokens.access_token;
  userSub = decodeJwt(userToken).sub!;
});
afterAll(async () => {
  await t?.close();
});

const service = () => discover(t.issuer, { clientId: 'orders-service', clientSecret: CONF_SECRET });

async function exchange(config: oidc.Configuration, params: Record<string, string>) {
  try {
    return { ok: await oidc.genericGrantRequest(config, GRANT, { subject_token: userToken, subject_token_type: AT, resource: STOCK, ...params }) };
  } catch (err) {
    return { error: (err as { error?: string }).error ?? String(err) };
  }
}

describe('token exchange (RFC 8693)', () => {
  test('discovery lists the grant', async () => {
    const meta = await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json() as { grant_types_supported: string[] };
    expect(meta.grant_types_supported).toContain(GRANT);
  });

  test('delegation: a token for the other API, for the same user, with act naming the service; audited', async () => {
    const { ok } = await exchange(await service(), { scope: 'stock:read' });
    expect(ok!.issued_token_type).toBe(AT);
    const claims = decodeJwt(ok!.access_token);
    expect(claims).toMatchObject({ sub: userSub, aud: STOCK, scope: 'stock:read', client_id: 'orders-service', act: { sub: 'orders-service' }, tenant: 'default' });
    const rows = await t.testStore.store.db.selectFrom('audit_log').selectAll().where('action', '=', 'token.exchanged').execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.subject_id).toBe(userSub);
    expect(JSON.parse(rows[0]!.details as string)).toMatchObject({ client: 'orders-service', subject_client: 'spa', audience: STOCK, scope: 'stock:read' });
  });

  test('outside the policy: another audience, a scope not listed, a token of another client, garbage, a client without the grant', async () => {
    const config = await service();
    expect((await exchange(config, { resource: API })).error).toBe('invalid_target');
    expect((await exchange(config, { scope: 'stock:write' })).error).toBe('invalid_scope');
    const machine = await oidc.clientCredentialsGrant(await discover(t.issuer, { clientId: 'service', clientSecret: SERVICE_SECRET }), { resource: API, scope: 'read' });
    expect((await exchange(config, { subject_token: machine.access_token })).error).toBe('invalid_grant');
    expect((await exchange(config, { subject_token: 'not-a-token' })).error).toBe('invalid_grant');
    expect((await exchange(config, { subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' })).error).toBe('invalid_request');
    const web = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET });
    expect((await exchange(web, {})).error).toBe('invalid_request');
  });
});
