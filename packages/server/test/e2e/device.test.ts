/// <reference lib="dom" />
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import * as oidc from 'openid-client';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { discover } from '../helpers/flows.js';
import { withAuthenticator } from '../helpers/admin.js';
import type { Authenticator } from '../helpers/mfa.js';
import { USER, baseConfig } from '../fixtures.js';
import { ACR_MFA } from '../../src/oidc/acr.js';
import { launchBrowser, newSession } from './browser.js';
import { answerTotp, watchCsp } from './console.js';

/**
 * The device authorization grant (RFC 8628) as people meet it (issue 21):
 * openid-client plays the TV or command-line tool (device authorization,
 * polling), Chromium the person's phone on the hosted /device page: typing
 * the user code, confirming, signing in (MFA and consent as the client
 * needs), the success page. The page's Content-Security-Policy holds: no
 * violation on any of its pages.
 */
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
let t: TestApp;
let browser: Browser;
let authenticator: Authenticator;

beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      clients: [
        ...baseConfig.clients,
        { client_id: 'tv', client_name: 'Living-room TV', token_endpoint_auth_method: 'none', grant_types: [DEVICE_GRANT, 'refresh_token'], scope: 'openid offline_access profile' },
        { client_id: 'cli', client_name: 'Ops CLI', token_endpoint_auth_method: 'none', grant_types: [DEVICE_GRANT], mfa: 'required', first_party: true, scope: 'openid profile' },
      ],
    },
  });
  authenticator = await withAuthenticator(t.issuer, USER);
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

/** The CSP header of every /device document the page loads (entry, confirmation, done). */
function deviceCsps(page: Page): (string | undefined)[] {
  const seen: (string | undefined)[] = [];
  page.on('response', (res) => {
    if (res.request().resourceType() === 'document' && new URL(res.url()).pathname.startsWith('/device') && res.status() === 200) {
      seen.push(res.headers()['content-security-policy']);
    }
  });
  return seen;
}

/** No script at all, styles from our origin, forms only to ourselves, no framing. */
function expectStrictCsp(policies: (string | undefined)[], pages: number): void {
  expect(policies.length).toBeGreaterThanOrEqual(pages);
  for (const policy of policies) {
    const directives = new Map((policy ?? '').split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k!, v.join(' ')]));
    expect(directives.get('default-src')).toBe("'none'");
    expect(directives.has('script-src')).toBe(false);
    expect(directives.get('form-action')).toBe("'self'");
    expect(directives.get('frame-ancestors')).toBe("'none'");
    expect(policy).not.toContain('unsafe-');
  }
}

/** The phone: /device, the code typed in, the confirmation naming the client. */
async function enterCode(page: Page, userCode: string, clientName: string): Promise<void> {
  const res = await page.goto(`${t.issuer}/device`);
  expect(res!.status()).toBe(200);
  await expect.poll(() => page.locator('h1').textContent()).toBe('Connect a device');
  await page.getByLabel('Code').fill(userCode);
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect.poll(() => page.locator('h1').textContent()).toBe(`Sign in on ${clientName}?`);
  expect(await page.locator('body').innerText()).toContain(userCode);
  await page.getByRole('button', { name: 'Continue' }).click();
}

async function signIn(page: Page): Promise<void> {
  await page.waitForURL(/\/interaction\//);
  await page.getByLabel('Username or email').fill(USER.username);
  await page.getByLabel('Password').fill(USER.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function seeDone(page: Page, clientName: string): Promise<void> {
  await expect.poll(() => page.locator('h1').textContent(), { timeout: 20_000 }).toBe('Device connected');
  expect(await page.locator('body').innerText()).toContain(`You are signed in on ${clientName}. You can close this page.`);
  expect(new URL(page.url()).pathname.startsWith('/device')).toBe(true);
}

describe('device authorization in Chromium', () => {
  test('TV: the person types the code at /device, confirms, signs in and consents; the polling TV gets tokens; no CSP violation', async () => {
    const config = await discover(t.issuer, { clientId: 'tv' });
    const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid offline_access profile', prompt: 'consent' });
    expect(device.verification_uri).toBe(`${t.issuer}/device`);
    // The TV polls from the start, as a real one would; the answer comes once the person is done.
    const polling = oidc.pollDeviceAuthorizationGrant(config, device);

    const { context, page } = await newSession(browser);
    const csp = watchCsp(page);
    const policies = deviceCsps(page);
    await enterCode(page, device.user_code, 'Living-room TV');
    await signIn(page);
    // Alice enrolled an authenticator: the tenant's optional MFA asks for it, as for any sign-in. Then consent (not first party).
    await page.locator('#totp-code').waitFor();
    await answerTotp(page, authenticator);
    await page.getByRole('button', { name: 'Allow' }).click();
    await seeDone(page, 'Living-room TV');
    // Entry, confirmation and done: each with the hosted pages' strict policy.
    expectStrictCsp(policies, 3);

    const tokens = await polling;
    expect(tokens.refresh_token).toBeTruthy();
    const sub = tokens.claims()!.sub;
    expect((await oidc.fetchUserInfo(config, tokens.access_token, sub)).preferred_username).toBe('alice');
    expect(csp.violations).toEqual([]);
    await context.close();
  });

  test('CLI with mfa: required: the same page, then the second factor; the ID token says MFA; no CSP violation', async () => {
    const config = await discover(t.issuer, { clientId: 'cli' });
    const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile', acr_values: ACR_MFA });
    const polling = oidc.pollDeviceAuthorizationGrant(config, device);

    const { context, page } = await newSession(browser);
    const csp = watchCsp(page);
    const policies = deviceCsps(page);
    await enterCode(page, device.user_code, 'Ops CLI');
    await signIn(page);
    await page.locator('#totp-code').waitFor();
    await answerTotp(page, authenticator);
    await seeDone(page, 'Ops CLI');
    expectStrictCsp(policies, 3);

    const tokens = await polling;
    expect(tokens.claims()).toMatchObject({ acr: ACR_MFA, amr: expect.arrayContaining(['pwd', 'otp']) });
    expect(csp.violations).toEqual([]);
    await context.close();
  });

  test('a mistyped code: the page says so and the form is back, in German for a German browser; no CSP violation', async () => {
    const { context, page } = await newSession(browser, { locale: 'de-DE' });
    const csp = watchCsp(page);
    const policies = deviceCsps(page);
    await page.goto(`${t.issuer}/device`);
    await page.getByLabel('Code').fill('BBBB-BBBB');
    await page.getByRole('button', { name: 'Weiter' }).click();
    await expect.poll(() => page.locator('body').innerText()).toContain('Dieser Code ist ungültig oder abgelaufen.');
    expect(await page.getByLabel('Code').count()).toBe(1);
    expectStrictCsp(policies, 2);
    expect(csp.violations).toEqual([]);
    await context.close();
  });
});
