/**
 * The password-change step-up in Chromium (docs/identity.md#password-change):
 * with `password.change_requires_mfa`, opening the password page of /account
 * sends a person who signed in with a password alone through their
 * authenticator app first, then back to the form.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { enrollTotp, signInToAccount } from '../helpers/mfa.js';
import type { Authenticator } from '../helpers/mfa.js';
import { baseConfig } from '../fixtures.js';
import { verifyPassword } from '../../src/identity/password.js';
import { launchBrowser, newSession } from './browser.js';
import { answerTotp } from './console.js';

const MIA = { username: 'mia', password: 'a long enough test password' };
let t: TestApp;
let browser: Browser;
let authenticator: Authenticator;

beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      tenants: [{ id: 'default', name: 'Default', policy: { mfa: { mode: 'off' }, password: { change_requires_mfa: true } } }, ...baseConfig.tenants],
      users: [...baseConfig.users, { ...MIA, email: 'mia@example.test', email_verified: true }],
    },
  });
  authenticator = (await enrollTotp(await signInToAccount(t.issuer, MIA), t.issuer)).authenticator;
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

test('sign in with the password → Password tab → authenticator code → change the password', async () => {
  const { context, page } = await newSession(browser);
  await page.goto(`${t.issuer}/account`);
  await page.getByLabel('Username or email').fill(MIA.username);
  await page.getByLabel('Password', { exact: true }).fill(MIA.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.locator('h1').first().textContent()).toBe('Your account');

  await page.getByRole('navigation').getByRole('link', { name: 'Password' }).click();
  // The second factor only: the password sign-in is recent.
  await page.locator('#totp-code').waitFor({ timeout: 30_000 });
  expect(new URL(page.url()).pathname).toMatch(/^\/interaction\/[^/]+\/mfa$/);
  await answerTotp(page, authenticator);
  await expect.poll(() => page.locator('h1').first().textContent()).toBe('Change your password');
  expect(new URL(page.url()).pathname).toBe('/account/password');

  const next = 'an even longer new passphrase';
  await page.getByLabel('Current password').fill(MIA.password);
  await page.getByLabel('New password', { exact: true }).fill(next);
  await page.getByLabel('Repeat the new password').fill(next);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect.poll(() => page.getByRole('status').first().textContent()).toContain('Your password has been changed.');
  const mia = await t.app.platform.users.findByUsername('default', 'mia');
  expect(await verifyPassword(mia!.passwordHash!, next)).toBe(true);
  await context.close();
});
