/// <reference lib="dom" />
/**
 * The admin console in Chromium (issue 19, item 7): the audit log names
 * users by username and clients by client name, with the id on hover (the
 * cell's title) and the link to the user or client; the new-user form says
 * that a username or an email address is required and states the tenant's
 * password rules.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { MACHINE_SECRET, PLATFORM_ADMIN, adminApi, adminConfig, machineToken } from '../helpers/admin.js';
import { launchBrowser, newSession } from './browser.js';
import { ensureConsoleBuilt, pageOverflow, shot, signInToConsole, watchCsp } from './console.js';

let t: TestApp;
let browser: Browser;
let danaId = '';

beforeAll(async () => {
  ensureConsoleBuilt();
  const config = adminConfig({
    clients: [{
      client_id: 'ops-robot', client_name: 'Operations robot', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'],
      tenant: 'default', admin_scopes: ['identity.admin', 'auth.admin'],
    }],
  });
  t = await startTestApp({
    config: { ...config, tenants: [...config.tenants, { id: 'default', name: 'Default', policy: { password: { min_length: 12, max_length: 200 } } }] },
  });
  browser = await launchBrowser();
  // A machine client acts: it creates a user and a client (audited with the client as actor).
  const call = adminApi(t.issuer);
  const token = await machineToken(t.issuer, 'ops-robot');
  const user = await call<{ id: string }>('POST', '/users', { token, body: { username: 'dana', email: 'dana@example.test', password: 'a long enough password for dana' } });
  expect(user.status).toBe(201);
  danaId = user.body.id;
  const client = await call('POST', '/clients', {
    token, body: { client_id: 'billing-portal', client_name: 'Billing portal', grant_types: ['client_credentials'] },
  });
  expect(client.status).toBe(201);
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

const heading = (page: Page) => page.locator('main h1').first().textContent();
/** The row of the first entry with this action. */
const row = (page: Page, action: string) => page.locator('table.table tbody tr', { has: page.locator('.badge', { hasText: action }) }).first();

describe('admin console: names instead of ids', () => {
  test('the audit log shows usernames and client names, the ids on hover', async () => {
    const { context, page } = await newSession(browser, { viewport: { width: 1280, height: 800 } });
    const csp = watchCsp(page);
    await signInToConsole(page, t.issuer, PLATFORM_ADMIN);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
    await expect.poll(() => heading(page)).toBe('Audit log');

    // user.created: by the client "Operations robot" (ops-robot), about the user "dana" (her id).
    const created = row(page, 'user.created');
    await expect.poll(() => created.locator('td:nth-child(3) a').textContent()).toBe('Operations robot');
    expect(await created.locator('td:nth-child(3) [title]').first().getAttribute('title')).toBe('ops-robot');
    await expect.poll(() => created.locator('td:nth-child(4) a').textContent()).toBe('dana');
    expect(await created.locator('td:nth-child(4) [title]').first().getAttribute('title')).toBe(danaId);
    expect(await created.locator('td:nth-child(4) a').getAttribute('href')).toBe(`/admin/users/${danaId}`);

    // client.created: about the client "Billing portal" (billing-portal).
    const client = row(page, 'client.created');
    await expect.poll(() => client.locator('td:nth-child(4) a').textContent()).toBe('Billing portal');
    expect(await client.locator('td:nth-child(4) [title]').first().getAttribute('title')).toBe('billing-portal');
    // Hovering shows the id (the browser's tooltip is the title attribute).
    await client.locator('td:nth-child(4) a').hover();
    expect(await pageOverflow(page)).toBe(0);
    await shot(page, 'desktop-audit-names');

    // The administrator's own sign-in: named by username.
    const signIn = row(page, 'login.succeeded');
    await expect.poll(() => signIn.locator('td:nth-child(4) a').textContent()).toBe('admin');
    expect(csp.violations).toEqual([]);
    await context.close();
  });

  test('the new-user form states that a username or an email is required and the tenant\'s password rules', async () => {
    const { context, page } = await newSession(browser, { viewport: { width: 1280, height: 800 } });
    await signInToConsole(page, t.issuer, PLATFORM_ADMIN, undefined, '/admin/users/new');
    await expect.poll(() => heading(page)).toBe('New user');
    expect(await page.locator('#identifier-rule').textContent()).toBe('A username or an email address is required (or both).');
    const passwordHint = page.locator('.field', { has: page.getByLabel('Password') }).locator('.hint');
    // The default tenant's policy: 12–200 characters, common passwords refused.
    await expect.poll(() => passwordHint.textContent())
      .toContain('Rules of this tenant: 12–200 characters, not a commonly used password, not the username or email address.');
    await shot(page, 'desktop-user-form-rules');

    // Neither username nor email: the API's answer marks both fields.
    await page.getByRole('button', { name: 'Create user' }).click();
    await expect.poll(() => page.locator('[data-field=username]').textContent()).toBe('Required.');
    expect(await page.locator('[data-field=email]').textContent()).toBe('Required.');
    // A password against the rules: the API's field message, next to the field.
    await page.getByLabel('Username').fill('erin');
    await page.getByLabel('Password').fill('short-pass');
    await page.getByRole('button', { name: 'Create user' }).click();
    await expect.poll(() => page.locator('[data-field=password]').count()).toBe(1);
    await context.close();
  });
});
