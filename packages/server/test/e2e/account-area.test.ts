import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ADMIN_PASSWORD, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { Authenticator } from '../helpers/mfa.js';
import { baseConfig, REDIRECT, USER } from '../fixtures.js';
import { launchBrowser } from './browser.js';
import { pageOverflow, shot, waitForConsole } from './console.js';

/**
 * The account area as a person sees it (issue 19, item 6), in Chromium at a
 * desktop (1280×800) and a phone (390×844) size: the branded sign-in page
 * and the account pages without horizontal overflow, the navigation on one
 * line at 1280 px, one phone field, the admin console link for
 * administrators only, copy and download of new recovery codes, and "Not
 * you?" on the consent page. Screenshots go to SHOTS_DIR (console.ts).
 */
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const BOB = { username: 'bob', password: 'bob password for the account tests' };
const CAROL = { username: 'carol', password: 'carol password for the account tests' };
const LOGO = `data:image/svg+xml;base64,${Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40"><rect width="40" height="40" rx="8" fill="#0b7285"/><text x="48" y="27" font-size="18" fill="#0b7285">EXID</text></svg>',
).toString('base64')}`;

let t: TestApp;
let browser: Browser;

beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      tenants: [...baseConfig.tenants, {
        id: 'default', name: 'Default',
        branding: { name: 'Example ID', colors: { primary: '#0b7285', background: '#f1f3f5', text: '#1d2330' }, logo: LOGO },
      }],
      users: [...baseConfig.users, { ...BOB, email: 'bob@example.test', email_verified: true }, { ...CAROL, email: 'carol@example.test', email_verified: true }],
    },
  });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

async function open(viewport = DESKTOP, extra: { acceptDownloads?: boolean } = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, locale: 'en-US', ...extra });
  return { context, page: await context.newPage() };
}

