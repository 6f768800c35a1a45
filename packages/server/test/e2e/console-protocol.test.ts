import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { MACHINE_SECRET, PLATFORM_ADMIN, adminApi, machineToken } from '../helpers/admin.js';
import { launchBrowser, newSession } from './browser.js';
import { ensureConsoleBuilt, signInToConsole, watchCsp } from './console.js';

/**
 * The console's protocol settings of a client (issue 21): refresh rotation
 * and lifetimes, signing algorithms, consent-page links, sign-in age. In
 * Chromium against the real platform: set them on a new client, see a
 * refused value reported at its field (nothing saved), fix it, and read the
 * result back through the admin API. Also the opt-in grants (device
 * authorization, token exchange with its policy), PAR and DPoP.
 */
const STOCK = 'https://stock.example.test';
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
let t: TestApp;
let browser: Browser;
let call: ReturnType<typeof adminApi>;
let opsToken: string;

beforeAll(async () => {
  ensureConsoleBuilt();
  t = await startTestApp({
    config: {
      apis: [{ identifier: STOCK, name: 'Stock API', scopes: ['stock:read', 'stock:write'] }],
      clients: [{
        client_id: 'ops-bot', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'client_secret_basic', admin_scopes: ['identity.admin', 'auth.admin'],
      }],
    },
  });
  call = adminApi(t.issuer);
  opsToken = await machineToken(t.issuer, 'ops-bot');
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

// (Selects are found by name: a label's accessible name includes the texts of the options inside it.)
const heading = async (page: Page) => (await page.locator('main h1').first().textContent()) ?? '';

describe('console: protocol settings of a client', () => {
  test('create with refresh, signing and consent settings; an invalid idle lifetime is shown at its field', async () => {
    const { page } = await newSession(browser, { viewport: { width: 1280, height: 900 } });
    const csp = watchCsp(page);
    await signInToConsole(page, t.issuer, PLATFORM_ADMIN);
    await page.getByRole('link', { name: 'Clients' }).first().click();
    await page.getByRole('button', { name: 'Create client' }).click();
    await expect.poll(() => heading(page)).toBe('Create client');

    await page.getByLabel('Client ID', { exact: true }).fill('partner-app');
    await page.getByLabel('Name', { exact: true }).fill('Partner app');
    await page.getByLabel('Redirect URIs', { exact: true }).fill('https://partner.example.test/cb');
    await page.getByRole('checkbox', { name: 'refresh_token' }).check();
    await page.getByLabel('Refresh token lifetime', { exact: true }).fill('3600');
    await page.locator('select[name="refresh_token_rotation"]').selectOption('never');
    // Longer than the absolute lifetime: refused, at the field.
    await page.getByLabel('Idle lifetime (seconds)').fill('7200');
    await page.locator('select[name="id_token_signed_response_alg"]').selectOption('ES256');
    await page.locator('select[name="userinfo_signed_response_alg"]').selectOption('RS256');
    await page.getByLabel('Logo URL').fill('https://cdn.partner.example.test/logo.png');
    await page.getByLabel('Privacy policy URL').fill('https://partner.example.test/privacy');
    await page.getByLabel('Terms of service URL').fill('https://partner.example.test/terms');
    await page.getByLabel('Maximum sign-in age (seconds)').fill('900');
    await page.getByRole('checkbox', { name: /require_auth_time/ }).check();
    await page.getByRole('button', { name: 'Create client' }).click();
    const idleError = page.locator('.field-error[data-field="refresh_token_idle_ttl"]');
    await expect.poll(() => idleError.count()).toBe(1);
    expect((await call('GET', '/clients/partner-app', { token: opsToken })).status).toBe(404);

    await page.getByLabel('Idle lifetime (seconds)').fill('1800');
    await page.getByRole('button', { name: 'Create client' }).click();
    await expect.poll(() => heading(page)).toBe('Client created');
    const saved = await call('GET', '/clients/partner-app', { token: opsToken });
    expect(saved.body).toMatchObject({
      refresh_token_rotation: 'never', refresh_token_ttl: 3600, refresh_token_idle_ttl: 1800,
      id_token_signed_response_alg: 'ES256', userinfo_signed_response_alg: 'RS256',
      logo_uri: 'https://cdn.partner.example.test/logo.png', policy_uri: 'https://partner.example.test/privacy',
      tos_uri: 'https://partner.example.test/terms', default_max_age: 900, require_auth_time: true,
    });
    expect(saved.body).not.toHaveProperty('refresh_token_grace_period');

    // Edit: the form shows what was saved; a grace period out of range is refused at its field, then a good one is saved.
    await page.getByRole('link', { name: 'Continue to client' }).click();
    await expect.poll(() => heading(page)).toBe('Partner app (partner-app)');
    expect(await page.locator('select[name="refresh_token_rotation"]').inputValue()).toBe('never');
    expect(await page.locator('select[name="id_token_signed_response_alg"]').inputValue()).toBe('ES256');
    await page.getByLabel('Grace period for concurrent refreshes (seconds)').fill('90');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => page.locator('.field-error[data-field="refresh_token_grace_period"]').count()).toBe(1);
    await page.getByLabel('Grace period for concurrent refreshes (seconds)').fill('30');
    await page.getByLabel('Logo URL').fill('');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => page.getByText('Changes saved.').count()).toBeGreaterThan(0);
    const edited = await call('GET', '/clients/partner-app', { token: opsToken });
    expect(edited.body).toMatchObject({ refresh_token_grace_period: 30, refresh_token_rotation: 'never' });
    expect(edited.body).not.toHaveProperty('logo_uri');
    expect(csp.violations).toEqual([]);
  });

  test('PAR, DPoP, the device grant and token exchange with its policy: a grant without policy is refused at the policy, then saved and read back', async () => {
    const { page } = await newSession(browser, { viewport: { width: 1280, height: 900 } });
    const csp = watchCsp(page);
    await signInToConsole(page, t.issuer, PLATFORM_ADMIN);
    await page.getByRole('link', { name: 'Clients' }).first().click();
    await page.getByRole('button', { name: 'Create client' }).click();
    await expect.poll(() => heading(page)).toBe('Create client');

    await page.getByLabel('Client ID', { exact: true }).fill('orders-service');
    await page.getByLabel('Redirect URIs', { exact: true }).fill('https://orders.example.test/cb');
    await page.getByRole('checkbox', { name: /device_code/ }).check();
    await page.getByRole('checkbox', { name: /PAR, require_pushed_authorization_requests/ }).check();
    await page.getByRole('checkbox', { name: /DPoP, dpop_bound_access_tokens/ }).check();
    await page.getByRole('checkbox', { name: /token-exchange/ }).check();
    await page.getByLabel('For which APIs (identifiers)').fill(STOCK);
    await page.getByLabel('Exchangeable scopes').fill('stock:read');
    // No subject client: the API refuses the policy, and the form says so at the policy.
    await page.getByRole('button', { name: 'Create client' }).click();
    await expect.poll(() => page.locator('.field-error[data-field="token_exchange"]').count()).toBe(1);
    expect((await call('GET', '/clients/orders-service', { token: opsToken })).status).toBe(404);

    await page.getByLabel('Whose users\' tokens (client IDs)').fill('spa\nweb-shop');
    await page.getByRole('button', { name: 'Create client' }).click();
    await expect.poll(() => heading(page)).toBe('Client created');
    const saved = await call('GET', '/clients/orders-service', { token: opsToken });
    expect(saved.body).toMatchObject({
      grant_types: expect.arrayContaining(['authorization_code', DEVICE, EXCHANGE]),
      require_pushed_authorization_requests: true, dpop_bound_access_tokens: true,
      token_exchange: { subject_clients: ['spa', 'web-shop'], audiences: [STOCK], scopes: ['stock:read'] },
    });

    // Edit: the form shows the saved grants and policy; PAR and DPoP are turned off (grant and policy changes need step-up, docs/admin.md#step-up).
    await page.getByRole('link', { name: 'Continue to client' }).click();
    await expect.poll(() => heading(page)).toBe('Client orders-service');
    expect(await page.getByRole('checkbox', { name: /device_code/ }).isChecked()).toBe(true);
    expect(await page.getByRole('checkbox', { name: /token-exchange/ }).isChecked()).toBe(true);
    expect(await page.getByLabel('Whose users\' tokens (client IDs)').inputValue()).toBe('spa\nweb-shop');
    expect(await page.getByLabel('Exchangeable scopes').inputValue()).toBe('stock:read');
    expect(await page.getByRole('checkbox', { name: /PAR, require_pushed_authorization_requests/ }).isChecked()).toBe(true);
    await page.getByRole('checkbox', { name: /PAR, require_pushed_authorization_requests/ }).uncheck();
    await page.getByRole('checkbox', { name: /DPoP, dpop_bound_access_tokens/ }).uncheck();
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => page.getByText('Changes saved.').count()).toBeGreaterThan(0);
    const edited = await call('GET', '/clients/orders-service', { token: opsToken });
    expect(edited.body).not.toHaveProperty('require_pushed_authorization_requests');
    expect(edited.body).not.toHaveProperty('dpop_bound_access_tokens');
    expect(edited.body).toMatchObject({ grant_types: expect.arrayContaining([DEVICE, EXCHANGE]), token_exchange: { subject_clients: ['spa', 'web-shop'] } });
    expect(csp.violations).toEqual([]);
  });
});
