import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { freePort, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { UPSTREAM_CLIENT, startUpstream } from '../helpers/upstream.js';
import type { Upstream } from '../helpers/upstream.js';
import { startEcho, startGateway } from '../../../gateway/test/helpers.js';
import type { Echo, StartedGateway } from '../../../gateway/test/helpers.js';
import { launchBrowser, newSession } from './browser.js';
import { spaAddress, startSpa } from './spa.js';
import type { Spa } from './spa.js';

/**
 * The dashboard flow of issue 10, end to end in Chromium: an oidc-client-ts
 * SPA (public client, PKCE) signs in at Tessera, the person picks the
 * corporate upstream (a bare oidc-provider on its own origin), comes back,
 * and the SPA calls the dashboard API through the gateway: 200 for a person
 * whose upstream group maps to the required role, 403 for one without; the
 * same token tampered with, or expired, is 401.
 */

const API = 'https://dashboard.api.test';
const SHORT_API = 'https://short.dashboard.api.test';

let t: TestApp;
let upstream: Upstream;
let echo: Echo;
let gw: StartedGateway;
let browser: Browser;
let spa: Spa;
let spaUrl: string;

const APP = (issuer: string, origin: string, gateway: string, resource: string) => `
// The API to sign in for: the default, or the one loginFor() chose (kept for the callback's token request).
const resource = sessionStorage.getItem('resource') || ${JSON.stringify(resource)};
const manager = (r) => new oidc.UserManager({
  authority: ${JSON.stringify(issuer)}, client_id: 'dashboard', redirect_uri: ${JSON.stringify(`${origin}/callback`)},
  scope: 'openid profile email dashboard:read', extraQueryParams: { resource: r }, extraTokenParams: { resource: r },
});
const mgr = manager(resource);
const out = (k, v) => { document.getElementById(k).textContent = typeof v === 'string' ? v : JSON.stringify(v); };
window.app = {
  login: () => mgr.signinRedirect(),
  loginFor: (r) => { sessionStorage.setItem('resource', r); return manager(r).signinRedirect(); },
  async call() {
    const user = await mgr.getUser();
    const res = await fetch(${JSON.stringify(`${gateway}/dashboard/stats`)}, { headers: { authorization: 'Bearer ' + user.access_token } });
    out('api', String(res.status));
    return res.status;
  },
  token: async () => (await mgr.getUser()).access_token,
};
(async () => {
  try {
    if (location.pathname === '/callback') { await mgr.signinRedirectCallback(); history.replaceState(null, '', '/'); }
    const user = await mgr.getUser();
    out('user', user ? user.profile.email : 'signed out');
  } catch (e) { out('error', String(e)); }
})();
`;

beforeAll(async () => {
  const upstreamPort = await freePort();
  const address = await spaAddress();
  spaUrl = address.url;
  t = await startTestApp({
    config: {
      apis: [
        { identifier: API, name: 'Dashboard API', scopes: ['dashboard:read'], signing_alg: 'ES256' },
        { identifier: SHORT_API, name: 'Short-lived', scopes: ['dashboard:read'], signing_alg: 'ES256', access_token_ttl: 1 },
      ],
      roles: [{ name: 'analyst', tenant: 'default' }],
      clients: [{
        client_id: 'dashboard', client_name: 'Dashboard', token_endpoint_auth_method: 'none', first_party: true,
        grant_types: ['authorization_code'], redirect_uris: [`${spaUrl}/callback`], scope: 'openid profile email dashboard:read',
      }],
      identity_providers: [{
        alias: 'corp', type: 'oidc', display_name: 'Corp', issuer: `http://localhost:${upstreamPort}`, client_id: UPSTREAM_CLIENT.id,
        client_secret: UPSTREAM_CLIENT.secret, scopes: ['openid', 'email', 'profile', 'groups'], jit: 'create', trust_email_verified: true,
        group_mappings: [{ group: 'analysts', roles: ['analyst'] }],
      }],
    },
    env: { TESSERA_OUTBOUND_PRIVATE_HOSTS: 'localhost' },
  });
  upstream = await startUpstream([`${t.issuer}/federation/corp/callback`], upstreamPort);
  echo = await startEcho();
  gw = await startGateway({
    issuer: t.issuer, audience: API, clock_tolerance: 0,
    routes: [
      { prefix: '/dashboard', upstream: echo.url, scopes: ['dashboard:read'], roles: ['analyst'], cors: { origins: [spaUrl], headers: ['authorization'] } },
      { prefix: '/short', upstream: echo.url, audience: SHORT_API },
    ],
  });
  spa = await startSpa(address, { elements: ['user', 'api', 'error'], app: (url) => APP(t.issuer, url, gw.url, API) });
  browser = await launchBrowser();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await spa?.close();
  await gw?.close();
  await echo?.close();
  await t?.close();
  await upstream?.close();
});

/** Signs in from the SPA through the upstream (the test queued who signs in there); returns the page. */
async function signInThroughCorp(page: Page): Promise<void> {
  await page.goto(`${spaUrl}/`);
  await page.locator('#user', { hasText: 'signed out' }).waitFor();
  page.evaluate(() => (window as unknown as { app: { login(): void } }).app.login()).catch(() => {});
  await page.waitForURL(/\/interaction\//);
  await page.getByRole('link', { name: 'Sign in with Corp' }).click();
  await page.waitForURL(`${spaUrl}/`, { timeout: 30_000 });
  await page.locator('#user:not(:empty)').waitFor();
  expect(await page.locator('#error').textContent()).toBe('');
}

const callApi = (page: Page) => page.evaluate(() => (window as unknown as { app: { call(): Promise<number> } }).app.call());

describe('the dashboard through an upstream identity provider', () => {
  test('a member of the mapped group: 200 through the gateway; the token tampered with: 401', async () => {
    upstream.next({ sub: 'up-ana', email: 'ana@corp.test', email_verified: true, name: 'Ana Analyst', groups: ['analysts'] });
    const { context, page } = await newSession(browser);
    await signInThroughCorp(page);
    expect(await page.locator('#user').textContent()).toBe('ana@corp.test');
    expect(await callApi(page)).toBe(200);

    const token = await page.evaluate(() => (window as unknown as { app: { token(): Promise<string> } }).app.token());
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims.aud).toBe(API);
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url')}.${s}`;
    const tampered = await fetch(`${gw.url}/dashboard/stats`, { headers: { authorization: `Bearer ${forged}` } });
    expect(tampered.status).toBe(401);
    expect(tampered.headers.get('www-authenticate')).toContain('error="invalid_token"');
    await context.close();
  });

  test('someone without the group: 403 insufficient_scope (the role), not a 200', async () => {
    upstream.next({ sub: 'up-bo', email: 'bo@corp.test', email_verified: true, name: 'Bo Other', groups: ['sales'] });
    const { context, page } = await newSession(browser);
    await signInThroughCorp(page);
    expect(await page.locator('#user').textContent()).toBe('bo@corp.test');
    expect(await callApi(page)).toBe(403);
    await context.close();
  });

  test('an expired token of the federated user: 401', async () => {
    upstream.next({ sub: 'up-ana', email: 'ana@corp.test', email_verified: true, name: 'Ana Analyst', groups: ['analysts'] });
    const { context, page } = await newSession(browser);
    await page.goto(`${spaUrl}/`);
    await page.locator('#user', { hasText: 'signed out' }).waitFor();
    // Sign in asking for the short-lived API instead (its tokens live one second).
    page.evaluate((short) => (window as unknown as { app: { loginFor(r: string): Promise<void> } }).app.loginFor(short), SHORT_API).catch(() => {});
    await page.waitForURL(/\/interaction\//);
    await page.getByRole('link', { name: 'Sign in with Corp' }).click();
    await page.waitForURL(`${spaUrl}/`, { timeout: 30_000 });
    await page.locator('#user:not(:empty)').waitFor();
    const token = await page.evaluate(() => (window as unknown as { app: { token(): Promise<string> } }).app.token());
    expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).aud).toBe(SHORT_API);
    await new Promise((r) => setTimeout(r, 2_100));
    const expired = await fetch(`${gw.url}/short/x`, { headers: { authorization: `Bearer ${token}` } });
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toContain('error="invalid_token"');
    await context.close();
  });
});
