import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Browser } from 'playwright-core';
import { freePort, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { USER } from '../fixtures.js';
import { launchBrowser, newSession } from './browser.js';

/**
 * oidc-client-ts (a public SPA client with PKCE) in Chromium, with the
 * settings of docs/relying-parties.md and nothing else: sign-in, silent
 * renewal with the refresh token, and sign-out with `revokeTokensOnSignout`
 * (the revocation answer must not make it throw). Refresh-token rotation
 * (issue 21): each silent renewal gets a new refresh token, the old one is
 * refused, and its reuse revokes the family (the library's next renewal fails).
 * (The confidential counterpart, a BFF holding the tokens, is
 * packages/bff/test/e2e/rotation.test.ts.)
 */

const require = createRequire(import.meta.url);
// The package's browser build (its exports map does not list it: found next to the resolved entry).
const LIBRARY = readFileSync(join(dirname(require.resolve('oidc-client-ts')), '..', 'browser', 'oidc-client-ts.min.js'));

let t: TestApp;
let browser: Browser;
let spa: Server;
let spaUrl: string;

/** The SPA: one page, one script (the library) and the app script. */
const APP = (issuer: string, origin: string) => `
const mgr = new oidc.UserManager({
  authority: ${JSON.stringify(issuer)},
  client_id: 'spa-ts',
  redirect_uri: ${JSON.stringify(`${origin}/callback`)},
  post_logout_redirect_uri: ${JSON.stringify(`${origin}/`)},
  scope: 'openid profile email',
  // Tessera puts profile claims in UserInfo (or in the ID token for clients with id_token_claims).
  loadUserInfo: true,
  revokeTokensOnSignout: true,
});
const out = (k, v) => { document.getElementById(k).textContent = typeof v === 'string' ? v : JSON.stringify(v); };
window.app = {
  login: () => mgr.signinRedirect(),
  renew: async () => { const u = await mgr.signinSilent(); out('renewed', u.access_token); return u.access_token; },
  // What the library keeps (sessionStorage): read by the test to present an old refresh token itself.
  refreshToken: async () => (await mgr.getUser())?.refresh_token ?? null,
  tryRenew: () => mgr.signinSilent().then(() => 'renewed', (e) => String(e)),
  logout: () => mgr.signoutRedirect().catch((e) => out('error', String(e))),
};
(async () => {
  try {
    if (location.pathname === '/callback') { await mgr.signinRedirectCallback(); history.replaceState(null, '', '/'); }
    const user = await mgr.getUser();
    out('user', user ? user.profile.preferred_username : 'signed out');
    if (user) { out('access', user.access_token); out('refresh', user.refresh_token ? 'yes' : 'no'); }
  } catch (e) { out('error', String(e)); }
})();
`;
const PAGE = '<!doctype html><title>SPA</title><p id="user"></p><p id="access"></p><p id="refresh"></p><p id="renewed"></p><p id="error"></p>'
  + '<script src="/oidc-client-ts.min.js"></script><script src="/client.js"></script><script src="/app.js"></script>';
/** Remembers ?client= for the rest of the tab's life (the callback comes back without it). */
const CLIENT_PICK = "const c = new URLSearchParams(location.search).get('client'); if (c) sessionStorage.setItem('client', c);";

beforeAll(async () => {
  const port = await freePort();
  spaUrl = `http://localhost:${port}`;
  t = await startTestApp({
    config: {
      clients: [{
        client_id: 'spa-ts', client_name: 'oidc-client-ts SPA', token_endpoint_auth_method: 'none', first_party: true,
        grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: [`${spaUrl}/callback`], post_logout_redirect_uris: [`${spaUrl}/`],
      }, {
        // The same SPA for the rotation test, without the grace period: an old token is reuse at once.
        client_id: 'spa-rotation', client_name: 'oidc-client-ts SPA (rotation)', token_endpoint_auth_method: 'none', first_party: true,
        grant_types: ['authorization_code', 'refresh_token'], refresh_token_grace_period: 0,
        redirect_uris: [`${spaUrl}/callback`], post_logout_redirect_uris: [`${spaUrl}/`],
      }],
      users: [{ ...USER, email: 'alice@example.test', email_verified: true }],
    },
  });
  spa = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/client.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(CLIENT_PICK);
    if (path === '/oidc-client-ts.min.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(LIBRARY);
    if (path === '/app.js') {
      // ?client=spa-rotation on the page's first load picks the client (kept for the callback in sessionStorage).
      return res.writeHead(200, { 'content-type': 'text/javascript' }).end(APP(t.issuer, spaUrl).replace("client_id: 'spa-ts'",
        "client_id: sessionStorage.getItem('client') ?? 'spa-ts'"));
    }
    return res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  });
  await new Promise<void>((r) => spa.listen(port, '127.0.0.1', r));
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await new Promise((r) => spa?.close(r));
  await t?.close();
});

