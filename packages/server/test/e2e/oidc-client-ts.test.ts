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
 * (the revocation answer must not make it throw).
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
  + '<script src="/oidc-client-ts.min.js"></script><script src="/app.js"></script>';

beforeAll(async () => {
  const port = await freePort();
  spaUrl = `http://localhost:${port}`;
  t = await startTestApp({
    config: {
      clients: [{
        client_id: 'spa-ts', client_name: 'oidc-client-ts SPA', token_endpoint_auth_method: 'none', first_party: true,
        grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: [`${spaUrl}/callback`], post_logout_redirect_uris: [`${spaUrl}/`],
      }],
      users: [{ ...USER, email: 'alice@example.test', email_verified: true }],
    },
  });
  spa = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/oidc-client-ts.min.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(LIBRARY);
    if (path === '/app.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(APP(t.issuer, spaUrl));
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
});
