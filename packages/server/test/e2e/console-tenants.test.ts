/// <reference lib="dom" />
/**
 * Deleting a tenant in the admin console (docs/admin.md#deleting-a-tenant):
 * the id must be typed out, the deletion goes through the MFA step-up
 * (RFC 9470) and is replayed; a tenant in use is refused until "everything
 * in it" is ticked.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { OPAL, PASSWORD, PLATFORM_ADMIN, adminApi, adminConfig, machineToken, withAuthenticator } from '../helpers/admin.js';
import { launchBrowser, newSession } from './browser.js';
import { answerTotp, ensureConsoleBuilt, shot, signInToConsole, waitForConsole, watchCsp } from './console.js';

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

const heading = (page: Page) => page.locator('main h1').first().textContent();

test('delete a tenant in use: typed confirmation, MFA step-up and replay, refused until cascade is chosen', async () => {
  const api = adminApi(t.issuer);
  const machine = await machineToken(t.issuer, 'ops-bot');
  expect((await api('POST', '/tenants', { token: machine, body: { id: 'trial', name: 'Trial Inc' } })).status).toBe(201);
  expect((await api('POST', '/users', { token: machine, body: { tenant: 'trial', username: 'tina', password: PASSWORD } })).status).toBe(201);

  const { context, page } = await newSession(browser);
  const csp = watchCsp(page);
  await signInToConsole(page, t.issuer, PLATFORM_ADMIN);
  const authenticator = await withAuthenticator(t.issuer, PLATFORM_ADMIN);

  await page.goto(`${t.issuer}/admin/tenants/trial`);
  await expect.poll(() => heading(page)).toBe('Tenant Trial Inc');
  await page.getByRole('button', { name: 'Delete tenant…' }).click();
  const submit = page.getByRole('button', { name: 'Delete tenant trial' });
  // Nothing happens until the id is typed exactly.
  await page.getByLabel('Type the tenant id (trial) to confirm').fill('tria');
  expect(await submit.isDisabled()).toBe(true);
  await page.getByLabel('Type the tenant id (trial) to confirm').fill('trial');
  expect(await submit.isDisabled()).toBe(false);
  await submit.click();

  // The password sign-in is not enough: the MFA page, then back with the deletion replayed — and refused, the tenant has a user.
  await page.locator('#totp-code').waitFor({ timeout: 30_000 });
  await answerTotp(page, authenticator);
  await waitForConsole(page, t.issuer);
  expect(new URL(page.url()).pathname).toBe('/admin/tenants/trial');
  await expect.poll(() => page.getByRole('alert').first().textContent()).toMatch(/1 users/);
  await shot(page, 'tenant-delete-not-empty');
  expect((await api('GET', '/tenants/trial', { token: machine })).status).toBe(200);

  // Everything in it, then: the MFA sign-in is recent, so no second step-up.
  await page.getByLabel(/Also delete everything in it/).check();
  await page.getByLabel('Type the tenant id (trial) to confirm').fill('trial');
  await page.getByRole('button', { name: 'Delete tenant trial' }).click();
  await expect.poll(() => heading(page)).toBe('Tenants');
  expect(new URL(page.url()).pathname).toBe('/admin/tenants');
  await expect.poll(() => page.locator('.alert.success').first().textContent()).toBe('Tenant trial was deleted with 1 users.');
  expect(await page.getByRole('link', { name: 'trial', exact: true }).count()).toBe(0);
  expect((await api('GET', '/tenants/trial', { token: machine })).status).toBe(404);
  expect(csp.violations).toEqual([]);
  await context.close();
});

test('branding on the tenant page: shown, changed with a logo upload (the sign-in pages follow), back to the product\'s', async () => {
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');
  const { context, page } = await newSession(browser);
  const csp = watchCsp(page);
  // A platform administrator without a second factor: branding needs no step-up.
  await signInToConsole(page, t.issuer, OPAL);
  await page.goto(`${t.issuer}/admin/tenants/globex`);
  await expect.poll(() => heading(page)).toBe('Tenant Globex');
  const card = page.getByLabel('Branding', { exact: true });
  await expect.poll(() => card.getByTestId('brand-name').textContent()).toMatch(/\(inherited\)$/);

  await card.getByRole('button', { name: 'Edit branding' }).click();
  await page.getByLabel('Name shown on the pages').fill('Globex Corporation');
  await page.getByLabel('Primary colour').fill('#aa3300');
  await page.getByLabel('Logo').setInputFiles({ name: 'logo.png', mimeType: 'image/png', buffer: png });
  await page.getByRole('button', { name: 'Save branding' }).click();
  await expect.poll(() => card.locator('.alert.success').textContent()).toBe('Branding saved.');
  await expect.poll(() => card.getByTestId('brand-name').textContent()).toBe('Globex Corporation');
  await expect.poll(() => card.locator('img.brand-logo').evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBe(1);
  await shot(page, 'tenant-branding');

  // The tenant's hosted pages show it; the logo is served from Tessera.
  const signup = await (await fetch(`${t.issuer}/register?tenant=globex`)).text();
  expect(signup).toContain('Globex Corporation');
  const logoUrl = await card.locator('img.brand-logo').getAttribute('src');
  const logo = await fetch(new URL(logoUrl!, t.issuer));
  expect(logo.headers.get('content-type')).toBe('image/png');
  expect(Buffer.from(await logo.arrayBuffer())).toEqual(png);

  // A bad colour is a field error, nothing saved.
  await card.getByRole('button', { name: 'Edit branding' }).click();
  await page.getByLabel('Primary colour').fill('url(javascript:alert(1))');
  await page.getByRole('button', { name: 'Save branding' }).click();
  await expect.poll(() => page.locator('.field.invalid').count()).toBeGreaterThan(0);
  await page.getByRole('button', { name: 'Use the product\'s branding' }).click();
  await expect.poll(() => card.locator('.alert.success').textContent()).toMatch(/product's branding shows again/);
  await expect.poll(() => card.getByTestId('brand-name').textContent()).toMatch(/\(inherited\)$/);
  expect(await (await fetch(`${t.issuer}/register?tenant=globex`)).text()).not.toContain('Globex Corporation');
  expect(csp.violations).toEqual([]);
  await context.close();
});
