/**
 * B2B partners end to end (issue 16, "Real peers"): a partner authenticates
 * with openid-client's PrivateKeyJwt, gets a client-credentials token and
 * calls a gateway route that names its client; a replayed assertion and one
 * signed with another key get invalid_client.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey } from 'jose';
import type { TestApp } from '../../server/test/helpers/app.js';
import { RECORDS_API, call, clientToken, platformConfig, startEcho, startGateway, startPlatform } from './helpers.js';
import type { Echo, StartedGateway } from './helpers.js';

let t: TestApp;
let echo: Echo;
let gw: StartedGateway;
let partnerKey: CryptoKey;
let otherKey: CryptoKey;

beforeAll(async () => {
  const keys = await generateKeyPair('ES256', { extractable: true });
  partnerKey = keys.privateKey;
  otherKey = (await generateKeyPair('ES256', { extractable: true })).privateKey;
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'partner-2026', use: 'sig' };
  t = await startPlatform({
    ...platformConfig,
    clients: [
      ...platformConfig.clients,
      { client_id: 'acme-partner', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] }, grant_types: ['client_credentials'], scope: 'records:read' },
    ],
  });
  echo = await startEcho();
  gw = await startGateway({
    issuer: t.issuer, audience: RECORDS_API,
    routes: [{ prefix: '/partner', upstream: echo.url, clients: ['acme-partner'], scopes: ['records:read'] }],
  });
});
afterAll(async () => {
  await gw?.close();
  await echo?.close();
  await t?.close();
});

const assertion = (key: CryptoKey, jti = randomUUID()) => new SignJWT({ jti })
  .setProtectedHeader({ alg: 'ES256', kid: 'partner-2026' })
  .setIssuer('acme-partner').setSubject('acme-partner').setAudience(t.issuer)
  .setIssuedAt().setExpirationTime('1m').sign(key);

async function token(jwt: string) {
  const res = await fetch(`${t.issuer}/oidc/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials', resource: RECORDS_API, scope: 'records:read',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt,
    }),
  });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

describe('a partner with private_key_jwt', () => {
  test('openid-client PrivateKeyJwt: token, then the gateway route that names the client answers 200', async () => {
    const config = await oidc.discovery(new URL(t.issuer), 'acme-partner', undefined, oidc.PrivateKeyJwt(partnerKey), { execute: [oidc.allowInsecureRequests] });
    const { access_token } = await oidc.clientCredentialsGrant(config, { scope: 'records:read', resource: RECORDS_API });
    const ok = await call(gw.url, '/partner/orders', { token: access_token });
    expect(ok.status).toBe(200);
    expect((ok.json.headers as Record<string, string>)['x-tessera-client']).toBe('acme-partner');
    // Another client's token, with the same scope, is not let through this route.
    const other = await call(gw.url, '/partner/orders', { token: await clientToken(t.issuer, 'worker', RECORDS_API, 'records:read') });
    expect(other.status).toBe(403);
  });

  test('a replayed assertion and one signed with another key get invalid_client', async () => {
    const jwt = await assertion(partnerKey);
    expect((await token(jwt)).status).toBe(200);
    expect(await token(jwt)).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(await token(await assertion(otherKey))).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });
});
