import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, newSession } from '../../../server/test/e2e/browser.js';
import { watchCsp } from '../../../server/test/e2e/console.js';
import { enrollTotp, signInToAccount } from '../../../server/test/helpers/mfa.js';
import type { Authenticator } from '../../../server/test/helpers/mfa.js';
import { DEMO_USERS, startShellDemo } from '../../../../examples/shell/demo.js';
import type { ShellDemo } from '../../../../examples/shell/demo.js';

/**
 * The shell demo (examples/shell) in Chromium: a portal shell with two
 * micro-frontends sharing the browser SDK's session, behind the BFF, the
 * gateway and the example backend, against a real Tessera.
 */

let demo: ShellDemo;
let browser: Browser;
let dir: string;
let ada: Authenticator;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-shell-'));
  demo = await startShellDemo({ dataDir: dir, ports: {}, logLevel: 'warn' });
  // Ada has an authenticator app (set up on the account pages), for the payout step-up.
  const account = await signInToAccount(demo.issuer, DEMO_USERS.ada);
  ada = (await enrollTotp(account, demo.issuer)).authenticator;
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await demo?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Fills the hosted sign-in page. */
async function signInAt(page: Page, creds: { username: string; password: string }): Promise<void> {
  await page.waitForURL(/\/interaction\//);
  await page.getByLabel('Username or email').fill(creds.username);
  await page.getByLabel('Password').fill(creds.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** API calls the page's scripts made through the BFF, in order. */
function apiCalls(page: Page): Array<{ path: string; status: number }> {
  const seen: Array<{ path: string; status: number }> = [];
  page.on('response', (res) => {
    const url = new URL(res.url());
    if (url.pathname.startsWith('/api/')) seen.push({ path: url.pathname, status: res.status() });
  });
  return seen;
}

describe('the shell demo', () => {
  test('a deep link opened signed out lands exactly there after sign-in; no API call before; both micro-frontends render', async () => {
    const { context, page } = await newSession(browser);
    const csp = watchCsp(page);
    const calls = apiCalls(page);
    await page.goto(`${demo.shellUrl}/#/orders/7?tab=history`);
    await signInAt(page, DEMO_USERS.ada);
    await page.waitForURL(`${demo.shellUrl}/#/orders/7?tab=history`);
    await expect.poll(() => page.locator('[data-tab="history"]').count()).toBe(1);
    expect(await page.locator('h1').first().textContent()).toBe('Order 7');
    // The user card (profile micro-frontend) and the orders micro-frontend read the same session.
    expect(await page.locator('#user-card .who').textContent()).toBe('Ada Lovelace');
    // Nothing protected was asked for before the sign-in: the first API call is the order, and it worked.
    expect(calls[0]).toEqual({ path: '/api/orders/7', status: 200 });
    await page.click('a[data-nav="profile"]');
    await expect.poll(() => page.locator('[data-mfe="profile"] dd').first().textContent()).toBe('ada@shell.example');
    expect(await page.locator('[data-mfe="profile"]').textContent()).toContain('orders, payouts');
    expect(csp.violations).toEqual([]);
    await context.close();
  });

  test('a payout steps up through TOTP and succeeds on the retry, back on the same page', async () => {
    const { context, page } = await newSession(browser);
    const calls = apiCalls(page);
    await page.goto(`${demo.shellUrl}/#/orders/3?tab=history`);
    await signInAt(page, DEMO_USERS.ada);
    await page.locator('#payout').waitFor();

    const clickedAt = Date.now();
    await page.click('#payout');
    // The API asked for a second factor; the SDK went to sign in with acr_values; the platform asks for the code only.
    await page.locator('#totp-code').waitFor();
    const atChallenge = Date.now();
    expect(calls.at(-1)).toEqual({ path: '/api/payouts', status: 401 });
    expect(await page.locator('input[name="password"]').count()).toBe(0);
    const code = await ada.nextCode();
    const submittedAt = Date.now();
    await page.locator('#totp-code').fill(code);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${demo.shellUrl}/#/orders/3?tab=history`);
    await page.locator('#payout-outcome[data-state="paid"]').waitFor();
    const doneAt = Date.now();
    expect(await page.locator('#payout-outcome').textContent()).toBe('Payout of 10.00 on order 3 done.');
    expect(calls.filter((c) => c.path === '/api/payouts').map((c) => c.status)).toEqual([401, 201]);
    // The added latency of the step-up round trip (excluding the person typing the code): see the issue note.
    console.log(`step-up round trip: ${atChallenge - clickedAt} ms to the challenge page, ${doneAt - submittedAt} ms from the code to the replayed payout`);
    await context.close();
  });

  test('a user without the role sees the not-authorized view', async () => {
    const { context, page } = await newSession(browser);
    await page.goto(`${demo.shellUrl}/#/orders/1`);
    await signInAt(page, DEMO_USERS.bob);
    await page.locator('[data-state="not-authorized"]').waitFor();
    expect(await page.locator('#user-card .who').textContent()).toBe('Bob Example');
    await context.close();
  });

  test('signing out in one tab clears the other within a second; its next call is 401 login_required and leads to sign-in', async () => {
    const { context, page: first } = await newSession(browser);
    await first.goto(`${demo.shellUrl}/#/orders/2`);
    await signInAt(first, DEMO_USERS.ada);
    await first.locator('h1', { hasText: 'Order 2' }).waitFor();
    const second = await context.newPage();
    const calls = apiCalls(second);
    await second.goto(`${demo.shellUrl}/#/orders`);
    await second.locator('h1', { hasText: 'Orders' }).waitFor();

    // The other tab hears of it from the broadcast (no polling): it clears without being touched.
    // No timing assertion here (a busy machine is not a failure); the wait's bound is generous.
    await first.click('#sign-out');
    await second.locator('#user-card [data-user=""]').waitFor({ timeout: 5000 });
    await second.locator('[data-state="signed-out"]').waitFor();
    // The broadcast goes out before the first tab has ended the platform session (its end-session page
    // submits itself, then returns to the post-logout URI): wait for that, or the second tab's sign-in
    // could still find the platform session and come straight back without the sign-in page.
    await first.waitForURL(`${demo.shellUrl}/`);

    // The second tab's next call: the BFF session is gone.
    await second.evaluate(() => {
      const sdk = (globalThis as unknown as Record<symbol, { fetch(u: string): Promise<Response> }>)[Symbol.for('tessera.browser-sdk')]!;
      void sdk.fetch('/api/orders');
    });
    await second.waitForURL(/\/interaction\//);
    expect(calls.at(-1)).toEqual({ path: '/api/orders', status: 401 });
    await context.close();
  });

  test('registration from the profile micro-frontend goes through the public route', async () => {
    const { context, page } = await newSession(browser);
    const csp = watchCsp(page);
    const posts: Array<{ path: string; status: number }> = [];
    page.on('response', (res) => {
      if (res.request().method() === 'POST') posts.push({ path: new URL(res.url()).pathname, status: res.status() });
    });
    await page.goto(`${demo.shellUrl}/#/profile/register`);
    await page.locator('#reg-email').fill('newcomer@shell.example');
    await page.locator('#reg-password').fill('a good long password 4');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#register-outcome[data-state="created"]').waitFor();
    expect(posts).toEqual([{ path: '/bff/public/register', status: 201 }]);
    expect(csp.violations).toEqual([]);
    await context.close();
  });
});