describe('oidc-client-ts', () => {
  test('signs in, renews silently with the refresh token, and signs out with revokeTokensOnSignout without an error', async () => {
    const { context, page } = await newSession(browser);
    const revocations: number[] = [];
    page.on('response', (res) => {
      if (res.url().endsWith('/oidc/token/revocation')) revocations.push(res.status());
    });
    await page.goto(`${spaUrl}/`);
    await page.locator('#user', { hasText: 'signed out' }).waitFor();
    // The page navigates away while the call runs: its promise is dropped with the page.
    page.evaluate(() => (window as unknown as { app: { login(): void } }).app.login()).catch(() => {});
    await page.waitForURL(/\/interaction\//);
    await page.getByLabel('Username or email').fill(USER.username);
    await page.getByLabel('Password').fill(USER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${spaUrl}/`);
    await page.locator('#user:not(:empty)').waitFor();
    expect(await page.locator('#error').textContent()).toBe('');
    expect(await page.locator('#user').textContent()).toBe(USER.username);
    expect(await page.locator('#refresh').textContent()).toBe('yes');
    const first = await page.locator('#access').textContent();

    const renewed = await page.evaluate(() => (window as unknown as { app: { renew(): Promise<string> } }).app.renew());
    expect(renewed).toMatch(/.+/);
    expect(renewed).not.toBe(first);

    page.evaluate(() => (window as unknown as { app: { logout(): void } }).app.logout()).catch(() => {});
    await page.waitForURL(/\/oidc\/session\/end/);
    // Signed out at Tessera without a question (valid id_token_hint) and back at the SPA.
    await page.waitForURL(`${spaUrl}/`);
    await page.locator('#user', { hasText: 'signed out' }).waitFor();
    expect(await page.locator('#error').textContent()).toBe('');
    // Both tokens were revoked, each answered 200 (empty, no content type: oidc-client-ts accepts it).
    expect(revocations).toEqual([200, 200]);
    await context.close();
  });

  test('rotation: each silent renewal returns a new refresh token; the old one is refused and its reuse revokes the family', async () => {
    type App = { app: { login(): void; renew(): Promise<string>; refreshToken(): Promise<string | null>; tryRenew(): Promise<string> } };
    const { context, page } = await newSession(browser);
    await page.goto(`${spaUrl}/?client=spa-rotation`);
    await page.locator('#user', { hasText: 'signed out' }).waitFor();
    page.evaluate(() => (window as unknown as App).app.login()).catch(() => {});
    await page.waitForURL(/\/interaction\//);
    await page.getByLabel('Username or email').fill(USER.username);
    await page.getByLabel('Password').fill(USER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${spaUrl}/`);
    await page.locator('#user:not(:empty)').waitFor();
    expect(await page.locator('#user').textContent()).toBe(USER.username);
    const refreshTokens = [await page.evaluate(() => (window as unknown as App).app.refreshToken())];

    // Two silent renewals: each stores a new refresh token, and the page keeps its user.
    for (let i = 0; i < 2; i++) {
      expect(await page.evaluate(() => (window as unknown as App).app.renew())).toMatch(/.+/);
      refreshTokens.push(await page.evaluate(() => (window as unknown as App).app.refreshToken()));
    }
    expect(refreshTokens.every((r) => typeof r === 'string' && r.length > 0)).toBe(true);
    expect(new Set(refreshTokens).size).toBe(3);
    expect(await page.locator('#error').textContent()).toBe('');

    // The first (rotated-out) token, presented again: refused, and the whole grant is revoked.
    const reuse = await fetch(`${t.issuer}/oidc/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshTokens[0]!, client_id: 'spa-rotation' }),
    });
    expect(reuse.status).toBe(400);
    expect(((await reuse.json()) as { error: string }).error).toBe('invalid_grant');
    // So the library's next renewal, with the newest token, fails too.
    expect(await page.evaluate(() => (window as unknown as App).app.tryRenew())).toMatch(/grant request is invalid|invalid_grant/);
    await context.close();
  });
});
