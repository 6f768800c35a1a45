import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { request as httpRequest } from 'node:http';
import { decodeJwt } from 'jose';
import { UserAgent } from '../../server/test/helpers/agent.js';
import { API, scriptAgent, sessionCount, setCookieLine, startStack } from './helpers/stack.js';
import type { Stack } from './helpers/stack.js';

let s: Stack;
beforeAll(async () => {
  s = await startStack();
});
afterAll(async () => {
  await s?.close();
});

/** Signs in and returns the agent plus the CSRF token from /bff/user. */
async function signedIn(): Promise<{ agent: UserAgent; csrf: string; cookie: string }> {
  const agent = scriptAgent();
  const res = await s.signIn(agent);
  expect(res.status).toBe(303);
  const cookie = setCookieLine(res, 'bff_session')!.split(';')[0]!;
  const user = await agent.get(`${s.bffUrl}/bff/user`);
  expect(user.status).toBe(200);
  return { agent, cookie, csrf: ((await user.json()) as { csrf_token: string }).csrf_token };
}

describe('sign-in', () => {
  test('/bff/login redirects to the platform with code + PKCE S256 + state + nonce + resource, and sets a login cookie', async () => {
    const res = await new UserAgent().get(`${s.bffUrl}/bff/login?returnTo=/orders`);
    expect(res.status).toBe(302);
    const url = new URL(res.headers.get('location')!);
    expect(url.origin).toBe(s.platform.issuer);
    expect(url.pathname).toBe('/oidc/auth');
    const p = url.searchParams;
    expect(p.get('client_id')).toBe('bff');
    expect(p.get('response_type')).toBe('code');
    expect(p.get('redirect_uri')).toBe(`${s.publicOrigin}/bff/callback`);
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('resource')).toBe(API);
    expect(p.get('scope')).toBe('openid profile email read write');
    const login = setCookieLine(res, 'bff_login')!;
    expect(login).toMatch(/; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600$/);
    expect(login).not.toMatch(/Secure/);
  });

  test('the callback creates a session: HttpOnly, SameSite=Lax session cookie (not Secure over http), then returns to returnTo', async () => {
    const agent = scriptAgent();
    const res = await s.signIn(agent, '/orders?x=1');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/orders?x=1');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const cookie = setCookieLine(res, 'bff_session')!;
    expect(cookie).toMatch(/^bff_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
    // The login transaction cookie is cleared.
    expect(setCookieLine(res, 'bff_login')).toMatch(/Max-Age=0/);
    // The store holds a digest of the id, never the cookie value itself.
    const id = cookie.split(';')[0]!.split('=')[1]!;
    expect(JSON.stringify(s.store.values())).not.toContain(id);
  });

  test('signing in again issues a new session id and ends the previous session', async () => {
    const agent = scriptAgent();
    const first = setCookieLine(await s.signIn(agent), 'bff_session')!.split(';')[0]!;
    const size = sessionCount(s.store);
    const second = setCookieLine(await s.signIn(agent), 'bff_session')!.split(';')[0]!;
    expect(second).not.toBe(first);
    expect(sessionCount(s.store)).toBe(size);
    expect((await s.bff.inject({ method: 'GET', url: '/bff/user', headers: { cookie: first } })).statusCode).toBe(401);
    expect((await s.bff.inject({ method: 'GET', url: '/bff/user', headers: { cookie: second } })).statusCode).toBe(200);
  });

  test('returnTo cannot point off-site', async () => {
    for (const evil of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)']) {
      const agent = scriptAgent();
      const res = await s.signIn(agent, evil);
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/');
    }
  });

  test('a replayed callback, or one without the login cookie, is refused', async () => {
    const agent = scriptAgent();
    const start = await agent.get(`${s.bffUrl}/bff/login`);
    const { signInThrough } = await import('../../server/test/helpers/flows.js');
    const callback = await signInThrough(agent, start.headers.get('location')!, s.platform.issuer, { username: 'alice', password: 'correct horse battery staple' });
    const url = `${s.bffUrl}${callback.pathname}${callback.search}`;
    expect((await new UserAgent().get(url)).status).toBe(400);
    // The transaction was consumed by that attempt only if the cookie was sent; this agent still has it.
    expect((await agent.get(url)).status).toBe(303);
    expect((await agent.get(url)).status).toBe(400);
  });

  test('a callback with a foreign state is refused (login CSRF)', async () => {
    const victim = scriptAgent();
    await victim.get(`${s.bffUrl}/bff/login`);
    const attacker = scriptAgent();
    const start = await attacker.get(`${s.bffUrl}/bff/login`);
    const { signInThrough } = await import('../../server/test/helpers/flows.js');
    const callback = await signInThrough(attacker, start.headers.get('location')!, s.platform.issuer, { username: 'alice', password: 'correct horse battery staple' });
    const res = await victim.get(`${s.bffUrl}${callback.pathname}${callback.search}`);
    expect(res.status).toBe(400);
    expect(setCookieLine(res, 'bff_session')).toBeUndefined();
  });
});

