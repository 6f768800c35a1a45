import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { API, baseConfig, CONF_SECRET, SERVICE_SECRET, USER } from './fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ config: baseConfig });
});
afterAll(async () => {
  await t?.close();
});

describe('health', () => {
  test('/healthz says the process is up; /readyz checks the store and migrations', async () => {
    expect(await (await fetch(`${t.issuer}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${t.issuer}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });
});

describe('home and security headers', () => {
  test('GET / links discovery and sign-in, with CSP and security headers', async () => {
    const res = await fetch(`${t.issuer}/`);
    const html = await res.text();
    expect(html).toContain('href="/.well-known/openid-configuration"');
    expect(html).toContain('href="/account"');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  });

  test('the sign-in page allows its form to reach only itself and the client', async () => {
    const agent = new UserAgent();
    const { res } = await agent.follow(await agent.get(`${t.issuer}/account`), `${t.issuer}/account`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain(`form-action 'self' ${t.issuer}`);
    expect(await res.text()).toContain('autocomplete="current-password"');
  });

  test('the account pages sign the administrator in through the authorization server', async () => {
    const agent = new UserAgent();
    const start = await agent.get(`${t.issuer}/account`);
    expect(start.headers.get('location')).toBe('/account/signin?return_to=%2Faccount');
    let { res, url } = await agent.follow(start, `${t.issuer}/account`);
    const action = new URL((await res.text()).match(/action="([^"]*\/login)"/)![1]!, t.issuer);
    ({ res, url } = await agent.follow(await agent.post(action, { username: 'admin', password: 'admin-password-for-tests' }), action.href));
    expect(new URL(url).pathname).toBe('/account');
    const page = await res.text();
    expect(res.status).toBe(200);
    expect(page).toContain('Your account');
    expect(page).toContain('admin');
    expect(page).toContain('/oidc/session/end');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  test('account pages answer in German when the browser asks for it', async () => {
    const agent = new UserAgent({ 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' });
    const { res } = await agent.follow(await agent.get(`${t.issuer}/account`), `${t.issuer}/account`);
    const html = await res.text();
    expect(html).toContain('<html lang="de">');
    expect(html).toContain('Benutzername oder E-Mail');
  });

  test('a cross-site form post is refused', async () => {
    const res = await fetch(`${t.issuer}/interaction/abcdefghijklmnop/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example', accept: 'text/html' },
      body: 'username=a&password=b',
    });
    expect(res.status).toBe(403);
  });
});

describe('metrics', () => {
  test('exposes requests by route and status, latency, tokens by grant and login outcomes', async () => {
    const service = await discover(t.issuer, { clientId: 'service', clientSecret: SERVICE_SECRET, auth: 'basic' });
    await oidc.clientCredentialsGrant(service, { resource: API });
    await codeFlow(await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET, auth: 'basic' }), new UserAgent(), t.issuer, USER);
    const text = await (await fetch(`${t.issuer}/metrics`)).text();
    expect(text).toMatch(/tessera_tokens_issued_total\{grant_type="client_credentials"\} [1-9]/);
    expect(text).toMatch(/tessera_tokens_issued_total\{grant_type="authorization_code"\} [1-9]/);
    expect(text).toMatch(/tessera_logins_total\{outcome="success"\} [1-9]/);
    expect(text).toMatch(/tessera_http_requests_total\{method="POST",route="\/oidc\/token",status="200"\} [1-9]/);
    expect(text).toMatch(/tessera_http_requests_total\{method="GET",route="\/interaction\/:uid",status="200"\} [1-9]/);
    expect(text).toMatch(/tessera_http_request_duration_seconds_bucket\{le="0.1",method="POST",route="\/oidc\/token"\}/);
  });
});