/** Signs in on the hosted page the browser is on, and waits for `url`. */
async function signIn(page: Page, creds: { username: string; password: string }, url: RegExp): Promise<void> {
  await page.getByLabel('Username or email').fill(creds.username);
  await page.getByLabel('Password', { exact: true }).fill(creds.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(url);
}

/** The vertical positions of the account navigation's links (one value: one line). */
async function navLines(page: Page): Promise<number> {
  const tops = await page.locator('nav.tabs a').evaluateAll((links) => links.map((a) => Math.round(a.getBoundingClientRect().top)));
  return new Set(tops).size;
}

describe('the account area in Chromium', () => {
  test('the branded sign-in page and the account pages fit a desktop and a phone; one line of navigation at 1280 px', async () => {
    for (const [viewport, size] of [[DESKTOP, 'desktop'], [PHONE, 'phone']] as const) {
      const { context, page } = await open(viewport);
      await page.goto(`${t.issuer}/account`);
      await page.waitForURL(/\/interaction\//);
      // The tenant's brand: name, logo and colour, and nothing sticks out sideways.
      await expect.poll(() => page.locator('.brand-name').textContent()).toBe('Example ID');
      expect(await page.locator('img.brand-logo').evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
      expect(await page.locator('button[type=submit]').first().evaluate((b) => getComputedStyle(b).backgroundColor)).toBe('rgb(11, 114, 133)');
      expect(await pageOverflow(page)).toBe(0);
      await shot(page, `branded-signin-${size}`);

      await signIn(page, { username: 'admin', password: ADMIN_PASSWORD }, /\/account$/);
      expect(await page.title()).toBe('Your account · Example ID');
      for (const path of ['/account', '/account/password', '/account/security', '/account/sessions', '/account/applications', '/account/data']) {
        if (path !== '/account') await page.goto(`${t.issuer}${path}`);
        expect(await pageOverflow(page), `${path} at ${size}`).toBe(0);
        if (size === 'desktop') expect(await navLines(page), `navigation of ${path}`).toBe(1);
        await shot(page, `account${path.replace('/account', '').replace('/', '-') || '-profile'}-${size}`, true);
      }
      await context.close();
    }
  });

  test('administrators get a link to the admin console, which signs them in; others do not', async () => {
    const { context, page } = await open();
    await page.goto(`${t.issuer}/account`);
    await signIn(page, { username: 'admin', password: ADMIN_PASSWORD }, /\/account$/);
    const nav = page.getByRole('navigation', { name: 'Account' });
    await nav.getByRole('link', { name: 'Admin console' }).click();
    // Same browser, same platform session: the console signs in without asking again.
    await waitForConsole(page, t.issuer);
    await context.close();

    const other = await open();
    await other.page.goto(`${t.issuer}/account`);
    await signIn(other.page, USER, /\/account$/);
    expect(await other.page.getByRole('navigation', { name: 'Account' }).getByRole('link').allTextContents())
      .toEqual(['Profile', 'Password', 'Security', 'Sessions', 'Applications', 'Your data', 'Details', 'Sign out']);
    await other.context.close();
  });

  test('the profile has one phone field; the number shows once, with its status and the way to confirm it', async () => {
    const { context, page } = await open();
    await page.goto(`${t.issuer}/account`);
    await signIn(page, BOB, /\/account$/);
    expect(await page.locator('main input[type=tel]').count()).toBe(1);
    await page.getByLabel('Phone').fill('+4915112345678');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByRole('status').first().textContent()).toBe('Your profile has been saved.');
    expect(await page.locator('main input[type=tel]').count()).toBe(1);
    expect(await page.locator('main input[type=tel]').inputValue()).toBe('+4915112345678');
    // Outside the field, the number appears once: in the status line under it.
    const mainText = (await page.locator('main').textContent()) ?? '';
    expect(mainText.split('+4915112345678').length - 1).toBe(1);
    expect(await page.locator('#phone-status').textContent()).toContain('not confirmed');
    expect(await page.getByRole('heading', { name: 'Phone' }).count()).toBe(0);
    // The phone page is part of the profile: the Profile tab stays the current one.
    await page.locator('#phone-status').getByRole('link', { name: 'Confirm your phone number' }).click();
    await page.waitForURL(/\/account\/phone$/);
    expect(await page.locator('nav.tabs a[aria-current=page]').textContent()).toBe('Profile');
    await context.close();
  });

  test('new recovery codes can be copied and downloaded', async () => {
    const { context, page } = await open(DESKTOP, { acceptDownloads: true });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.issuer });
    await page.goto(`${t.issuer}/account/security`);
    await signIn(page, USER, /\/account\/security$/);
    await page.getByRole('button', { name: 'Add an authenticator app' }).click();
    const authenticator = new Authenticator(((await page.locator('#totp-secret').textContent()) ?? '').replace(/\s/g, ''));
    await page.locator('#totp-code').fill(await authenticator.nextCode());
    await page.getByRole('button', { name: 'Verify and turn on' }).click();
    await page.locator('#recovery-codes').waitFor();
    const codes = await page.locator('#recovery-codes code').allTextContents();
    expect(codes.length).toBeGreaterThanOrEqual(8);
    expect(await pageOverflow(page)).toBe(0);
    await shot(page, 'account-recovery-codes-desktop');

    await page.getByRole('button', { name: 'Copy' }).click();
    await expect.poll(() => page.locator('#copy-recovery-codes-status').textContent()).toBe('Copied to the clipboard.');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`${codes.join('\n')}\n`);

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download' }).click()]);
    expect(download.suggestedFilename()).toBe('recovery-codes.txt');
    const file = readFileSync((await download.path())!, 'utf8');
    expect(file).toBe(`Example ID: Recovery codes\n\n${codes.join('\n')}\n`);
    await context.close();
  });

  test('the consent page says who is signed in; "Not you?" lets another person sign in to the same request', async () => {
    const { context, page } = await open();
    const params = new URLSearchParams({
      client_id: 'web', redirect_uri: REDIRECT, response_type: 'code', scope: 'openid profile', state: 'state-1',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    });
    await page.goto(`${t.issuer}/oidc/auth?${params}`);
    await signIn(page, CAROL, /\/interaction\//);
    await expect.poll(() => page.locator('h1').textContent()).toBe('Authorize Example Web App');
    expect(await page.locator('.signed-in-as').textContent()).toContain('Signed in as carol.');
    expect(await pageOverflow(page)).toBe(0);
    await shot(page, 'consent-not-you-desktop');

    await page.getByRole('button', { name: 'Not you?' }).click();
    await page.getByLabel('Username or email').waitFor();
    await signIn(page, BOB, /\/interaction\//);
    await expect.poll(() => page.locator('.signed-in-as').textContent(), { timeout: 15_000 }).toContain('Signed in as bob.');
    expect(await page.locator('h1').textContent()).toBe('Authorize Example Web App');
    await context.close();
  });
});
