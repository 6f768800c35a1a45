import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import { UserAgent, formAction, hiddenField } from '../../server/test/helpers/agent.js';
import { BFF_CLIENT, scriptAgent, sessionCount, setCookieLine, startStack } from './helpers/stack.js';
import type { Stack } from './helpers/stack.js';

/** What the browser SDK relies on: login parameters, /bff/user, back-channel logout, public routes. */

let s: Stack;
beforeAll(async () => {
  s = await startStack({
    platformEnv: { TESSERA_OUTBOUND_PRIVATE_HOSTS: '127.0.0.1' },
    platformConfig: { tenants: [{ id: 'default', name: 'Default', policy: { registration: 'open' } }] },
    client: (origin) => ({ backchannel_logout_uri: `${origin}/bff/backchannel-logout`, backchannel_logout_session_required: true }),
    env: (issuer) => ({ BFF_PUBLIC_ROUTES: `register=${issuer}/api/self-service/registration` }),
  });
});
afterAll(async () => {
  await s?.close();
});

async function signedIn(stack = s): Promise<{ agent: UserAgent; csrf: string; cookie: string }> {
  const agent = scriptAgent();
  const res = await stack.signIn(agent);
  expect(res.status).toBe(303);
  const cookie = setCookieLine(res, 'bff_session')!.split(';')[0]!;
  const user = await agent.get(`${stack.bffUrl}/bff/user`);
  return { agent, cookie, csrf: ((await user.json()) as { csrf_token: string }).csrf_token };
}

