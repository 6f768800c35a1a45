/// <reference lib="dom" />
/**
 * API tokens in the admin console (docs/provisioning.md#api-tokens): created
 * after the MFA step-up (replayed), shown once, usable on SCIM at once, and
 * refused there as soon as they are revoked.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { PLATFORM_ADMIN, adminConfig, withAuthenticator } from '../helpers/admin.js';
import { launchBrowser, newSession } from './browser.js';
import { answerTotp, ensureConsoleBuilt, signInToConsole, waitForConsole, watchCsp } from './console.js';

let t: TestApp;
let browser: Browser;

beforeAll(async () => {
  ensureConsoleBuilt();
  t = await startTestApp({ config: adminConfig() });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

test('create an API token (step-up), see it once, use it on SCIM, revoke it', async () => {
  const { context, page } = await newSession(browser);
  const csp = watchCsp(page);
  await signInToConsole(page, t.issuer, PLATFORM_ADMIN);
  const authenticator = await withAuthenticator(t.issuer, PLATFORM_ADMIN);

  await page.getByRole('link', { name: 'API tokens' }).click();
  await expect.poll(() => page.locator('main h1').first().textContent()).toBe('API tokens');
  await page.getByLabel('Name').fill('Entra ID provisioning');
  await page.getByLabel('Tenant').selectOption('acme');
  await page.getByRole('checkbox', { name: 'users.manage' }).check();
  await page.getByRole('button', { name: 'Create token' }).click();

  // A person's password sign-in is not enough: the MFA page, then back with the creation replayed.
  await page.locator('#totp-code').waitFor({ timeout: 30_000 });
  await answerTotp(page, authenticator);
  await waitForConsole(page, t.issuer);
  expect(new URL(page.url()).pathname).toBe('/admin/api-tokens');
  const token = (await page.locator('code', { hasText: /^tsr_/ }).first().textContent())!;
  expect(token).toMatch(/^tsr_[A-Za-z0-9_-]{43}$/);

  const scim = () => fetch(`${t.issuer}/scim/v2/acme/Users?count=1`, { headers: { authorization: `Bearer ${token}` } });
  expect((await scim()).status).toBe(200);

  // Once: a reload shows the list (with the token's first characters only), never the token.
  await page.reload();
  await waitForConsole(page, t.issuer);
  await page.getByLabel('Tenant').selectOption('acme');
  const row = page.getByRole('row', { name: /Entra ID provisioning/ });
  await expect.poll(() => row.count()).toBe(1);
  expect(await page.content()).not.toContain(token);
  expect(await row.textContent()).toContain(`${token.slice(0, 8)}…`);

  page.once('dialog', (d) => void d.accept());
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect.poll(() => row.getByText('revoked').count()).toBe(1);
  expect((await scim()).status).toBe(401);
  expect(csp.violations).toEqual([]);
  await context.close();
});
