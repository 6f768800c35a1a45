import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SignJWT, decodeProtectedHeader, generateKeyPair } from 'jose';
import type { TestApp } from '../../server/test/helpers/app.js';
import { RECORDS_API, call, clientToken, freePort, jwtParts, sleep, startEcho, startGateway, startPlatform } from './helpers.js';
import type { Echo, StartedGateway } from './helpers.js';

/** A gateway that is not expected to become ready (its issuer is wrong or down). */
const startGatewayUnready = (file: Record<string, unknown>) => startGateway(file, { LOG_LEVEL: 'info' }, { waitReady: false });

/** The issuer's keys as the gateway sees them: discovery, JWKS caching, rotation, foreign issuers. */
let t: TestApp;
let echo: Echo;
let gw: StartedGateway;

beforeAll(async () => {
  t = await startPlatform();
  echo = await startEcho();
  gw = await startGateway({
    issuer: t.issuer,
    audience: RECORDS_API,
    jwks: { cooldown: 2, max_age: 600 },
    routes: [{ prefix: '/echo', upstream: echo.url }],
  });
});

afterAll(async () => {
  await gw?.close();
  await echo?.close();
  await t?.close();
});

const jwksFetches = (reason: string) => async () => {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  return Number(text.match(new RegExp(`tessera_gateway_jwks_fetches_total\\{reason="${reason}",outcome="ok"\\} (\\d+)`))?.[1] ?? 0);
};
const platformJwksRequests = () => t.logs.filter((l) => l.includes('"path":"/oidc/jwks"')).length;

describe('signing keys', () => {
  test('an unknown kid refetches the JWKS at most once per cooldown, however many tokens name one', async () => {
    await sleep(2100); // past the cooldown of the initial fetch
    const { privateKey } = await generateKeyPair('ES256');
    const worker = await clientToken(t.issuer, 'worker', RECORDS_API, 'records:read');
    const forge = (kid: string) => new SignJWT(jwtParts(worker).payload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(privateKey);
    const before = platformJwksRequests();
    const fetchesBefore = await jwksFetches('unknown_kid')();
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => forge(`made-up-${i}`)));
    const answers = await Promise.all(tokens.map((token) => call(gw.url, '/echo', { token })));
    const later = await Promise.all(Array.from({ length: 10 }, (_, i) => forge(`later-${i}`)));
    for (const token of later) answers.push(await call(gw.url, '/echo', { token }));
    expect(answers.every((a) => a.status === 401 && /not signed by a key of the issuer/.test(a.challenge ?? ''))).toBe(true);
    expect(platformJwksRequests() - before).toBe(1);
    expect((await jwksFetches('unknown_kid')()) - fetchesBefore).toBe(1);
  });

  test('key rotation: a token signed with the new key is accepted after one refetch; the old key keeps working', async () => {
    const old = await clientToken(t.issuer, 'worker', RECORDS_API, 'records:read');
    expect((await call(gw.url, '/echo', { token: old })).status).toBe(200);
    await t.app.rotateKeys();
    const fresh = await clientToken(t.issuer, 'worker', RECORDS_API, 'records:read');
    expect(decodeProtectedHeader(fresh).kid).not.toBe(decodeProtectedHeader(old).kid);
    await sleep(2100); // the previous test's refetch is inside the cooldown
    const before = await jwksFetches('unknown_kid')();
    expect((await call(gw.url, '/echo', { token: fresh })).status).toBe(200);
    expect((await jwksFetches('unknown_kid')()) - before).toBe(1);
    // Retiring keys stay published until their tokens expire.
    expect((await call(gw.url, '/echo', { token: old })).status).toBe(200);
  });

  test('a token from another issuer (a second platform with the same API) is refused', async () => {
    const other = await startPlatform();
    try {
      const foreign = await clientToken(other.issuer, 'worker', RECORDS_API, 'records:read');
      const before = echo.seen.length;
      const r = await call(gw.url, '/echo', { token: foreign });
      expect(r.status).toBe(401);
      expect(r.challenge).toMatch(/error="invalid_token"/);
      expect(echo.seen.length).toBe(before);
    } finally {
      await other.close();
    }
  });
});

describe('discovery', () => {
  test('the discovery document must name exactly the configured issuer; until then: not ready, 503', async () => {
    // Same server, another spelling of its URL: OIDC Discovery §4.3 requires the identical issuer.
    const alias = t.issuer.replace('127.0.0.1', 'localhost');
    const g = await startGatewayUnready({ issuer: alias, audience: RECORDS_API, routes: [{ prefix: '/echo', upstream: echo.url }] });
    try {
      const ready = await fetch(`${g.url}/readyz`);
      expect(ready.status).toBe(503);
      const worker = await clientToken(t.issuer, 'worker', RECORDS_API, 'records:read');
      const r = await call(g.url, '/echo', { token: worker });
      expect(r.status).toBe(503);
      expect(r.json.error).toBe('temporarily_unavailable');
      expect(r.headers.get('retry-after')).toBe('5');
      expect(g.logs.join('\n')).toMatch(/describes issuer http:\/\/127\.0\.0\.1:\d+, not http:\/\/localhost/);
    } finally {
      await g.close();
    }
  });

  test('an unreachable issuer: the gateway starts, answers 503 and is not ready', async () => {
    const port = await freePort();
    const g = await startGatewayUnready({ issuer: `http://127.0.0.1:${port}`, audience: RECORDS_API, routes: [{ prefix: '/echo', upstream: echo.url }] });
    try {
      expect((await fetch(`${g.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${g.url}/readyz`)).status).toBe(503);
      const worker = await clientToken(t.issuer, 'worker', RECORDS_API, 'records:read');
      expect((await call(g.url, '/echo', { token: worker })).status).toBe(503);
      // No token is needed to learn that a token is missing.
      expect((await call(g.url, '/echo')).status).toBe(401);
    } finally {
      await g.close();
    }
  });
});
