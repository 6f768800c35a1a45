import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TestApp } from '../../server/test/helpers/app.js';
import { discover } from '../../server/test/helpers/flows.js';
import { GATEWAY_SECRET, RECORDS_API, WORKER_SECRET, b64, call, clientToken, jwtParts, sleep, startEcho, startGateway, startPlatform } from './helpers.js';
import type { Echo, StartedGateway } from './helpers.js';
import { OPAQUE_API, startOpaqueIssuer } from './opaque-issuer.js';
import type { OpaqueIssuer } from './opaque-issuer.js';

/**
 * Routes with `introspect: true` ask the issuer (RFC 7662) on every request
 * (answers cached ≤ cache_ttl), so revocation takes effect at once. Tessera's
 * engine introspects opaque tokens only: for an API with JWT access tokens (the default), against
 * Tessera such routes fail closed; against an issuer with opaque API tokens
 * they work end to end, revocation included.
 */
let echo: Echo;
const gatewayClient = { GATEWAY_CLIENT_ID: 'gateway', GATEWAY_CLIENT_SECRET: GATEWAY_SECRET };

beforeAll(async () => {
  echo = await startEcho();
});
afterAll(async () => {
  await echo?.close();
});

describe('against Tessera (JWT access tokens)', () => {
  let t: TestApp;
  let gw: StartedGateway;
  const introspectionCalls = () => t.logs.filter((l) => l.includes('"path":"/oidc/token/introspection"')).length;

  beforeAll(async () => {
    t = await startPlatform();
    gw = await startGateway({
      issuer: t.issuer,
      audience: RECORDS_API,
      introspection: { cache_ttl: 1 },
      routes: [
        { prefix: '/revocable', upstream: echo.url, introspect: true },
        { prefix: '/echo', upstream: echo.url },
      ],
    }, gatewayClient);
  });
  afterAll(async () => {
    await gw?.close();
    await t?.close();
  });

  test('a valid JWT is verified, then refused because the issuer cannot say whether it was revoked (fail closed)', async () => {
    const worker = await clientToken(t.issuer, 'worker', RECORDS_API, 'records:read');
    expect((await call(gw.url, '/echo', { token: worker })).status).toBe(200);
    const before = introspectionCalls();
    const seen = echo.seen.length;
    const r = await call(gw.url, '/revocable', { token: worker });
    expect(r.status).toBe(401);
    expect(r.challenge).toBe('Bearer realm="tessera", error="invalid_token", error_description="This API checks revocation with the issuer, and the issuer cannot introspect this token."');
    expect(introspectionCalls() - before).toBe(1);
    expect(echo.seen.length).toBe(seen);
  });

  test('a forged JWT is refused locally and never reaches the issuer', async () => {
    const worker = await clientToken(t.issuer, 'worker', RECORDS_API, 'records:read');
    const { header, payload, signature } = jwtParts(worker);
    const forged = `${b64(header)}.${b64({ ...payload, sub: 'someone-else' })}.${signature}`;
    const before = introspectionCalls();
    const r = await call(gw.url, '/revocable', { token: forged });
    expect(r.status).toBe(401);
    expect(r.challenge).toMatch(/signature is invalid/);
    expect(introspectionCalls()).toBe(before);
  });

  test('an unknown opaque token is inactive', async () => {
    const r = await call(gw.url, '/revocable', { token: 'opaque-token-the-issuer-never-issued' });
    expect(r.status).toBe(401);
    expect(r.challenge).toMatch(/error_description="The access token is not active \(revoked or expired\)."/);
  });
});

describe('against an issuer with opaque API tokens', () => {
  let issuer: OpaqueIssuer;
  let gw: StartedGateway;
  let config: oidc.Configuration;

  beforeAll(async () => {
    issuer = await startOpaqueIssuer();
    gw = await startGateway({
      issuer: issuer.issuer,
      audience: OPAQUE_API,
      introspection: { cache_ttl: 1 },
      routes: [
        { prefix: '/revocable', upstream: echo.url, introspect: true, scopes: ['records:read'] },
        { prefix: '/jwt-only', upstream: echo.url },
      ],
    }, gatewayClient);
    config = await discover(issuer.issuer, { clientId: 'worker', clientSecret: WORKER_SECRET, auth: 'basic' });
  });
  afterAll(async () => {
    await gw?.close();
    await issuer?.close();
  });

  const opaqueToken = async (resource = OPAQUE_API) => (await oidc.clientCredentialsGrant(config, { scope: 'records:read', resource })).access_token;

  test('an active opaque token: forwarded with the context from the introspection answer', async () => {
    const token = await opaqueToken();
    expect(token.split('.')).toHaveLength(1);
    const r = await call(gw.url, '/revocable', { token });
    expect(r.status).toBe(200);
    const headers = (r.json as { headers: Record<string, string> }).headers;
    expect(headers['x-tessera-sub']).toBe('worker');
    expect(headers['x-tessera-client']).toBe('worker');
    expect(headers['x-tessera-tenant']).toBe('acme');
    expect(headers['x-tessera-scope']).toBe('records:read');
  });

  test('answers are cached briefly: many requests, one introspection', async () => {
    const token = await opaqueToken();
    const before = issuer.introspections();
    const all = await Promise.all(Array.from({ length: 10 }, () => call(gw.url, '/revocable', { token })));
    expect(all.every((r) => r.status === 200)).toBe(true);
    expect(issuer.introspections() - before).toBe(1);
  });

  test('revocation takes effect within the cache TTL', async () => {
    const token = await opaqueToken();
    expect((await call(gw.url, '/revocable', { token })).status).toBe(200);
    await oidc.tokenRevocation(config, token);
    await sleep(1100); // introspection.cache_ttl: 1
    const r = await call(gw.url, '/revocable', { token });
    expect(r.status).toBe(401);
    expect(r.challenge).toMatch(/error="invalid_token", error_description="The access token is not active \(revoked or expired\)."/);
  });

  test('an opaque token for another audience is refused', async () => {
    const r = await call(gw.url, '/revocable', { token: await opaqueToken(`${OPAQUE_API}/other`) });
    expect(r.status).toBe(401);
    expect(r.challenge).toMatch(/not meant for this API/);
  });

  test('a route without introspect takes JWTs only: an opaque token is malformed there', async () => {
    const r = await call(gw.url, '/jwt-only', { token: await opaqueToken() });
    expect(r.status).toBe(401);
    expect(r.challenge).toMatch(/malformed/);
  });
});

describe('configuration', () => {
  test('introspect needs the gateway\'s client credentials', async () => {
    const { loadGatewaySettings } = await import('../src/config.js');
    expect(() => loadGatewaySettings({}, { issuer: 'http://127.0.0.1:1', audience: RECORDS_API, routes: [{ prefix: '/x', upstream: 'http://127.0.0.1:2', introspect: true }] }))
      .toThrow(/GATEWAY_CLIENT_ID and GATEWAY_CLIENT_SECRET must be set/);
  });
});
