import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import * as oidc from 'openid-client';
import { discover } from '../../server/test/helpers/flows.js';
import type { UserAgent } from '../../server/test/helpers/agent.js';
import { BFF_CLIENT, BFF_SECRET, scriptAgent, sessionCount, setCookieLine, startStack } from './helpers/stack.js';
import type { Stack } from './helpers/stack.js';

/** The BFF's clock runs `skew` ms ahead of the platform's, to reach "about to expire" without waiting. */
let skew = 0;
const API_TTL = 4;

let s: Stack;
beforeAll(async () => {
  s = await startStack({ apiTtl: API_TTL, env: { BFF_RENEW_BEFORE: '1' }, deps: { now: () => Date.now() + skew } });
});
afterAll(async () => {
  await s?.close();
});

async function signedIn(): Promise<{ agent: UserAgent; cookie: string }> {
  skew = 0;
  const agent = scriptAgent();
  const res = await s.signIn(agent);
  expect(res.status).toBe(303);
  return { agent, cookie: setCookieLine(res, 'bff_session')!.split(';')[0]! };
}

async function callApi(agent: UserAgent, path = '/api/orders'): Promise<Response> {
  return agent.get(`${s.bffUrl}${path}`);
}

/** The stored session of this test (there is one per agent; found by its refresh token's absence elsewhere). */
function storedSessions(): Array<{ refreshToken?: string; accessToken: string }> {
  // Sessions only: the store also holds the back-channel logout index (arrays of keys).
  return (s.store.values() as Array<{ refreshToken?: string; accessToken: string }>).filter((v) => !Array.isArray(v));
}

