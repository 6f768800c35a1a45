import { request as httpRequest } from 'node:http';
import { SignJWT, decodeJwt, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TestApp } from '../../server/test/helpers/app.js';
import {
  ALICE, BOB, OTHER_API, RECORDS_API, SHORT_API, b64, call, clientToken, jwtParts, sleep, startEcho, startGateway, startPlatform, userToken,
} from './helpers.js';
import type { Echo, StartedGateway } from './helpers.js';

/**
 * Every answer the gateway gives itself, against the real platform: tokens
 * from openid-client (client credentials and the hosted code flow), bad
 * tokens crafted by hand. After each refusal the upstream must not have seen
 * the request, and the gateway must keep serving.
 */
let t: TestApp;
let echo: Echo;
let gw: StartedGateway;
let worker: string;
let readOnly: string;
let alice: string;
let bob: string;
let otherApi: string;

const ACR_PWD = 'urn:tessera:acr:pwd';
const ACR_MFA = 'urn:tessera:acr:mfa';

beforeAll(async () => {
  t = await startPlatform();
  echo = await startEcho();
  gw = await startGateway({
    issuer: t.issuer,
    audience: RECORDS_API,
    clock_tolerance: 1,
    routes: [
      { prefix: '/echo', upstream: echo.url, scopes: ['records:read'] },
      { prefix: '/write', upstream: echo.url, scopes: ['records:read', 'records:write'] },
      { prefix: '/editors', upstream: echo.url, roles: ['editor', 'admin'] },
      { prefix: '/mfa', upstream: echo.url, acr: ACR_MFA },
      { prefix: '/pwd', upstream: echo.url, acr: ACR_PWD },
      { prefix: '/recent', upstream: echo.url, acr: ACR_PWD, max_age: 2 },
      { prefix: '/workers-only', upstream: echo.url, clients: ['worker'] },
      { prefix: '/limited', upstream: echo.url, rate_limit: { per_client_per_minute: 3 } },
      { prefix: '/short', upstream: echo.url, audience: SHORT_API },
    ],
  });
  worker = await clientToken(t.issuer, 'worker', RECORDS_API, 'records:read records:write');
  readOnly = await clientToken(t.issuer, 'worker-2', RECORDS_API, 'records:read');
  otherApi = await clientToken(t.issuer, 'worker', OTHER_API, 'records:read');
  alice = await userToken(t.issuer, 'spa', ALICE, RECORDS_API, 'records:read records:write');
  bob = await userToken(t.issuer, 'spa', BOB, RECORDS_API, 'records:read');
});

afterAll(async () => {
  await gw?.close();
  await echo?.close();
  await t?.close();
});

describe('tokens from the platform', () => {
  test('user access tokens carry tenant, roles and the acr of the sign-in (server change)', () => {
    const a = decodeJwt(alice);
    expect(a).toMatchObject({ tenant: 'default', roles: ['editor'], acr: ACR_PWD, client_id: 'spa', aud: RECORDS_API });
    const b = decodeJwt(bob);
    expect(b.roles).toBeUndefined();
    expect(b.acr).toBe(ACR_PWD);
    // Machine tokens have no user: no roles, no acr.
    expect(decodeJwt(worker)).toMatchObject({ tenant: 'default', sub: 'worker', client_id: 'worker' });
    expect(decodeJwt(worker).acr).toBeUndefined();
  });
});

interface Row {
  name: string;
  authorization?: () => Promise<string | undefined> | string | undefined;
  challenge: RegExp;
}

const invalid = (description: string) => new RegExp(`^Bearer realm="tessera", error="invalid_token", error_description="${description.replace(/[.()]/g, '\\$&')}"$`);