describe('/bff/login passes sign-in parameters through', () => {
  test('acr_values, max_age, prompt, login_hint and ui_locales reach the authorization request', async () => {
    const q = new URLSearchParams({
      returnTo: '/#/orders/7?tab=history', acr_values: 'urn:tessera:acr:mfa', max_age: '0', prompt: 'login',
      login_hint: 'alice@example.test', ui_locales: 'de en',
    });
    const res = await new UserAgent().get(`${s.bffUrl}/bff/login?${q}`);
    expect(res.status).toBe(302);
    const p = new URL(res.headers.get('location')!).searchParams;
    expect(p.get('acr_values')).toBe('urn:tessera:acr:mfa');
    expect(p.get('max_age')).toBe('0');
    expect(p.get('prompt')).toBe('login');
    expect(p.get('login_hint')).toBe('alice@example.test');
    expect(p.get('ui_locales')).toBe('de en');
    // The protocol's own parameters cannot be replaced by a query parameter.
    const sneaky = await new UserAgent().get(`${s.bffUrl}/bff/login?redirect_uri=https://evil.test/cb&client_id=other`);
    const sp = new URL(sneaky.headers.get('location')!).searchParams;
    expect(sp.get('redirect_uri')).toBe(`${s.publicOrigin}/bff/callback`);
    expect(sp.get('client_id')).toBe(BFF_CLIENT);
  });

  test.each([
    ['max_age=soon', 'max_age'],
    ['prompt=always', 'prompt'],
    ['acr_values=a&acr_values=b', 'acr_values'],
    ['login_hint=a%0d%0ab', 'login_hint'],
    ['ui_locales=%3Cscript%3E', 'ui_locales'],
  ])('a malformed parameter (%s) gets a 400 page and starts nothing', async (query, name) => {
    const res = await new UserAgent().get(`${s.bffUrl}/bff/login?${query}`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain(`(${name})`);
    expect(setCookieLine(res, 'bff_login')).toBeUndefined();
  });

  test('the deep link with its hash survives the sign-in', async () => {
    const res = await s.signIn(scriptAgent(), '/#/orders/7?tab=history');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/#/orders/7?tab=history');
  });

  test('max_age=0 makes the platform ask for the password again although a session exists', async () => {
    const { agent } = await signedIn();
    const start = await agent.get(`${s.bffUrl}/bff/login?max_age=0`);
    const page = await agent.get(start.headers.get('location')!);
    // Redirected to the login prompt rather than straight back with a code.
    expect(page.status).toBe(303);
    const next = await agent.get(new URL(page.headers.get('location')!, s.platform.issuer));
    expect(await next.text()).toContain('name="password"');
  });
});

describe('/bff/user', () => {
  test('returns the granted scopes and the MFA state', async () => {
    const { agent } = await signedIn();
    const body = await (await agent.get(`${s.bffUrl}/bff/user`)).json() as { scopes: string[]; mfa: unknown };
    // The access token's scopes: what the app may do at its API.
    expect(body.scopes).toEqual(expect.arrayContaining(['read', 'write']));
    expect(body.mfa).toEqual({ enrolled: expect.any(Boolean), required: expect.any(Boolean) });
  });
});

describe('back-channel logout', () => {
  test('signing out at the platform ends the BFF session at once', async () => {
    const { agent, cookie } = await signedIn();
    expect((await s.bff.inject({ method: 'GET', url: '/bff/user', headers: { cookie } })).statusCode).toBe(200);
    // The user signs out at the platform itself (not through the BFF): its confirmation page, then "yes".
    const page = await agent.get(`${s.platform.issuer}/oidc/session/end`);
    const html = await page.text();
    const done = await agent.post(new URL(formAction(html, '/session/end'), s.platform.issuer), { xsrf: hiddenField(html, 'xsrf')!, logout: 'yes' });
    expect(done.status).toBeLessThan(400);
    await expect.poll(async () => (await s.bff.inject({ method: 'GET', url: '/bff/user', headers: { cookie } })).statusCode, { timeout: 3000 }).toBe(401);
    expect(s.bffLogs.some((l) => l.includes('back-channel logout') && l.includes('"ended":1'))).toBe(true);
  });

  test('a non-form or empty body is a 400', async () => {
    const res = await s.bff.inject({ method: 'POST', url: '/bff/backchannel-logout', payload: 'logout_token=', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
  });
});

describe('back-channel logout tokens are validated (OIDC Back-Channel Logout §2.6)', () => {
  let k: Stack;
  let key: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  const kid = 'test-key';
  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    key = pair.privateKey;
    const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256' };
    k = await startStack({ deps: { logoutKeys: createLocalJWKSet({ keys: [jwk] }) } });
  });
  afterAll(async () => {
    await k?.close();
  });

  const token = (claims: Record<string, unknown>, opts: { aud?: string; iss?: string; signWith?: typeof key } = {}) =>
    new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, jti: crypto.randomUUID(), ...claims })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'logout+jwt' })
      .setIssuer(opts.iss ?? k.platform.issuer).setAudience(opts.aud ?? BFF_CLIENT).setIssuedAt()
      .sign(opts.signWith ?? key);
  const post = (logoutToken: string) => k.bff.inject({
    method: 'POST', url: '/bff/backchannel-logout', payload: new URLSearchParams({ logout_token: logoutToken }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });

  test('bad tokens are refused and end nothing; a good one ends the user\'s sessions once', async () => {
    const { cookie } = await signedIn(k);
    const sub = ((await k.bff.inject({ method: 'GET', url: '/bff/user', headers: { cookie } })).json() as { sub: string }).sub;
    const other = (await generateKeyPair('ES256')).privateKey;
    const bad = [
      await token({ sub }, { aud: 'another-client' }),
      await token({ sub }, { iss: 'https://elsewhere.test' }),
      await token({ sub }, { signWith: other }),
      await token({ sub, nonce: 'n' }),
      await token({ sub, events: {} }),
      await token({}),
    ];
    for (const t of bad) expect((await post(t)).statusCode).toBe(400);
    expect((await k.bff.inject({ method: 'GET', url: '/bff/user', headers: { cookie } })).statusCode).toBe(200);

    const good = await token({ sub });
    expect((await post(good)).statusCode).toBe(200);
    expect((await k.bff.inject({ method: 'GET', url: '/bff/user', headers: { cookie } })).statusCode).toBe(401);
    // The same token again is a replay.
    expect((await post(good)).statusCode).toBe(400);
    expect(sessionCount(k.store)).toBe(0);
  });
});

describe('public pass-through routes', () => {
  const registration = (origin: string | undefined, email: string) => fetch(`${s.bffUrl}/bff/public/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(origin ? { origin } : {}) },
    body: JSON.stringify({ email, password: 'a long enough password 123' }),
  });

  test('registration from the app\'s own origin reaches the platform, without any session credential', async () => {
    const res = await registration(s.publicOrigin, 'new.user@example.test');
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ status: expect.any(String) });
  });

  test('a cross-site call is refused before it reaches the platform', async () => {
    const res = await registration('https://evil.test', 'victim@example.test');
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'csrf_failed' });
    const cross = await fetch(`${s.bffUrl}/bff/public/register`, { method: 'POST', headers: { 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' }, body: '{}' });
    expect(cross.status).toBe(403);
  });

  test('the platform\'s validation errors come back unchanged; paths cannot climb out', async () => {
    const res = await registration(s.publicOrigin, 'not-an-email');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'validation_failed' });
    const climb = await fetch(`${s.bffUrl}/bff/public/register/..%2F..%2Fadmin`, { headers: { origin: s.publicOrigin } });
    expect(climb.status).toBe(400);
    const unknown = await fetch(`${s.bffUrl}/bff/public/other`, { method: 'POST', headers: { origin: s.publicOrigin } });
    expect(unknown.status).toBe(404);
  });
});
