import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import * as oidc from 'openid-client';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { freePort, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { firstLink, startSmtp } from '../helpers/smtp.js';
import type { TestSmtp } from '../helpers/smtp.js';
import { discover } from '../helpers/flows.js';
import { baseConfig, USER } from '../fixtures.js';

/** The example client's callback: a real loopback server (Chromium refuses the fixtures' port 9). */
let REDIRECT = '';
let clientServer: Server;
import { launchBrowser, newSession } from './browser.js';

/**
 * The identity flows a person goes through, in a real browser, with mail read
 * from a real SMTP server: register → confirm → sign in through an OIDC
 * client; forgotten password → reset → sign in; lockout.
 */
let t: TestApp;
let smtp: TestSmtp;
let browser: Browser;

beforeAll(async () => {
  const port = await freePort();
  REDIRECT = `http://127.0.0.1:${port}/cb`;
  clientServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('client callback'));
  await new Promise<void>((r) => clientServer.listen(port, '127.0.0.1', r));
  smtp = await startSmtp();
  t = await startTestApp({
    env: { SMTP_URL: smtp.url },
    config: {
      ...baseConfig,
      clients: [...baseConfig.clients, {
        client_id: 'e2e-spa', client_name: 'E2E SPA', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT],
        grant_types: ['authorization_code', 'refresh_token'], first_party: true,
      }],
      tenants: [...baseConfig.tenants, { id: 'default', name: 'Default', policy: { registration: 'open', lockout: { max_failures: 3, window_seconds: 300, duration_seconds: 300 } } }],
    },
  });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
  await smtp?.close();
  await new Promise((r) => clientServer?.close(r));
});

/** Starts a sign-in at the example SPA client (an OIDC relying party) and returns the authorization URL. */
async function clientSignInUrl(): Promise<string> {
  const config = await discover(t.issuer, { clientId: 'e2e-spa', auth: 'none' });
  return oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: 'openid email profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  }).href;
}

/** Fills the hosted sign-in form and submits it; resolves with the URL the browser is sent to (the client's redirect URI is not served). */
async function signIn(page: Page, username: string, password: string): Promise<string> {
  await page.getByLabel('Username or email').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  // Either the browser is sent back to the client, or the form comes back with an error.
  const outcome = Promise.race([
    page.waitForRequest((r) => r.url().startsWith(REDIRECT)).then((r) => r.url()),
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes('/login') && r.status() !== 303).then(() => ''),
  ]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const url = await outcome;
  await page.waitForLoadState('load');
  return url;
}

describe('identity flows in Chromium', () => {
  test('register → confirm by the emailed link → sign in through an OIDC client → account page', async () => {
    const { context, page } = await newSession(browser);
    const email = `reg-${Date.now()}@example.test`;
    const password = 'violet tractor seventeen';

    // From a client's sign-in page to the registration form.
    await page.goto(await clientSignInUrl());
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('Check your email');

    // The link arrives by mail; opening it shows a confirmation button (GET changes nothing).
    const mail = await smtp.waitFor((m) => m.to === email && /confirm/i.test(m.subject));
    await page.goto(firstLink(mail.text, '/confirm-email')!);
    await page.getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('Email confirmed');

    // Sign in through the OIDC client with the new account: the client gets a code.
    await page.goto(await clientSignInUrl());
    const callback = new URL(await signIn(page, email, password));
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(callback.searchParams.get('iss')).toBe(t.issuer);

    // The account page shows the new, confirmed account (same browser session: no second sign-in).
    await page.goto(`${t.issuer}/account`);
    await expect.poll(() => page.locator('h1').first().textContent()).toBe('Your account');
    expect(await page.content()).toContain(email);
    await context.close();
  });

  test('forgotten password → reset link → sign in with the new password', async () => {
    const { context, page } = await newSession(browser);
    await page.goto(await clientSignInUrl());
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByLabel('Email').fill('alice@example.test');
    await page.getByRole('button', { name: 'Send reset link' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('Check your email');

    const mail = await smtp.waitFor((m) => m.to === 'alice@example.test' && /reset/i.test(m.subject));
    await page.goto(firstLink(mail.text, '/password/reset')!);
    const newPassword = 'marmalade harbour lantern';
    await page.getByLabel('New password', { exact: true }).fill(newPassword);
    await page.getByLabel('Repeat the new password').fill(newPassword);
    await page.getByRole('button', { name: 'Set new password' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('Your password has been changed');
    await smtp.waitFor((m) => m.to === 'alice@example.test' && /changed/i.test(m.subject));

    // The old password no longer works; the new one does.
    await page.goto(await clientSignInUrl());
    expect(await signIn(page, USER.username, USER.password)).toBe('');
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('The username or password is incorrect.');
    const callback = new URL(await signIn(page, USER.username, newPassword));
    expect(callback.searchParams.get('code')).toBeTruthy();
    await context.close();
  });

  test('lockout after repeated failures: even the right password is refused, with the same message', async () => {
    const email = `lock-${Date.now()}@example.test`;
    const password = 'quiet meadow compass';
    const res = await fetch(`${t.issuer}/api/self-service/registration`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }),
    });
    expect(res.status).toBe(201);
    const mail = await smtp.waitFor((m) => m.to === email);
    const { context, page } = await newSession(browser);
    await page.goto(firstLink(mail.text, '/confirm-email')!);
    await page.getByRole('button', { name: 'Confirm' }).click();

    await page.goto(await clientSignInUrl());
    for (let i = 0; i < 3; i++) {
      expect(await signIn(page, email, 'wrong guess number ' + i)).toBe('');
      await expect.poll(() => page.getByRole('alert').textContent()).toBe('The username or password is incorrect.');
    }
    expect(await signIn(page, email, password)).toBe('');
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('The username or password is incorrect.');
    await context.close();

    // The audit log says what the page does not.
    const user = await t.app.store.db.selectFrom('users').select(['id', 'status']).where('email', '=', email).executeTakeFirstOrThrow();
    expect(user.status).toBe('locked');
    const audit = await t.app.store.db.selectFrom('audit_log').select('action').where('subject_id', '=', user.id).execute();
    expect(audit.map((a) => a.action)).toContain('user.locked');
  });
});