const ROWS: Row[] = [
  { name: 'no Authorization header', challenge: /^Bearer realm="tessera"$/ },
  { name: 'another scheme (Basic)', authorization: () => 'Basic d29ya2VyOnNlY3JldA==', challenge: /^Bearer realm="tessera"$/ },
  { name: 'Bearer without a token', authorization: () => 'Bearer', challenge: invalid('The access token is malformed.') },
  { name: 'garbage', authorization: () => 'Bearer garbage', challenge: invalid('The access token is malformed.') },
  { name: 'garbage with three parts', authorization: () => 'Bearer a.b.c', challenge: invalid('The access token is malformed.') },
  { name: 'non-token characters', authorization: () => 'Bearer ey<script>.x.y', challenge: invalid('The access token is malformed.') },
  { name: 'truncated (two parts)', authorization: () => `Bearer ${worker.split('.').slice(0, 2).join('.')}`, challenge: invalid('The access token is malformed.') },
  { name: 'truncated signature', authorization: () => `Bearer ${worker.slice(0, -12)}`, challenge: invalid('The access token signature is invalid.') },
  {
    name: 'tampered payload (scope widened)',
    authorization: () => {
      const { header, payload, signature } = jwtParts(readOnly);
      return `Bearer ${b64(header)}.${b64({ ...payload, scope: 'records:read records:write' })}.${signature}`;
    },
    challenge: invalid('The access token signature is invalid.'),
  },
  {
    name: 'alg none',
    authorization: () => {
      const { header, payload } = jwtParts(worker);
      return `Bearer ${b64({ ...header, alg: 'none' })}.${b64(payload)}.`;
    },
    challenge: invalid('The access token is signed with an algorithm that is not accepted.'),
  },
  {
    name: 'HS256 (algorithm confusion)',
    authorization: async () => {
      const { payload, header } = jwtParts(worker);
      const token = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: header.kid as string })
        .sign(new TextEncoder().encode('a-guessed-secret-a-guessed-secret'));
      return `Bearer ${token}`;
    },
    challenge: invalid('The access token is signed with an algorithm that is not accepted.'),
  },
  {
    name: 'signed by an unknown key',
    authorization: async () => {
      const { privateKey } = await generateKeyPair('ES256');
      const token = await new SignJWT({ ...jwtParts(worker).payload }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'attacker-key' }).sign(privateKey);
      return `Bearer ${token}`;
    },
    challenge: invalid('The access token is not signed by a key of the issuer.'),
  },
  {
    name: 'unknown key posing as a published kid',
    authorization: async () => {
      const { privateKey } = await generateKeyPair('ES256');
      const { header, payload } = jwtParts(worker);
      const token = await new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: header.kid as string }).sign(privateKey);
      return `Bearer ${token}`;
    },
    challenge: invalid('The access token signature is invalid.'),
  },
  { name: 'wrong audience (a token for another API)', authorization: () => `Bearer ${otherApi}`, challenge: invalid('The access token is not meant for this API.') },
  { name: 'too large', authorization: () => `Bearer ${'a'.repeat(9000)}.b.c`, challenge: invalid('The access token is too large.') },
];

