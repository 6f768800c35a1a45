import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import type { TestApp } from '../../server/test/helpers/app.js';
import { discover } from '../../server/test/helpers/flows.js';
import { RECORDS_API, WORKER_SECRET, call, clientToken, startEcho, startGateway, startPlatform } from './helpers.js';
import type { Echo, StartedGateway } from './helpers.js';

/**
 * DPoP-bound access tokens through the gateway (RFC 9449 §7, issue 21), with
 * openid-client making the proofs: accepted with a proof of the bound key,
 * refused as a bearer token, with another key's proof, replayed (also to a
 * second instance sharing the Redis replay cache), for another URL, and an
 * unbound token sent with the DPoP scheme.
 */
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
let t: TestApp;
let echo: Echo;
let gwA: StartedGateway;
let gwB: StartedGateway;
let config: oidc.Configuration;
let keys: oidc.CryptoKeyPair;
let token: string;
/** What openid-client sent last (to replay it). */
let sent: { url: string; headers: Headers } | undefined;
const PUBLIC_URL = 'https://api.example.test';

beforeAll(async () => {
  t = await startPlatform();
  echo = await startEcho();
  const file = { issuer: t.issuer, audience: RECORDS_API, routes: [{ prefix: '/echo', upstream: echo.url }] };
  gwA = await startGateway(file, { GATEWAY_REDIS_URL: REDIS_URL, GATEWAY_PUBLIC_URL: PUBLIC_URL });
  gwB = await startGateway(file, { GATEWAY_REDIS_URL: REDIS_URL, GATEWAY_PUBLIC_URL: PUBLIC_URL });
  config = await discover(t.issuer, { clientId: 'worker', clientSecret: WORKER_SECRET, auth: 'basic' });
  // The client addresses the gateway by its public URL; the request goes to the instance under test.
  config[oidc.customFetch] = async (url, options) => {
    const headers = new Headers(options.headers);
    sent = { url, headers };
    const target = new URL(url);
    const base = target.origin === PUBLIC_URL ? (headers.get('x-instance') === 'B' ? gwB.url : gwA.url) : target.origin;
    return fetch(base + target.pathname + target.search, { ...options, headers } as RequestInit);
  };
  keys = await oidc.randomDPoPKeyPair();
  token = (await oidc.clientCredentialsGrant(config, { resource: RECORDS_API, scope: 'records:read' }, { DPoP: oidc.getDPoPHandle(config, keys) })).access_token;
});

afterAll(async () => {
  await gwA?.close();
  await gwB?.close();
  await echo?.close();
  await t?.close();
});

const through = (path: string, opts: { key?: oidc.CryptoKeyPair; instance?: 'A' | 'B'; accessToken?: string; method?: string } = {}) =>
  oidc.fetchProtectedResource(config, opts.accessToken ?? token, new URL(PUBLIC_URL + path), opts.method ?? 'GET', undefined,
    new Headers({ 'x-instance': opts.instance ?? 'A' }), { DPoP: oidc.getDPoPHandle(config, opts.key ?? keys) });

/** A refusal as openid-client reports it (it throws on a WWW-Authenticate challenge): status, scheme and parameters. */
async function refused(p: Promise<Response>): Promise<{ status?: number; scheme?: string; error?: string; error_description?: string }> {
  try {
    const res = await p;
    return { status: res.status };
  } catch (err) {
    const e = err as { status?: number; cause?: { scheme: string; parameters: Record<string, string> }[] };
    const c = e.cause?.[0];
    return { status: e.status, scheme: c?.scheme, error: c?.parameters.error, error_description: c?.parameters.error_description };
  }
}

const replay = async (to: string) => fetch(to + new URL(sent!.url).pathname, { headers: sent!.headers });

describe('DPoP-bound tokens at the gateway', () => {
  test('accepted with a proof of the bound key; the upstream gets the context', async () => {
    const res = await through('/echo/items');
    expect(res.status).toBe(200);
    const seen = await res.json() as { headers: Record<string, string> };
    expect(seen.headers['x-tessera-sub']).toBe('worker');
    expect(seen.headers['x-tessera-client']).toBe('worker');
    expect(seen.headers).not.toHaveProperty('dpop');
    expect(seen.headers).not.toHaveProperty('authorization');
  });

  test('the same token as a bearer token is refused with a DPoP challenge', async () => {
    const r = await call(gwA.url, '/echo/items', { token });
    expect(r.status).toBe(401);
    expect(r.json.error).toBe('invalid_token');
    expect(r.challenge).toMatch(/^DPoP /);
    expect(r.challenge).toContain('algs="ES256 EdDSA PS256 RS256"');
  });

  test('a proof made with another key is refused', async () => {
    const r = await refused(through('/echo/items', { key: await oidc.randomDPoPKeyPair() }));
    expect(r).toMatchObject({ status: 401, scheme: 'dpop', error: 'invalid_dpop_proof' });
  });

  test('a replayed proof is refused, by the same instance and by another one sharing Redis', async () => {
    expect((await through('/echo/once')).status).toBe(200);
    const again = await replay(gwA.url);
    expect(again.status).toBe(401);
    expect(await again.json()).toEqual({ error: 'invalid_dpop_proof', error_description: 'The DPoP proof was already used.' });

    expect((await through('/echo/twice', { instance: 'B' })).status).toBe(200);
    const elsewhere = await replay(gwA.url);
    expect(elsewhere.status).toBe(401);
    expect((await elsewhere.json() as { error_description: string }).error_description).toBe('The DPoP proof was already used.');
  });

  test('a proof for another URL or method, or no proof at all, is refused', async () => {
    await through('/echo/first');
    const proof = sent!.headers.get('dpop')!;
    const otherPath = await fetch(`${gwA.url}/echo/second`, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    expect(otherPath.status).toBe(401);
    expect((await otherPath.json() as { error: string }).error).toBe('invalid_dpop_proof');
    const post = await fetch(`${gwA.url}/echo/first`, { method: 'POST', headers: { authorization: `DPoP ${token}`, dpop: proof } });
    expect(post.status).toBe(401);
    const none = await fetch(`${gwA.url}/echo/first`, { headers: { authorization: `DPoP ${token}` } });
    expect(none.status).toBe(401);
    expect((await none.json() as { error: string }).error).toBe('invalid_dpop_proof');
  });

  test('an unbound (bearer) token with the DPoP scheme is refused; as a bearer token it works', async () => {
    const bearer = await clientToken(t.issuer, 'worker', RECORDS_API, 'records:read');
    const r = await refused(through('/echo/items', { accessToken: bearer }));
    expect(r).toMatchObject({ status: 401, scheme: 'dpop', error: 'invalid_token' });
    expect(r.error_description).toMatch(/not DPoP-bound/);
    expect((await call(gwA.url, '/echo/items', { token: bearer })).status).toBe(200);
  });
});
