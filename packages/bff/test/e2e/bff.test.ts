import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import { launchBrowser, newSession } from '../../../server/test/e2e/browser.js';
import { registerExamplePages } from '../../../../examples/bff/app.js';
import { USER, startStack } from '../helpers/stack.js';
import type { Stack } from '../helpers/stack.js';

/** Short enough to wait out in a test: the API's JWT access tokens live this long. */
const API_TTL = 4;

let s: Stack;
let browser: Browser;
beforeAll(async () => {
  // The example app on `localhost`, the platform on 127.0.0.1: different sites, as in production.
  s = await startStack({ host: 'localhost', apiTtl: API_TTL, env: { BFF_RENEW_BEFORE: '1' }, extend: (app) => registerExamplePages(app) });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await s?.close();
});

describe('the BFF example in Chromium', () => {
  test('sign in, call the API, CSRF-less write refused, renewal after expiry, logout', async () => {
    const { context, page } = await newSession(browser);
    const scriptErrors: string[] = [];
    page.on('pageerror', (err) => scriptErrors.push(err.message));
    page.on('console', (msg) => {
      // Refused requests (401, 403) and the missing favicon are logged by Chromium; they are not script errors.
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) scriptErrors.push(msg.text());
    });

    // Signed out: the page says so and offers a plain sign-in link.
    await page.goto(`${s.publicOrigin}/`);
    await expect.poll(() => page.locator('#status').textContent()).toBe('You are not signed in.');
    await page.getByRole('link', { name: 'Sign in' }).click();

    // The platform's hosted sign-in page.
    await page.waitForURL((url) => url.href.startsWith(`${s.platform.issuer}/interaction/`));
    await page.getByLabel('Username or email').fill(USER.username);
    await page.getByLabel('Password').fill(USER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();

    // Back on the example page, signed in.
    await page.waitForURL(`${s.publicOrigin}/`);
    await expect.poll(() => page.locator('#who').textContent()).toBe('Alice Liddell');
    const cookies = await context.cookies(s.publicOrigin);
    const session = cookies.find((c) => c.name === 'bff_session')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', secure: false, path: '/' });
    // Scripts on the page can read neither the cookie nor any token.
    // (A string expression: this file is type-checked without the DOM library.)
    expect(await page.evaluate('document.cookie')).not.toContain('bff_session');
    expect(await page.evaluate(async () => (await fetch('/bff/user')).text())).not.toMatch(/eyJ/);

    // Call the API through the BFF.
    await page.getByRole('button', { name: 'Call the API' }).click();
    await expect.poll(() => page.locator('#output').textContent()).toContain('"path":"/v1/hello"');
    expect(await page.locator('#output').textContent()).toMatch(/^200\n/);
    const first = s.api.requests.at(-1)!;
    expect(first.claims).toBeDefined();

    // A write without the CSRF header (what a script injected elsewhere, or a hostile form, would send) is refused.
    const postsBefore = s.api.requests.filter((r) => r.method === 'POST').length;
    const refused = await page.evaluate(async () => {
      const res = await fetch('/api/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":1}' });
      return { status: res.status, body: await res.json() as { error: string } };
    });
    expect(refused).toEqual({ status: 403, body: expect.objectContaining({ error: 'csrf_failed' }) });
    expect(s.api.requests.filter((r) => r.method === 'POST').length).toBe(postsBefore);
    // The page's own write (with the token from /bff/user) goes through.
    await page.getByRole('button', { name: 'Write through the API' }).click();
    await expect.poll(() => page.locator('#output').textContent()).toMatch(/^201\n/);
    expect(s.api.requests.filter((r) => r.method === 'POST').length).toBe(postsBefore + 1);

    // Renewal: wait until the access token has expired, call again.
    await sleep(API_TTL * 1000 + 500);
    await page.getByRole('button', { name: 'Call the API' }).click();
    await expect.poll(() => page.locator('#output').textContent()).toMatch(/^200\n/);
    const renewed = s.api.requests.at(-1)!;
    expect(renewed.url).toBe('/v1/hello');
    expect(renewed.claims).toBeDefined();
    expect(renewed.token).not.toBe(first.token);
    expect(renewed.claims!.exp!).toBeGreaterThan(first.claims!.exp! + API_TTL - 1);

    // Logout: local session ended, then the platform signs out without a question (a valid
    // id_token_hint for this session: the page posts itself), then back to the post-logout URI.
    // The page is at the post-logout URI already: wait for the navigation back from the
    // platform (after it), not for the URL, which matches before the sign-out has started.
    let sawPlatform = false;
    page.on('request', (r) => { if (r.isNavigationRequest() && new URL(r.url()).origin === new URL(s.platform.issuer).origin) sawPlatform = true; });
    const back = page.waitForEvent('framenavigated', { predicate: (f) => sawPlatform && f === page.mainFrame() && f.url() === `${s.publicOrigin}/` });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await back;
    await page.waitForLoadState('load');
    expect(await page.getByRole('button', { name: 'Yes, sign me out' }).count()).toBe(0);
    await expect.poll(() => page.locator('#status').textContent()).toBe('You are not signed in.');
    expect(await page.evaluate(async () => (await fetch('/bff/user')).status)).toBe(401);
    expect(await page.evaluate(async () => (await fetch('/api/hello', { headers: { accept: 'application/json' } })).status)).toBe(401);
    // Signed out at the platform too: signing in again asks for the password.
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.waitForURL((url) => url.href.startsWith(`${s.platform.issuer}/interaction/`));
    await expect.poll(() => page.getByLabel('Password').count()).toBe(1);

    expect(scriptErrors).toEqual([]);
    await context.close();
  });

  test('a page on another site cannot write through the BFF, even while the user is signed in', async () => {
    const { context, page } = await newSession(browser);
    await page.goto(`${s.publicOrigin}/bff/login?returnTo=/`);
    await page.getByLabel('Username or email').fill(USER.username);
    await page.getByLabel('Password').fill(USER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${s.publicOrigin}/`);
    await expect.poll(() => page.locator('#who').textContent()).toBe('Alice Liddell');

    const postsBefore = s.api.requests.filter((r) => r.method === 'POST' && r.claims).length;
    // Another site (the test API's origin, a page without CSP, stands in for it) tries a credentialed cross-site POST.
    await page.goto(`${s.api.url}/attacker`);
    await page.evaluate(async (target) => {
      await fetch(target, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '{"x":1}' })
        .catch(() => undefined);
    }, `${s.publicOrigin}/api/items`);
    // A cross-site form POST (a top-level navigation) fares no better.
    await page.setContent(`<form method="post" action="${s.publicOrigin}/api/items"><button>Win a prize</button></form>`);
    await page.getByRole('button', { name: 'Win a prize' }).click();
    await page.waitForURL(`${s.publicOrigin}/api/items`);
    expect(await page.locator('body').textContent()).toContain('login_required');
    expect(s.api.requests.filter((r) => r.method === 'POST' && r.claims).length).toBe(postsBefore);
    await context.close();
  });
});
