import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TestApp } from '../../server/test/helpers/app.js';
import { discover } from '../../server/test/helpers/flows.js';
import { ALICE, GATEWAY_SECRET, WORKER_SECRET, call, clientToken, platformConfig, sleep, startEcho, startGateway, startPlatform, userToken } from './helpers.js';
import type { Echo, StartedGateway } from './helpers.js';

/**
 * An API declared with `access_token_format: opaque` gets opaque access
 * tokens from Tessera; the gateway's `introspect: true` routes ask Tessera's
 * introspection endpoint (RFC 7662) about them, so a revoked token stops
 * working within the introspection cache TTL — end to end, both Tessera.
 */
const LEDGER_API = 'https://ledger.example.test';

let t: TestApp;
let gw: StartedGateway;
let echo: Echo;
const introspectionCalls = () => t.logs.filter((l) => l.includes('"path":"/oidc/token/introspection"')).length;

beforeAll(async () => {
  echo = await startEcho();
  t = await startPlatform({
    ...platformConfig,
    apis: [...platformConfig.apis, { identifier: LEDGER_API, name: 'Ledger API', scopes: ['ledger:read'], access_token_format: 'opaque', access_token_ttl: 600 }],
  });
  gw = await startGateway({
    issuer: t.issuer,
    audience: LEDGER_API,
    introspection: { cache_ttl: 1 },
    routes: [
      { prefix: '/ledger', upstream: echo.url, introspect: true, scopes: ['ledger:read'] },
      { prefix: '/editors', upstream: echo.url, introspect: true, roles: ['editor'] },
      { prefix: '/jwt-only', upstream: echo.url },
    ],
  }, { GATEWAY_CLIENT_ID: 'gateway', GATEWAY_CLIENT_SECRET: GATEWAY_SECRET });
});
afterAll(async () => {
  await gw?.close();
  await t?.close();
  await echo?.close();
});

describe('opaque access tokens from Tessera, introspected by the gateway', () => {
  test('the token is opaque (not a JWT) and the API\'s scopes apply', async () => {
    const token = await clientToken(t.issuer, 'worker', LEDGER_API, 'ledger:read');
    expect(token.split('.')).toHaveLength(1);
    const r = await call(gw.url, '/ledger/entries', { token });
    expect(r.status).toBe(200);
    const headers = (r.json as { headers: Record<string, string> }).headers;
    expect(headers['x-tessera-sub']).toBe('worker');
    expect(headers['x-tessera-client']).toBe('worker');
    expect(headers['x-tessera-tenant']).toBe('default');
    expect(headers['x-tessera-scope']).toBe('ledger:read');
  });

  test('a user\'s opaque token carries tenant, roles and acr through introspection', async () => {
    const token = await userToken(t.issuer, 'spa', ALICE, LEDGER_API, 'ledger:read');
    expect(token.split('.')).toHaveLength(1);
    const r = await call(gw.url, '/editors/x', { token });
    expect(r.status).toBe(200);
    const headers = (r.json as { headers: Record<string, string> }).headers;
    expect(headers['x-tessera-tenant']).toBe('default');
    expect(headers['x-tessera-acr']).toBe('urn:tessera:acr:pwd');
    expect(headers['x-tessera-sub']).not.toBe('');
  });

  test('a client-credentials token has no editor role: 403', async () => {
    const token = await clientToken(t.issuer, 'worker', LEDGER_API, 'ledger:read');
    const r = await call(gw.url, '/editors/x', { token });
    expect(r.status).toBe(403);
  });

  test('answers are cached briefly: many requests, one introspection', async () => {
    const token = await clientToken(t.issuer, 'worker', LEDGER_API, 'ledger:read');
    const before = introspectionCalls();
    const all = await Promise.all(Array.from({ length: 8 }, () => call(gw.url, '/ledger', { token })));
    expect(all.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(introspectionCalls() - before).toBe(1);
  });

  test('revocation at Tessera takes effect within the cache TTL', async () => {
    const token = await clientToken(t.issuer, 'worker', LEDGER_API, 'ledger:read');
    expect((await call(gw.url, '/ledger', { token })).status).toBe(200);
    const config = await discover(t.issuer, { clientId: 'worker', clientSecret: WORKER_SECRET, auth: 'basic' });
    await oidc.tokenRevocation(config, token);
    const seen = echo.seen.length;
    await sleep(1100); // introspection.cache_ttl: 1
    const r = await call(gw.url, '/ledger', { token });
    expect(r.status).toBe(401);
    expect(r.challenge).toMatch(/error="invalid_token", error_description="The access token is not active \(revoked or expired\)."/);
    expect(echo.seen.length).toBe(seen);
  });

  test('an opaque token for another API is refused', async () => {
    const config = await discover(t.issuer, { clientId: 'worker', clientSecret: WORKER_SECRET, auth: 'basic' });
    // Without `resource` the token is for UserInfo only (aud is not the API).
    const token = (await oidc.clientCredentialsGrant(config, { scope: 'ledger:read' })).access_token;
    const r = await call(gw.url, '/ledger', { token });
    expect(r.status).toBe(401);
  });

  test('routes without introspect take JWTs only: an opaque token is refused there, never forwarded', async () => {
    const token = await clientToken(t.issuer, 'worker', LEDGER_API, 'ledger:read');
    const seen = echo.seen.length;
    const r = await call(gw.url, '/jwt-only', { token });
    expect(r.status).toBe(401);
    expect(r.challenge).toMatch(/malformed/);
    expect(echo.seen.length).toBe(seen);
  });
});
