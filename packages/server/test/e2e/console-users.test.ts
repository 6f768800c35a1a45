/// <reference lib="dom" />
/**
 * The admin console in Chromium, as an administrator uses it: sign in on the
 * hosted page, create a user, find them, edit them, reset their MFA (the
 * console sends the administrator through the MFA step-up, RFC 9470, and
 * replays the reset), revoke a session, sign out; and the same console on a
 * phone-sized screen. No CSP violation anywhere.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { ACME_ADMIN, PASSWORD, PLATFORM_ADMIN, adminApi, adminConfig, machineToken, withAuthenticator } from '../helpers/admin.js';
import { signInToAccount } from '../helpers/mfa.js';
import type { Authenticator } from '../helpers/mfa.js';
import { launchBrowser, newSession } from './browser.js';
import { createExternalLinkRepository } from '../../src/federation/links.js';
import { answerTotp, ensureConsoleBuilt, pageOverflow, shot, signInToConsole, waitForConsole, watchCsp } from './console.js';

let t: TestApp;
let browser: Browser;
/** The bootstrap administrator's authenticator app, enrolled during the first test. */
let adminAuthenticator: Authenticator | undefined;

beforeAll(async () => {
  ensureConsoleBuilt();
  t = await startTestApp({ config: adminConfig() });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

const CASEY = { username: 'casey', password: PASSWORD, email: 'casey@example.test' };

/** The console's h1 (main content only: the hosted pages have their own). */
const heading = (page: Page) => page.locator('main h1').first().textContent();

describe('admin console: users', () => {
  test('create, search, edit, reset MFA with step-up, revoke a session, sign out (1280×800)', async () => {
    const { context, page } = await newSession(browser, { viewport: { width: 1280, height: 800 } });
    const csp = watchCsp(page);
    page.on('dialog', (d) => void d.accept());

    // Signed in with the password alone: the administrator has no second factor yet.
    await signInToConsole(page, t.issuer, PLATFORM_ADMIN);
    expect(await heading(page)).toBe('Home');
    expect(await page.getByTestId('who-name').textContent()).toBe('admin');
    expect(await page.getByTestId('who-tenant').textContent()).toBe('default');
    await shot(page, 'desktop-home');
    // Now they enroll an authenticator app (on the account pages), for the step-up later.
    adminAuthenticator = await withAuthenticator(t.issuer, PLATFORM_ADMIN);

    // Create a user.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
    await expect.poll(() => heading(page)).toBe('Users');
    await page.getByRole('link', { name: 'New user' }).click();
    await expect.poll(() => heading(page)).toBe('New user');
    await page.getByLabel('Username').fill(CASEY.username);
    await page.getByLabel('Email', { exact: true }).fill('not-an-address');
    await page.getByLabel('Given name').fill('Casey');
    await page.getByLabel('Family name').fill('Jones');
    await page.getByLabel('Password').fill(CASEY.password);
    await page.getByRole('button', { name: 'Create user' }).click();
    // A field-level 400: the message sits by the email field.
    await expect.poll(() => page.locator('.field-error[data-field="email"]').textContent()).toBe('Not an email address.');
    await shot(page, 'desktop-user-create-error');
    await page.getByLabel('Email', { exact: true }).fill(CASEY.email);
    await page.getByLabel('Email address is verified').check();
    await page.getByRole('button', { name: 'Create user' }).click();
    await expect.poll(() => heading(page)).toBe('Casey Jones');
    const userId = new URL(page.url()).pathname.split('/').pop()!;
    expect(userId).toMatch(/.+/);

    // A second user with the same email: 409, shown on the email field.
    await page.goto(`${t.issuer}/admin/users/new`);
    await expect.poll(() => heading(page)).toBe('New user');
    await page.getByLabel('Username').fill('casey2');
    await page.getByLabel('Email', { exact: true }).fill(CASEY.email);
    await page.getByRole('button', { name: 'Create user' }).click();
    await expect.poll(() => page.locator('.field-error[data-field="email"]').textContent()).toBe('Already taken.');

    // Find them by a name prefix, and by exact email; open the detail.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
    await expect.poll(() => heading(page)).toBe('Users');
    await page.getByLabel('Name starts with').fill('jon');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => page.url()).toContain('name_prefix=jon');
    await expect.poll(() => page.locator('table.table tbody tr').count()).toBe(1);
    await page.getByLabel('Name starts with').fill('');
    await page.getByLabel('Email', { exact: true }).fill('CASEY@example.test');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => page.url()).toContain('email=CASEY%40example.test');
    await expect.poll(() => page.locator('table.table tbody tr').count()).toBe(1);
    await shot(page, 'desktop-users-search');
    await page.getByRole('link', { name: 'Casey Jones' }).click();
    await expect.poll(() => heading(page)).toBe('Casey Jones');

    // Edit the name (PATCH with If-Match).
    await page.getByRole('button', { name: 'Edit profile' }).click();
    await page.getByLabel('Given name').fill('Cassandra');
    await page.getByRole('button', { name: 'Save profile' }).click();
    await expect.poll(() => heading(page)).toBe('Cassandra Jones');
    await expect.poll(() => page.getByRole('alert').filter({ hasText: 'Profile saved.' }).count()).toBe(1);

    const machine = await machineToken(t.issuer, 'ops-bot');
    const call = adminApi(t.issuer);

    // Someone else changes the user while the form is open: 412, "changed by someone else", reload.
    await page.getByRole('button', { name: 'Edit profile' }).click();
    await page.getByLabel('Given name').fill('Cass');
    const other = await call('PATCH', `/users/${userId}`, { token: machine, body: { family_name: 'Jonas' }, headers: { 'if-match': '*' } });
    expect(other.status).toBe(200);
    await page.getByRole('button', { name: 'Save profile' }).click();
    await expect.poll(() => page.getByRole('alert').filter({ hasText: 'Changed by someone else' }).count()).toBe(1);
    await page.getByRole('button', { name: 'Reload' }).click();
    await expect.poll(() => heading(page)).toBe('Cassandra Jonas');

    // The user enrolls a factor (and so has a session, on the account pages).
    await withAuthenticator(t.issuer, CASEY);

    // Reset their MFA: the console needs a recent MFA sign-in, sends the administrator through the
    // MFA page (the second factor only: the password session stands), and replays the reset.
    await page.reload();
    await expect.poll(() => heading(page)).toBe('Cassandra Jonas');
    // First the administrator cancels on the MFA page: back on the user, told that nothing was done.
    await page.getByRole('button', { name: 'Reset MFA' }).click();
    await page.locator('#totp-code').waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Cancel' }).click();
    await waitForConsole(page, t.issuer);
    expect(new URL(page.url()).pathname).toBe(`/admin/users/${userId}`);
    await expect.poll(() => page.getByRole('alert').filter({ hasText: 'Not done' }).count()).toBe(1);
    await shot(page, 'desktop-step-up-cancelled');
    // Then again, confirming with the authenticator app.
    await page.getByRole('button', { name: 'Reset MFA' }).click();
    await page.locator('#totp-code').waitFor({ timeout: 30_000 });
    expect(new URL(page.url()).pathname).toMatch(/^\/interaction\//);
    await shot(page, 'desktop-step-up-mfa');
    await answerTotp(page, adminAuthenticator);
    await waitForConsole(page, t.issuer);
    expect(new URL(page.url()).pathname).toBe(`/admin/users/${userId}`);
    await expect.poll(() => page.locator('.alert.success').first().textContent()).toMatch(/MFA reset: \d+ factors? removed/);
    await shot(page, 'desktop-user-detail-after-reset', true);
    // The reset happened once, by the administrator, and the user signs in with the password alone now.
    const audit = await call<{ items: Array<{ actor: string; details: { removed?: number } }> }>(
      'GET', `/audit?subject=${userId}&action=mfa.reset`, { token: machine });
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0]!.details.removed).toBeGreaterThan(0);
    await signInToAccount(t.issuer, CASEY); // throws if an MFA page were shown

    // An external identity link (made here through storage: federation sign-in makes them in production)
    // is listed and removed; the MFA sign-in above is still recent, so no second step-up.
    await createExternalLinkRepository(t.app.store.db).link({ tenantId: 'default', provider: 'google', subject: '1176', userId, email: 'casey@gmail.example' });
    await page.reload();
    await expect.poll(() => page.getByRole('button', { name: 'Remove link to google' }).count()).toBe(1);
    await page.getByRole('button', { name: 'Remove link to google' }).click();
    await expect.poll(() => page.getByText('External link removed.').count()).toBe(1);
    expect((await call<{ items: unknown[] }>('GET', `/users/${userId}/links`, { token: machine })).body.items).toEqual([]);

    // Revoke one session.
    await page.reload();
    await expect.poll(() => heading(page)).toBe('Cassandra Jonas');
    const before = (await call<{ items: unknown[] }>('GET', `/users/${userId}/sessions`, { token: machine })).body.items.length;
    expect(before).toBeGreaterThanOrEqual(2);
    await expect.poll(() => page.getByRole('button', { name: 'Revoke' }).count()).toBe(before);
    await page.getByRole('button', { name: 'Revoke' }).first().click();
    await expect.poll(() => page.getByText('Session revoked.').count()).toBe(1);
    await expect.poll(() => page.getByRole('button', { name: 'Revoke' }).count()).toBe(before - 1);
    expect((await call<{ items: unknown[] }>('GET', `/users/${userId}/sessions`, { token: machine })).body.items).toHaveLength(before - 1);

    // The audit log viewer: this user's creation, MFA reset and link removal, each by the administrator.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
    await expect.poll(() => heading(page)).toBe('Audit log');
    await page.getByLabel('User or subject ID').fill(userId);
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('user')).toBe(userId);
    const badges = page.locator('table.table tbody tr td:nth-child(2) .badge');
    await expect.poll(async () => (await badges.allTextContents()).filter((a) => ['user.created', 'mfa.reset', 'user.unlinked'].includes(a)).sort())
      .toEqual(['mfa.reset', 'user.created', 'user.unlinked']);
    for (const action of ['user.created', 'mfa.reset']) {
      const row = page.locator('table.table tbody tr', { has: page.locator('.badge', { hasText: action }) }).first();
      expect(await row.locator('td:nth-child(3) a').textContent()).toBe('admin');
    }

    // Tenants: the platform administrator sees every tenant; a role is created and deleted.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tenants' }).click();
    await expect.poll(() => heading(page)).toBe('Tenants');
    await page.getByRole('link', { name: 'acme' }).click();
    await expect.poll(() => heading(page)).toBe('Tenant Acme Corp');
    await page.getByLabel('Role name').fill('support');
    await page.getByLabel('Description').fill('Help desk');
    await page.getByRole('button', { name: 'Save role' }).click();
    await expect.poll(() => page.getByRole('cell', { name: 'Help desk' }).count()).toBe(1);
    await shot(page, 'desktop-tenant-detail', true);
    await page.getByRole('button', { name: 'Delete role support' }).click();
    await expect.poll(() => page.getByRole('cell', { name: 'Help desk' }).count()).toBe(0);

    // Sign out: RP-initiated logout (no question: the console sends its id_token_hint), then the console asks for a new sign-in.
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(/\/interaction\//);
    await expect.poll(() => page.getByLabel('Username or email').count()).toBe(1);

    expect(csp.violations).toEqual([]);
    await context.close();
  }, 180_000);

  test('on a phone (390×844): the menu opens the users page, nothing overflows sideways', async () => {
    // Enough users for two pages of 25 (created without passwords: no hashing, quick).
    const machine = await machineToken(t.issuer, 'ops-bot');
    const call = adminApi(t.issuer);
    for (let i = 0; i < 30; i++) {
      const res = await call('POST', '/users', { token: machine, body: { username: `bulk${String(i).padStart(2, '0')}`, given_name: 'Bulk', family_name: `User ${i}` } });
      expect(res.status).toBe(201);
    }
    const { context, page } = await newSession(browser, { viewport: { width: 390, height: 844 } });
    const csp = watchCsp(page);
    await signInToConsole(page, t.issuer, PLATFORM_ADMIN, adminAuthenticator);
    expect(await heading(page)).toBe('Home');
    const nav = page.getByRole('navigation', { name: 'Main' });
    expect(await nav.isVisible()).toBe(false);
    expect(await pageOverflow(page)).toBeLessThanOrEqual(0);
    await shot(page, 'phone-home');

    // The 10-minute admin token "expires": the console renews it with its refresh token (RFC 8707 resource
    // again, so the new token is for the admin API too), without leaving the page.
    const key = `oidc.user:${t.issuer}:tessera-console`;
    const before = await page.evaluate((k) => {
      const stored = JSON.parse(sessionStorage.getItem(k)!) as { access_token: string; expires_at: number };
      sessionStorage.setItem(k, JSON.stringify({ ...stored, expires_at: Math.floor(Date.now() / 1000) - 60 }));
      return stored.access_token;
    }, key);

    await page.getByRole('button', { name: 'Menu' }).click();
    await expect.poll(() => nav.isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Menu' }).getAttribute('aria-expanded')).toBe('true');
    await shot(page, 'phone-menu-open');
    await nav.getByRole('link', { name: 'Users' }).click();
    await expect.poll(() => heading(page)).toBe('Users');
    // The menu closes on navigation.
    await expect.poll(() => nav.isVisible()).toBe(false);
    await expect.poll(() => page.locator('table.table tbody tr').count()).toBeGreaterThan(0);
    const after = await page.evaluate((k) => (JSON.parse(sessionStorage.getItem(k)!) as { access_token: string }).access_token, key);
    expect(after).not.toBe(before);
    const claims = JSON.parse(Buffer.from(after.split('.')[1]!, 'base64url').toString()) as { aud: string | string[] };
    expect(claims.aud).toContain(`${t.issuer}/api/admin`);
    expect(new URL(page.url()).pathname).toBe('/admin/users');
    expect(await pageOverflow(page)).toBeLessThanOrEqual(0);
    // The table scrolls inside its wrapper rather than widening the page.
    const wrap = await page.locator('.table-wrap').first().evaluate((el) => ({ client: el.clientWidth, scroll: el.scrollWidth }));
    expect(wrap.client).toBeLessThanOrEqual(390);
    await shot(page, 'phone-users', true);

    // Keyset pagination with the API's cursors: 25 a page, then the rest; back to the first page.
    await expect.poll(() => page.locator('table.table tbody tr').count()).toBe(25);
    await page.getByRole('button', { name: 'Next page' }).click();
    await expect.poll(() => page.url()).toContain('cursor=');
    // The URL changes before the next page has replaced the first page's rows (and the table may be
    // empty while the page loads): wait for the second page's rows, fewer than a full page.
    await expect.poll(async () => {
      const rows = await page.locator('table.table tbody tr').count();
      return rows > 0 && rows < 25;
    }).toBe(true);
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'First page' }).click();
    await expect.poll(() => page.locator('table.table tbody tr').count()).toBe(25);
    expect(page.url()).not.toContain('cursor=');

    // A user's detail page fits too.
    await page.locator('table.table tbody tr a').first().click();
    await expect.poll(() => page.locator('.kv').count()).toBeGreaterThan(0);
    expect(await pageOverflow(page)).toBeLessThanOrEqual(0);
    await shot(page, 'phone-user-detail', true);

    expect(csp.violations).toEqual([]);
    await context.close();
  }, 120_000);

  test('a tenant administrator: /admin/?tenant=acme signs in an acme administrator, who sees acme only', async () => {
    const { context, page } = await newSession(browser, { viewport: { width: 1280, height: 800 } });
    const csp = watchCsp(page);
    await signInToConsole(page, t.issuer, ACME_ADMIN, undefined, '/admin/?tenant=acme');
    await expect.poll(() => page.locator('header .badge').first().textContent()).toBe('acme');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
    await expect.poll(() => heading(page)).toBe('Users');
    await expect.poll(() => page.locator('table.table tbody tr').count()).toBeGreaterThan(0);
    const usernames = await page.locator('table.table tbody tr td:nth-child(2)').allTextContents();
    expect(usernames).toContain('ada');
    expect(usernames).not.toContain('admin');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tenants' }).click();
    await expect.poll(() => page.locator('table.table tbody tr').count()).toBe(1);
    // The same console without ?tenant= (a new tab) is the platform administrators' sign-in: ada is not found there.
    const other = await context.newPage();
    await other.goto(`${t.issuer}/admin/`);
    await other.waitForURL(/\/interaction\//);
    await other.getByLabel('Username or email').fill(ACME_ADMIN.username);
    await other.getByLabel('Password').fill(ACME_ADMIN.password);
    await other.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => other.getByRole('alert').count()).toBeGreaterThan(0);
    expect(other.url()).toMatch(/\/interaction\//);
    expect(csp.violations).toEqual([]);
    await context.close();
  }, 120_000);
});