describe('access token renewal', () => {
  test('a token about to expire is renewed with the refresh token before the call; the API sees the new token', async () => {
    const { agent } = await signedIn();
    expect((await callApi(agent)).status).toBe(200);
    const first = s.api.requests.at(-1)!.token!;
    expect((await callApi(agent)).status).toBe(200);
    expect(s.api.requests.at(-1)!.token).toBe(first); // still fresh: no renewal

    skew = (API_TTL - 0.5) * 1000; // within BFF_RENEW_BEFORE (1 s) of expiry
    expect((await callApi(agent)).status).toBe(200);
    const renewed = s.api.requests.at(-1)!;
    expect(renewed.token).not.toBe(first);
    expect(renewed.claims).toBeDefined(); // verified by the API against the platform's JWKS
    expect(renewed.claims!.sub).toBe(s.api.requests.find((r) => r.token === first)!.claims!.sub);
  });

  test('an expired access token (real time) is renewed, and the API accepts the new one', async () => {
    const { agent } = await signedIn();
    expect((await callApi(agent)).status).toBe(200);
    const first = s.api.requests.at(-1)!;
    await sleep(API_TTL * 1000 + 200);
    expect((await callApi(agent)).status).toBe(200);
    const second = s.api.requests.at(-1)!;
    expect(second.token).not.toBe(first.token);
    expect(second.claims!.exp!).toBeGreaterThan(first.claims!.exp!);
  });

  test('concurrent calls share one renewal (single flight)', async () => {
    const { agent } = await signedIn();
    expect((await callApi(agent)).status).toBe(200);
    const first = s.api.requests.at(-1)!.token!;
    const refreshesBefore = s.bffLogs.filter((l) => l.includes('access token renewed')).length;
    skew = (API_TTL - 0.5) * 1000;
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => callApi(agent, `/api/parallel/${i}`)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const tokens = new Set(s.api.requests.filter((r) => r.url.startsWith('/v1/parallel/')).map((r) => r.token));
    expect(tokens.size).toBe(1);
    expect(tokens.has(first)).toBe(false);
    expect(s.bffLogs.filter((l) => l.includes('access token renewed')).length - refreshesBefore).toBe(1);
  });

  test('an upstream 401 invalid_token triggers one renewal and one replay; a second 401 is passed through', async () => {
    const { agent } = await signedIn();
    expect((await callApi(agent)).status).toBe(200);
    const first = s.api.requests.at(-1)!.token!;
    s.api.refuseNext(1);
    const res = await callApi(agent, '/api/retried');
    expect(res.status).toBe(200);
    const attempts = s.api.requests.filter((r) => r.url === '/v1/retried');
    expect(attempts).toHaveLength(2);
    expect(attempts[0]!.token).toBe(first);
    expect(attempts[1]!.token).not.toBe(first);

    s.api.refuseNext(5);
    const refused = await callApi(agent, '/api/refused');
    expect(refused.status).toBe(401);
    expect(s.api.requests.filter((r) => r.url === '/v1/refused')).toHaveLength(2);
    s.api.refuseNext(0);
    // The session survives: the refresh token itself was fine.
    expect((await agent.get(`${s.bffUrl}/bff/user`)).status).toBe(200);
  });

  test('a revoked refresh token ends the local session: 401 login_required, session gone, cookie cleared', async () => {
    const sessionsBefore = new Set(storedSessions().map((v) => v.refreshToken));
    const { agent, cookie } = await signedIn();
    const mine = storedSessions().find((v) => v.refreshToken && !sessionsBefore.has(v.refreshToken))!;
    expect(mine.refreshToken).toBeDefined();
    const config = await discover(s.platform.issuer, { clientId: BFF_CLIENT, clientSecret: BFF_SECRET });
    await oidc.tokenRevocation(config, mine.refreshToken!, { token_type_hint: 'refresh_token' });

    skew = (API_TTL - 0.5) * 1000;
    const res = await callApi(agent);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'login_required', login_url: '/bff/login' });
    expect(setCookieLine(res, 'bff_session')).toMatch(/Max-Age=0/);
    expect(storedSessions().some((v) => v.refreshToken === mine.refreshToken)).toBe(false);
    // Even with the old cookie replayed, nothing is left.
    const replay = await s.bff.inject({ method: 'GET', url: '/bff/user', headers: { cookie } });
    expect(replay.statusCode).toBe(401);
  });

  test('signing out at the platform (elsewhere) ends the BFF session at the next renewal (first-party refresh tokens end with it)', async () => {
    const { agent } = await signedIn();
    expect((await callApi(agent)).status).toBe(200);
    // The user signs out at Tessera directly (another app, the account page).
    const end = await agent.get(`${s.platform.issuer}/oidc/session/end?client_id=${BFF_CLIENT}`);
    const html = await end.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    const done = await agent.post(new URL(action, s.platform.issuer), { ...(xsrf ? { xsrf } : {}), logout: 'yes' });
    expect(done.status).toBeGreaterThanOrEqual(300);
    expect(done.status).toBeLessThan(400);
    // The access token (a JWT) stays valid until it expires: no renewal, no check.
    expect((await callApi(agent)).status).toBe(200);

    skew = (API_TTL - 0.5) * 1000;
    const res = await callApi(agent);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'login_required' });
  });

  test('a navigation that needs a new sign-in is redirected to /bff/login', async () => {
    const { cookie } = await signedIn();
    const mine = storedSessions().at(-1)!;
    const config = await discover(s.platform.issuer, { clientId: BFF_CLIENT, clientSecret: BFF_SECRET });
    await oidc.tokenRevocation(config, mine.refreshToken!);
    skew = (API_TTL - 0.5) * 1000;
    const res = await s.bff.inject({ method: 'GET', url: '/api/report', headers: { cookie, 'sec-fetch-mode': 'navigate', accept: 'text/html' } });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/bff/login?returnTo=%2Fapi%2Freport');
  });
});

describe('refresh token expiry and platform outages', () => {
  test('an expired refresh token ends the session with login_required', async () => {
    const short = await startStack({ apiTtl: 1, refreshTtl: 2, env: { BFF_RENEW_BEFORE: '1' } });
    try {
      const agent = scriptAgent();
      expect((await short.signIn(agent)).status).toBe(303);
      await sleep(2500);
      const res = await agent.get(`${short.bffUrl}/api/orders`);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: 'login_required' });
      expect(sessionCount(short.store)).toBe(0);
    } finally {
      await short.close();
    }
  });

  test('when the platform is unreachable, a still-valid token is used; an expired one gives 503', async () => {
    let offset = 0;
    const down = await startStack({ apiTtl: 600, deps: { now: () => Date.now() + offset } });
    try {
      const agent = scriptAgent();
      expect((await down.signIn(agent)).status).toBe(303);
      expect((await agent.get(`${down.bffUrl}/api/a`)).status).toBe(200); // the API has the JWKS now
      await down.platform.app.close();
      offset = 590_000; // in the renewal window, not yet expired
      expect((await agent.get(`${down.bffUrl}/api/b`)).status).toBe(200);
      offset = 700_000;
      const res = await agent.get(`${down.bffUrl}/api/c`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ error: 'temporarily_unavailable' });
      // The session is kept: the platform may come back.
      expect(sessionCount(down.store)).toBe(1);
    } finally {
      await down.bff.close();
      await down.api.close();
      await down.platform.testStore.dispose();
    }
  });
});