describe('bad input: 401 with the RFC 6750 challenge, the upstream never sees it', () => {
  test.each(ROWS)('$name', async (row) => {
    const before = echo.seen.length;
    const authorization = await row.authorization?.();
    const r = await call(gw.url, '/echo', { headers: authorization === undefined ? {} : { authorization } });
    expect(r.status).toBe(401);
    expect(r.challenge).toMatch(row.challenge);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.json.error).toBe(authorization === undefined || authorization.startsWith('Basic') ? 'unauthorized' : 'invalid_token');
    expect(typeof r.json.error_description).toBe('string');
    expect(echo.seen.length).toBe(before);
  });

  test('an ID token is not an access token', async () => {
    // The code flow's ID token is signed by the same keys, but its typ and aud are not an access token's.
    const { codeFlow, discover } = await import('../../server/test/helpers/flows.js');
    const { UserAgent } = await import('../../server/test/helpers/agent.js');
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, ALICE, { scope: 'openid records:read', resource: RECORDS_API });
    const r = await call(gw.url, '/echo', { token: tokens.id_token! });
    expect(r.status).toBe(401);
    expect(r.challenge).toMatch(/error="invalid_token"/);
  });

  test('oversized headers: 431, the connection is closed, nothing is forwarded', async () => {
    const before = echo.seen.length;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/echo`, { headers: { authorization: `Bearer ${worker}`, 'x-padding': 'p'.repeat(20_000) } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(431);
    expect(echo.seen.length).toBe(before);
  });

  test('the gateway keeps serving after the whole table', async () => {
    const r = await call(gw.url, '/echo', { token: worker });
    expect(r.status).toBe(200);
    expect(await (await fetch(`${gw.url}/healthz`)).json()).toEqual({ status: 'ok' });
  });

  test('expired: refused once exp (plus the leeway) has passed, also when the token was cached as valid', async () => {
    const short = await clientToken(t.issuer, 'worker', SHORT_API, 'records:read');
    expect((await call(gw.url, '/short', { token: short })).status).toBe(200);
    await sleep(2600); // ttl 1 s + clock_tolerance 1 s, rounded up to whole seconds
    const r = await call(gw.url, '/short', { token: short });
    expect(r.status).toBe(401);
    expect(r.challenge).toBe('Bearer realm="tessera", error="invalid_token", error_description="The access token has expired."');
  });
});

describe('route policy', () => {
  test('insufficient scope: 403 with the scopes the route needs', async () => {
    const before = echo.seen.length;
    const r = await call(gw.url, '/write', { token: readOnly });
    expect(r.status).toBe(403);
    expect(r.challenge).toBe('Bearer realm="tessera", error="insufficient_scope", error_description="The access token lacks a scope this API requires.", scope="records:read records:write"');
    expect(r.json).toEqual({ error: 'insufficient_scope', error_description: 'The access token lacks a scope this API requires.' });
    expect(echo.seen.length).toBe(before);
    expect((await call(gw.url, '/write', { token: worker })).status).toBe(200);
  });

  test('roles: an editor passes, a user without the role and a machine client do not', async () => {
    expect((await call(gw.url, '/editors', { token: alice })).status).toBe(200);
    for (const token of [bob, worker]) {
      const r = await call(gw.url, '/editors', { token });
      expect(r.status).toBe(403);
      expect(r.challenge).toMatch(/^Bearer realm="tessera", error="insufficient_scope", error_description="The user lacks a role this API requires."$/);
    }
  });

  test('step-up (RFC 9470): a password sign-in is not enough for an MFA route', async () => {
    const before = echo.seen.length;
    const r = await call(gw.url, '/mfa', { token: alice });
    expect(r.status).toBe(401);
    expect(r.challenge).toBe(`Bearer realm="tessera", error="insufficient_user_authentication", error_description="A stronger authentication is required.", acr_values="${ACR_MFA}"`);
    expect(r.json.error).toBe('insufficient_user_authentication');
    expect(echo.seen.length).toBe(before);
  });

  test('step-up: a route asking for the password level accepts it (and forwards the acr); a token without acr is challenged', async () => {
    const ok = await call(gw.url, '/pwd', { token: alice });
    expect(ok.status).toBe(200);
    expect((ok.json.headers as Record<string, string>)['x-tessera-acr']).toBe(ACR_PWD);
    const machine = await call(gw.url, '/pwd', { token: worker });
    expect(machine.status).toBe(401);
    expect(machine.challenge).toMatch(new RegExp(`error="insufficient_user_authentication".*acr_values="${ACR_PWD} ${ACR_MFA}"$`));
  });

  test('max_age (RFC 9470): a sign-in older than the route allows asks for a fresh one', async () => {
    const fresh = await userToken(t.issuer, 'spa', ALICE, RECORDS_API, 'records:read');
    expect((await call(gw.url, '/recent', { token: fresh })).status).toBe(200);
    await sleep(3100);
    const r = await call(gw.url, '/recent', { token: fresh });
    expect(r.status).toBe(401);
    expect(r.challenge).toBe(`Bearer realm="tessera", error="insufficient_user_authentication", error_description="A more recent authentication is required.", acr_values="${ACR_PWD} ${ACR_MFA}", max_age="2"`);
  });

  test('client allow-list', async () => {
    expect((await call(gw.url, '/workers-only', { token: worker })).status).toBe(200);
    const r = await call(gw.url, '/workers-only', { token: readOnly });
    expect(r.status).toBe(403);
    expect(r.challenge).toMatch(/error="insufficient_scope", error_description="This client is not allowed to call this API."/);
  });

  test('per-client rate limit: 429 with Retry-After; other clients are not affected', async () => {
    for (let i = 0; i < 3; i++) expect((await call(gw.url, '/limited', { token: worker })).status).toBe(200);
    const before = echo.seen.length;
    const r = await call(gw.url, '/limited', { token: worker });
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(r.json.error).toBe('too_many_requests');
    expect(echo.seen.length).toBe(before);
    expect((await call(gw.url, '/limited', { token: readOnly })).status).toBe(200);
  });
});

describe('metrics and logs', () => {
  test('refusals are counted by reason; requests by route and status; upstream latency is recorded', async () => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    for (const reason of ['missing', 'malformed', 'algorithm', 'unknown_key', 'signature', 'audience', 'expired', 'too_large']) {
      expect(text).toMatch(new RegExp(`tessera_gateway_token_failures_total\\{reason="${reason}"\\} [1-9]`));
    }
    expect(text).toMatch(/tessera_gateway_requests_total\{route="\/echo",status="401"\} [1-9]/);
    expect(text).toMatch(/tessera_gateway_requests_total\{route="\/limited",status="429"\} 1/);
    expect(text).toMatch(/tessera_gateway_upstream_duration_seconds_count\{route="\/echo"\} [1-9]/);
  });

  test('no token ever reaches a log line', () => {
    const all = gw.logs.join('\n');
    expect(gw.logs.length).toBeGreaterThan(0);
    for (const token of [worker, readOnly, alice, bob, otherApi]) {
      expect(all).not.toContain(token.split('.')[2]);
      expect(all).not.toContain(token.split('.')[1]);
    }
  });
});
