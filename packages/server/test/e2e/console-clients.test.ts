import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { MACHINE_SECRET, PLATFORM_ADMIN, adminApi, machineToken, withAuthenticator } from '../helpers/admin.js';
import type { Authenticator } from '../helpers/mfa.js';
import { launchBrowser, newSession } from './browser.js';
import { answerTotp, ensureConsoleBuilt, signInToConsole, waitForConsole, watchCsp } from './console.js';

/**
 * The console's client, API, key and audit pages, in
 * Chromium against the real platform: register a confidential client (its
 * secret shown once, never again), use the secret, rotate it through a
 * step-up sign-in with an authenticator app (the new secret shown once after
 * the round trip), then find both writes in the audit log. A client with an
 * invalid redirect URI shows the error at the field and is not created.
 */
const SHOTS = '/tmp/console-shots-views';

/** A screenshot under /tmp/console-shots-views (looked at by people, not compared). */
async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage });
}

let t: TestApp;
let browser: Browser;
let call: ReturnType<typeof adminApi>;
let opsToken: string;
/** The administrator's authenticator app, enrolled by the first test (later sign-ins ask for it). */
let authenticator: Authenticator | undefined;

beforeAll(async () => {
  ensureConsoleBuilt();
  t = await startTestApp({
    config: {
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

/** A client_credentials token request authenticated with the given secret (HTTP Basic). */
async function tokenWith(clientId: string, secret: string): Promise<number> {
  const res = await fetch(`${t.issuer}/oidc/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials' }).toString(),
  });
  const body = await res.json() as { access_token?: string };
  if (res.status === 200) expect(body.access_token).toBeTruthy();
  return res.status;
}

/** Whether the text appears anywhere in the page: its DOM, and the storage a script could have kept it in. */
async function pageHolds(page: Page, text: string): Promise<boolean> {
  return page.evaluate((s) => {
    const stores = [sessionStorage, localStorage].flatMap((st) => Object.keys(st).map((k) => st.getItem(k) ?? ''));
    return document.documentElement.outerHTML.includes(s) || stores.some((v) => v.includes(s));
  }, text);
}

async function heading(page: Page): Promise<string> {
  return (await page.locator('main h1').first().textContent()) ?? '';
}

/** Applies audit filters through the form, as a person would. */
async function filterAudit(page: Page, filters: { action?: string; user?: string }): Promise<void> {
  await page.getByLabel('User or subject ID').fill(filters.user ?? '');
  await page.getByLabel('Action').fill(filters.action ?? '');
  await page.getByRole('button', { name: 'Apply filters' }).click();
}

describe('console: clients, secret rotation with step-up, audit log (1280×800)', () => {
  test('register → secret once → use it → rotate with MFA step-up → new secret once → audit entries', async () => {
    const { context, page } = await newSession(browser, { viewport: { width: 1280, height: 800 } });
    const csp = watchCsp(page);
    page.on('dialog', (d) => void d.accept());

    const admins = await call<{ items: { id: string; username: string }[] }>('GET', '/users?username=admin', { token: opsToken });
    const adminId = admins.body.items[0]!.id;

    await signInToConsole(page, t.issuer, PLATFORM_ADMIN);
    await page.getByRole('link', { name: 'Clients' }).first().click();
    await expect.poll(() => heading(page)).toBe('Clients');
    await page.getByRole('button', { name: 'Create client' }).click();
    await expect.poll(() => heading(page)).toBe('Create client');

    // 1. An invalid redirect URI: the error sits at the field, and nothing is created.
    await page.getByLabel('Client ID', { exact: true }).fill('bad-redirect');
    await page.getByLabel('Redirect URIs', { exact: true }).fill('https://ok.example.test/cb\nnot a url');
    await page.getByRole('button', { name: 'Create client' }).click();
    const fieldError = page.locator('.field-error[data-field="redirect_uris"]');
    await expect.poll(() => fieldError.textContent()).toContain('Line 2');
    // The message is inside the same field as the Redirect URIs text area.
    expect(await page.locator('.field', { has: page.getByLabel('Redirect URIs', { exact: true }) }).locator('.field-error').count()).toBe(1);
    await shot(page, 'clients-create-invalid-redirect', true);
    expect((await call('GET', '/clients/bad-redirect', { token: opsToken })).status).toBe(404);

    // 2. A confidential client with a redirect URI (and client_credentials, to try its secret).
    await page.getByLabel('Client ID', { exact: true }).fill('billing');
    await page.getByLabel('Name', { exact: true }).fill('Billing service');
    await page.getByLabel('Redirect URIs', { exact: true }).fill('https://billing.example.test/callback');
    await page.getByRole('checkbox', { name: 'client_credentials' }).check();
    await page.getByRole('button', { name: 'Create client' }).click();
    await expect.poll(() => heading(page)).toBe('Client created');
    const secret = (await page.locator('[data-secret]').textContent())!.trim();
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(await page.getByText('shown only once').count()).toBeGreaterThan(0);
    await shot(page, 'clients-created-secret-once');

    // The secret works (client_credentials from Node).
    expect(await tokenWith('billing', secret)).toBe(200);
    expect(await tokenWith('billing', `${secret}x`)).toBe(401);

    // Never shown again: the client's page, a reload, and going back to the creation page.
    await page.getByRole('link', { name: 'Continue to client' }).click();
    await expect.poll(() => heading(page)).toBe('Billing service (billing)');
    expect(await pageHolds(page, secret)).toBe(false);
    await page.reload();
    await waitForConsole(page, t.issuer);
    await expect.poll(() => heading(page)).toBe('Billing service (billing)');
    expect(await pageHolds(page, secret)).toBe(false);
    await page.goBack();
    await expect.poll(() => heading(page)).toBe('Create client');
    expect(await pageHolds(page, secret)).toBe(false);
    await page.goForward();
    await expect.poll(() => heading(page)).toBe('Billing service (billing)');
    expect(await pageHolds(page, secret)).toBe(false);
    await shot(page, 'client-detail', true);

    // 3. Rotation needs step-up: the administrator enrolls an authenticator app (account pages), then rotates.
    authenticator = await withAuthenticator(t.issuer, PLATFORM_ADMIN);
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    await page.waitForURL(/\/interaction\//, { timeout: 30_000 });
    // The platform session is password-level: the step-up asks for the second factor only (or the whole sign-in, then the factor).
    const first = await Promise.race([
      page.locator('#totp-code').waitFor({ timeout: 30_000 }).then(() => 'totp' as const),
      page.getByLabel('Username or email').waitFor({ timeout: 30_000 }).then(() => 'login' as const),
    ]);
    if (first === 'login') {
      await page.getByLabel('Username or email').fill(PLATFORM_ADMIN.username);
      await page.getByLabel('Password').fill(PLATFORM_ADMIN.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#totp-code').waitFor({ timeout: 30_000 });
    }
    await shot(page, 'step-up-mfa');
    await answerTotp(page, authenticator);
    await waitForConsole(page, t.issuer);
    await expect.poll(() => heading(page)).toBe('Billing service (billing)');
    await expect.poll(() => page.locator('[data-secret]').count()).toBe(1);
    const rotated = (await page.locator('[data-secret]').textContent())!.trim();
    expect(rotated).not.toBe(secret);
    expect(rotated.length).toBeGreaterThanOrEqual(32);
    // The overlap is explained with the time the previous secret stops working.
    expect(await page.getByText('The previous secret keeps working until').count()).toBe(1);
    await shot(page, 'client-rotated-secret-once');
    expect(await tokenWith('billing', rotated)).toBe(200);
    expect(await tokenWith('billing', secret)).toBe(200); // the default overlap: one day

    await page.reload();
    await waitForConsole(page, t.issuer);
    await expect.poll(() => heading(page)).toBe('Billing service (billing)');
    expect(await pageHolds(page, rotated)).toBe(false);
    expect(await page.getByText('Previous secret works until').count()).toBe(1);

    // 4. The audit log: both writes, with the administrator as actor; the filters are in the URL.
    await page.getByRole('link', { name: 'Audit log' }).first().click();
    await expect.poll(() => heading(page)).toBe('Audit log');
    for (const action of ['client.created', 'client.secret_rotated']) {
      await filterAudit(page, { action });
      await expect.poll(() => new URL(page.url()).searchParams.get('action')).toBe(action);
      const rows = page.locator('table.table tbody tr', { has: page.locator('.badge', { hasText: action }) });
      await expect.poll(() => rows.count()).toBe(1);
      // The target: the client by its name, the client_id on hover (issue 19: names instead of ids).
      await expect.poll(() => rows.first().locator('td:nth-child(4) a').textContent()).toBe('Billing service');
      expect(await rows.first().locator('td:nth-child(4) [title]').getAttribute('title')).toBe('billing');
      // The actor: the administrator, by username, linked to their user page (the id in the title).
      const actor = rows.first().locator('td:nth-child(3)');
      await expect.poll(() => actor.locator('a').textContent()).toBe('admin');
      expect(await actor.locator('[title]').getAttribute('title')).toBe(adminId);
      expect(await actor.locator('a').getAttribute('href')).toBe(`/admin/users/${adminId}`);
    }
    await filterAudit(page, { user: 'billing' });
    await expect.poll(() => page.locator('table.table tbody tr').count()).toBe(2);
    const actions = await page.locator('table.table tbody tr td:nth-child(2) .badge').allTextContents();
    expect(actions).toEqual(['client.secret_rotated', 'client.created']);
    expect(await page.locator('table.table tbody tr td:nth-child(3) [title]').evaluateAll((els) => els.map((e) => e.getAttribute('title'))))
      .toEqual([adminId, adminId]);
    await page.locator('table.table tbody tr').first().locator('summary').click();
    expect(await page.locator('table.table tbody tr').first().locator('details dl').textContent()).toContain('overlap_seconds86400');
    await shot(page, 'audit-filtered', true);

    // A linked, filtered view: the form shows the filter and the table only matching entries.
    await page.goto(`${t.issuer}/admin/audit?action=client.secret_rotated`);
    await waitForConsole(page, t.issuer);
    await expect.poll(() => page.getByLabel('Action').inputValue()).toBe('client.secret_rotated');
    await expect.poll(() => page.locator('table.table tbody tr').count()).toBe(1);

    expect(csp.violations).toEqual([]);
    await context.close();
  });

  test('phone size (390×844): clients, APIs (the admin API read-only), signing keys and the audit log fit the screen', async () => {
    const { context, page } = await newSession(browser, { viewport: { width: 390, height: 844 } });
    const csp = watchCsp(page);
    await signInToConsole(page, t.issuer, PLATFORM_ADMIN, authenticator);
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

    await page.goto(`${t.issuer}/admin/clients`);
    await waitForConsole(page, t.issuer);
    await expect.poll(() => page.getByRole('link', { name: 'billing', exact: true }).count()).toBe(1);
    expect(await overflow()).toBeLessThanOrEqual(0);
    await shot(page, 'phone-clients');

    // Editing with If-Match: a change made elsewhere meanwhile is a 412, shown as such; after a reload the edit goes through.
    await page.getByRole('link', { name: 'billing', exact: true }).click();
    await expect.poll(() => heading(page)).toBe('Billing service (billing)');
    const elsewhere = await call('PATCH', '/clients/billing', { token: opsToken, body: { client_name: 'Billing (ops)' }, headers: { 'if-match': '*' } });
    expect(elsewhere.status).toBe(200);
    await page.getByLabel('Name', { exact: true }).fill('Billing v2');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => page.getByText('was changed elsewhere').count()).toBe(1);
    await page.getByRole('button', { name: 'Reload' }).click();
    await expect.poll(() => heading(page)).toBe('Billing (ops) (billing)');
    await page.getByLabel('Name', { exact: true }).fill('Billing v2');
    // A sensitive field too (this sign-in is a fresh multi-factor one, so no step-up round trip).
    await page.getByLabel('Redirect URIs', { exact: true }).fill('https://billing.example.test/callback\nhttps://billing.example.test/cb2');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => page.getByText('Changes saved.').count()).toBe(1);
    await expect.poll(() => heading(page)).toBe('Billing v2 (billing)');
    const stored = await call<{ client_name: string; redirect_uris: string[] }>('GET', '/clients/billing', { token: opsToken });
    expect(stored.body.client_name).toBe('Billing v2');
    expect(stored.body.redirect_uris).toEqual(['https://billing.example.test/callback', 'https://billing.example.test/cb2']);
    expect(await overflow()).toBeLessThanOrEqual(0);
    await shot(page, 'phone-client-saved');

    await page.goto(`${t.issuer}/admin/apis`);
    await waitForConsole(page, t.issuer);
    const adminApiId = `${t.issuer}/api/admin`;
    await page.getByRole('link', { name: adminApiId, exact: true }).click();
    await expect.poll(() => page.url()).toContain(`/admin/apis/${encodeURIComponent(adminApiId)}`);
    await expect.poll(() => page.getByText('cannot be changed or deleted').count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Save changes' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Delete API' }).count()).toBe(0);
    expect(await overflow()).toBeLessThanOrEqual(0);
    await shot(page, 'phone-admin-api-read-only');

    await page.goto(`${t.issuer}/admin/keys`);
    await waitForConsole(page, t.issuer);
    await expect.poll(() => page.locator('table.table tbody tr').count()).toBeGreaterThan(0);
    expect(await page.locator('table.table tbody .badge.ok').count()).toBeGreaterThan(0);
    // Public parts only: no private JWK member reaches the page.
    expect(await page.content()).not.toMatch(/"d"\s*:/);
    await shot(page, 'phone-keys');
    // Rotation (this sign-in answered the MFA page just now, so no step-up round trip): the new keys are named, the old ones retire.
    const before = await page.locator('table.table tbody tr td:first-child').allTextContents();
    page.on('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Rotate keys' }).click();
    await expect.poll(() => page.getByText('Keys rotated.').count()).toBe(1);
    await expect.poll(() => page.locator('table.table tbody .badge.warn', { hasText: 'retiring' }).count()).toBe(before.length);
    const named = await page.locator('.alert code').allTextContents();
    expect(named.length).toBeGreaterThan(0);
    for (const kid of named) expect(before).not.toContain(kid);
    await shot(page, 'phone-keys-rotated');

    await page.goto(`${t.issuer}/admin/audit?user=billing`);
    await waitForConsole(page, t.issuer);
    // created, rotated, and the two edits above
    await expect.poll(() => page.locator('table.table tbody tr').count()).toBe(4);
    expect(await overflow()).toBeLessThanOrEqual(0);
    await shot(page, 'phone-audit');

    expect(csp.violations).toEqual([]);
    await context.close();
  });
});
