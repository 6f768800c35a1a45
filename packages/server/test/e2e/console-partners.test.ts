/// <reference lib="dom" />
/**
 * Partner onboarding in the admin console (docs/b2b.md#onboarding-a-partner):
 * the short form creates the partner's client through POST /partners, the
 * answer (secret once, endpoints, scopes per API, addresses) is shown once,
 * and the secret works at the token endpoint at once. A key partner without
 * keys is refused at its field.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { PLATFORM_ADMIN, adminConfig } from '../helpers/admin.js';
import { API } from '../fixtures.js';
import { launchBrowser, newSession } from './browser.js';
import { ensureConsoleBuilt, signInToConsole, waitForConsole, watchCsp } from './console.js';

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

test('onboard a partner from the clients page: the answer once, the secret works; a key partner without keys is refused at its field', async () => {
  const { context, page } = await newSession(browser);
  const csp = watchCsp(page);
  await signInToConsole(page, t.issuer, PLATFORM_ADMIN);

  await page.getByRole('link', { name: 'Clients', exact: true }).first().click();
  await page.getByRole('button', { name: 'Onboard a partner' }).click();
  await expect.poll(() => page.locator('main h1').first().textContent()).toBe('Onboard a partner');
  await page.getByLabel('Client ID').fill('acme-orders');
  await page.getByLabel('Partner name').fill('Acme Orders');
  await page.getByLabel('API scopes').fill('read');
  await page.getByLabel('Allowed addresses').fill('127.0.0.1\n203.0.113.0/24');
  await page.getByRole('button', { name: 'Onboard partner' }).click();

  await expect.poll(() => page.locator('main h1').first().textContent()).toBe('Partner onboarded');
  const secret = (await page.locator('[data-secret]').textContent())!;
  expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
  const details = (await page.locator('[data-partner]').textContent())!;
  expect(details).toContain(`${t.issuer}/oidc/token`);
  expect(details).toContain(API);
  expect(details).toContain('127.0.0.1, 203.0.113.0/24');

  const res = await fetch(`${t.issuer}/oidc/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`acme-orders:${secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', resource: API }),
  });
  expect(res.status).toBe(200);

  // Once: the client's page never shows the secret again.
  await page.getByRole('link', { name: 'Continue to client' }).click();
  await waitForConsole(page, t.issuer);
  await expect.poll(() => page.locator('main h1').first().textContent()).toContain('acme-orders');
  expect(await page.content()).not.toContain(secret);

  // A key partner without keys: the API's field error, next to the keys field; nothing created.
  await page.goto(`${t.issuer}/admin/clients/partner`);
  await waitForConsole(page, t.issuer);
  await page.getByLabel('Client ID').fill('globex-keys');
  await page.getByLabel('API scopes').fill('read');
  await page.getByLabel('Authenticates with').selectOption('private_key_jwt');
  await page.getByRole('button', { name: 'Onboard partner' }).click();
  await page.locator('[data-field="jwks"]').waitFor();
  expect(await page.locator('main h1').first().textContent()).toBe('Onboard a partner');
  const check = await fetch(`${t.issuer}/oidc/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'globex-keys' }),
  });
  expect(check.status).toBe(401);
  expect(csp.violations).toEqual([]);
  await context.close();
});