describe('/bff/user', () => {
  test('shows claims and a CSRF token, never a token', async () => {
    const agent = scriptAgent();
    await s.signIn(agent);
    const res = await agent.get(`${s.bffUrl}/bff/user`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const text = await res.text();
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(body).toMatchObject({
      sub: expect.any(String),
      claims: { preferred_username: 'alice', name: 'Alice Liddell', email: 'alice@example.test', tenant: 'default' },
      csrf_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    expect(Object.keys(body).sort()).toEqual(['claims', 'csrf_token', 'mfa', 'scopes', 'session_expires_at', 'sub']);
    expect(text).not.toMatch(/eyJ/); // no JWT of any kind
    expect(text).not.toMatch(/access_token|refresh_token|id_token|nonce|at_hash/);
  });

  test('without a session: 401 login_required with a login URL', async () => {
    const res = await scriptAgent().get(`${s.bffUrl}/bff/user`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'login_required', login_url: '/bff/login' });
  });
});

describe('API proxy', () => {
  test('adds the bearer token (a JWT for the API), maps /api/* onto the API base and keeps the query', async () => {
    const { agent } = await signedIn();
    const before = s.api.requests.length;
    const res = await agent.request(`${s.bffUrl}/api/orders/42?expand=lines`, { method: 'GET', headers: { 'x-tessera-tenant': 'evil', authorization: 'Bearer forged' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ path: '/v1/orders/42?expand=lines', scope: 'read write' });
    const seen = s.api.requests.at(-1)!;
    expect(s.api.requests.length).toBe(before + 1);
    expect(seen.claims).toMatchObject({ aud: API, iss: s.platform.issuer, client_id: 'bff' });
    expect(decodeJwt(seen.token!).sub).toBe(seen.claims!.sub);
    // The browser's credentials and forged context never reach the API.
    expect(seen.headers.cookie).toBeUndefined();
    expect(seen.headers['x-tessera-tenant']).toBeUndefined();
    expect(seen.headers['x-bff-csrf']).toBeUndefined();
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    // The API's cookies never reach the browser; API responses cannot run as documents.
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(res.headers.get('x-api')).toBe('test');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
  });

  test('without a session: 401 login_required for scripts, a redirect to sign-in for navigations', async () => {
    const json = await scriptAgent().get(`${s.bffUrl}/api/orders`);
    expect(json.status).toBe(401);
    expect(await json.json()).toMatchObject({ error: 'login_required', login_url: '/bff/login' });
    // (Node's fetch always sends sec-fetch-mode: cors, so the navigation is injected.)
    const nav = await s.bff.inject({ method: 'GET', url: '/api/orders?a=1', headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate' } });
    expect(nav.statusCode).toBe(302);
    expect(nav.headers.location).toBe(`/bff/login?returnTo=${encodeURIComponent('/api/orders?a=1')}`);
  });

  test('a state-changing call without the CSRF header is refused with 403 and never reaches the API', async () => {
    const { agent, csrf } = await signedIn();
    const before = s.api.requests.length;
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const res = await agent.request(`${s.bffUrl}/api/items`, { method, body: '{"a":1}', headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ error: 'csrf_failed' });
    }
    const wrong = await agent.request(`${s.bffUrl}/api/items`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', 'x-bff-csrf': `${csrf.slice(0, -1)}${csrf.endsWith('A') ? 'B' : 'A'}` } });
    expect(wrong.status).toBe(403);
    const foreign = await agent.request(`${s.bffUrl}/api/items`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', 'x-bff-csrf': csrf, origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
    // A form-encoded cross-site POST (what a hostile page can send) is refused too.
    const form = await agent.post(`${s.bffUrl}/api/items`, { a: '1' });
    expect(form.status).toBe(403);
    expect(s.api.requests.length).toBe(before);
  });

  test('with the CSRF header, writes go through with their body', async () => {
    const { agent, csrf } = await signedIn();
    const res = await agent.request(`${s.bffUrl}/api/items`, {
      method: 'POST', body: '{"name":"widget"}',
      headers: { 'content-type': 'application/json', 'x-bff-csrf': csrf, origin: s.publicOrigin },
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ method: 'POST', path: '/v1/items', body: '{"name":"widget"}' });
    const del = await agent.request(`${s.bffUrl}/api/items/1`, { method: 'DELETE', headers: { 'x-bff-csrf': csrf } });
    expect(del.status).toBe(200);
  });

  test('paths that would climb out of the API base are refused', async () => {
    const { cookie } = await signedIn();
    const before = s.api.requests.length;
    // Raw request lines: fetch would normalise the dot segments before sending.
    for (const path of ['/api/../admin', '/api/%2e%2e/admin', '/api/a/%2E%2E/%2e%2e/admin', '/api/a%2F..%2F..%2Fadmin', '/api/a\\..\\admin']) {
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${s.bffUrl}/`, { path, headers: { cookie, accept: 'application/json' } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.end();
      });
      expect([400, 404], path).toContain(status);
    }
    expect(s.api.requests.length).toBe(before);
  });

  test('an unreachable API gives 502 bad_gateway', async () => {
    const { createBff } = await import('../src/app.js');
    const { loadBffConfig } = await import('../src/config.js');
    const { freePort } = await import('../../server/test/helpers/app.js');
    const dead = await freePort();
    const cfg = loadBffConfig({ ...Object.fromEntries(Object.entries({
      BFF_ISSUER: s.config.issuer, BFF_CLIENT_ID: 'bff', BFF_CLIENT_SECRET: s.config.clientSecret,
      BFF_REDIRECT_URI: s.config.redirectUri, BFF_API_BASE: `http://127.0.0.1:${dead}`, LOG_LEVEL: 'silent',
    })) });
    const bff = createBff(cfg, { store: s.store });
    const { cookie } = await signedIn();
    const res = await bff.inject({ method: 'GET', url: '/api/x', headers: { cookie, accept: 'application/json' } });
    expect(res.statusCode).toBe(502);
    expect(res.json()).toMatchObject({ error: 'bad_gateway' });
    await bff.close();
  });
});

describe('logout', () => {
  test('requires the CSRF token, ends the local session, revokes the refresh token and points at end_session', async () => {
    const { agent, csrf } = await signedIn();
    const stored = s.store.values().find((v) => (v as { refreshToken?: string }).refreshToken) as { refreshToken: string; idToken: string } | undefined;
    expect(stored).toBeDefined();
    const refused = await agent.request(`${s.bffUrl}/bff/logout`, { method: 'POST' });
    expect(refused.status).toBe(403);
    expect((await agent.get(`${s.bffUrl}/bff/user`)).status).toBe(200);

    const res = await agent.request(`${s.bffUrl}/bff/logout`, { method: 'POST', headers: { 'x-bff-csrf': csrf } });
    expect(res.status).toBe(200);
    expect(setCookieLine(res, 'bff_session')).toMatch(/Max-Age=0/);
    const { redirect } = (await res.json()) as { redirect: string };
    const url = new URL(redirect);
    expect(`${url.origin}${url.pathname}`).toBe(`${s.platform.issuer}/oidc/session/end`);
    expect(url.searchParams.get('post_logout_redirect_uri')).toBe(`${s.publicOrigin}/`);
    expect(url.searchParams.get('id_token_hint')).toMatch(/^eyJ/);
    expect((await agent.get(`${s.bffUrl}/bff/user`)).status).toBe(401);
    expect((await agent.get(`${s.bffUrl}/api/orders`)).status).toBe(401);

    // The platform's confirmation page follows, and returns to the post-logout URI.
    const confirm = await agent.get(url);
    expect(confirm.status).toBe(200);
    const html = await confirm.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    const done = await agent.post(new URL(action, s.platform.issuer), { ...(xsrf ? { xsrf } : {}), logout: 'yes' });
    const { url: final } = await agent.follow(done, new URL(action, s.platform.issuer).href);
    expect(final).toBe(`${s.publicOrigin}/`);
  });

  test('the no-script form (csrf field) gets a 303 to end_session', async () => {
    const { agent, csrf, cookie } = await signedIn();
    const res = await new UserAgent().request(`${s.bffUrl}/bff/logout`, {
      method: 'POST', body: new URLSearchParams({ csrf }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toContain('/oidc/session/end?');
    expect((await agent.get(`${s.bffUrl}/bff/user`)).status).toBe(401);
  });
});

describe('logs', () => {
  test('hold no tokens, authorization codes, CSRF tokens or session ids', async () => {
    const { agent, cookie, csrf } = await signedIn();
    await agent.get(`${s.bffUrl}/api/orders?secret=shh`);
    const log = s.bffLogs.join('\n');
    expect(log).toContain('"path":"/bff/callback"');
    expect(log).not.toMatch(/eyJ|code=|shh/);
    expect(log).not.toContain(cookie.split('=')[1]!);
    expect(log).not.toContain(csrf);
  });
});