describe('logs', () => {
  test('JSON lines with a request id, and no passwords, codes or tokens', async () => {
    const rp = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET, auth: 'basic' });
    const { tokens, callback } = await codeFlow(rp, new UserAgent(), t.issuer, USER);
    await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    await fetch(`${t.issuer}/oidc/me`, { headers: { authorization: `Bearer ${tokens.access_token}`, 'x-request-id': 'trace-me-123' } });
    await new Promise((r) => setTimeout(r, 50));
    const lines = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    const completed = lines.filter((l) => l.msg === 'request completed');
    expect(completed.length).toBeGreaterThan(5);
    for (const l of completed) expect(typeof l.requestId).toBe('string');
    expect(completed.some((l) => l.requestId === 'trace-me-123')).toBe(true);
    const all = t.logs.join('\n');
    for (const secret of [USER.password, CONF_SECRET, tokens.access_token, tokens.refresh_token!, tokens.id_token!, callback.searchParams.get('code')!]) {
      expect(all).not.toContain(secret);
    }
  });

  test('no client secret, token or password reaches a line: token requests, introspection, a sign-in', async () => {
    const from = t.logs.length;
    const form = (body: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString() });
    const basic = `Basic ${Buffer.from(`service:${SERVICE_SECRET}`).toString('base64')}`;
    const cc = await fetch(`${t.issuer}/oidc/token`, { ...form({ grant_type: 'client_credentials', resource: API, scope: 'read' }), headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic } });
    expect(cc.status).toBe(200);
    const { access_token: token } = await cc.json() as { access_token: string };
    // Secrets in the body, refused (a `token request refused` line is written), and accepted.
    expect((await fetch(`${t.issuer}/oidc/token`, form({ grant_type: 'client_credentials', client_id: 'service', client_secret: SERVICE_SECRET }))).status).toBe(200);
    expect((await fetch(`${t.issuer}/oidc/token`, form({ grant_type: 'client_credentials', client_id: 'service', client_secret: `${SERVICE_SECRET}-wrong` }))).status).toBe(401);
    const rp = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET, auth: 'basic' });
    const { tokens } = await codeFlow(rp, new UserAgent(), t.issuer, USER);
    const intro = await fetch(`${t.issuer}/oidc/token/introspection`, form({ token: tokens.access_token, client_id: 'web-post', client_secret: CONF_SECRET }));
    expect(intro.status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    const lines = t.logs.slice(from);
    expect(lines.filter((l) => l.includes('"msg":"request completed"')).length).toBeGreaterThan(5);
    expect(lines.some((l) => l.includes('token request refused'))).toBe(true);
    const all = lines.join('\n');
    for (const secret of [SERVICE_SECRET, CONF_SECRET, token, USER.password, tokens.access_token, tokens.id_token!]) expect(all).not.toContain(secret);
  });

  test('the request id is echoed to the client', async () => {
    const res = await fetch(`${t.issuer}/healthz`, { headers: { 'x-request-id': 'abc-123' } });
    expect(res.headers.get('x-request-id')).toBe('abc-123');
    const generated = await fetch(`${t.issuer}/healthz`, { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('failed-credential throttling', () => {
  test('too many failed client authentications from one address get 429', async () => {
    const limited = await startTestApp({ config: baseConfig, env: { TESSERA_AUTH_FAILURES_PER_MINUTE: '3' } });
    try {
      const attempt = () => fetch(`${limited.issuer}/oidc/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('service:wrong-secret').toString('base64')}` },
        body: 'grant_type=client_credentials',
      });
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await attempt()).status);
      expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
      expect(statuses.slice(3)).toEqual([429, 429]);
      expect((await attempt()).headers.get('retry-after')).toBe('60');
      // A machine client with the right secret is not held back by failures from its address
      // (docs/security.md#lockout-and-throttling: successful client authentication is kept out of the throttle).
      const good = await fetch(`${limited.issuer}/oidc/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`service:${SERVICE_SECRET}`).toString('base64')}` },
        body: 'grant_type=client_credentials',
      });
      expect(good.status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
