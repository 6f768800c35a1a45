/// <reference lib="dom" />
/**
 * From import to tokens, in Chromium (docs/users.md): a user imported
 * through the admin API with send_activation gets the activation mail from
 * a real SMTP server, opens its link, sets a password, and signs in to a
 * confidential client whose ID token carries the user's external id
 * (attribute_claims), while another client's ID token does not. The relying
 * party is openid-client; the browser's redirects to it are caught.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import * as oidc from 'openid-client';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { firstLink, startSmtp } from '../helpers/smtp.js';
import type { TestSmtp } from '../helpers/smtp.js';
import { MACHINE_SECRET, machineToken } from '../helpers/admin.js';
import { CONF_SECRET } from '../fixtures.js';
import { discover } from '../helpers/flows.js';
import { launchBrowser, newSession } from './browser.js';

const PASSWORD = 'my brand new passphrase';
// Never reached: the test notes the browser's request to it. (Chromium refuses port 9 as unsafe, hence a host name.)
const REDIRECT = 'http://rp.example.test/cb';
let t: TestApp;
let smtp: TestSmtp;
let browser: Browser;

const client = (client_id: string, extra: Record<string, unknown> = {}) => ({
  client_id, client_secret: CONF_SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code'],
  token_endpoint_auth_method: 'client_secret_basic', first_party: true, tenant: 'shop', ...extra,
});

beforeAll(async () => {
  smtp = await startSmtp();
  t = await startTestApp({
    env: { SMTP_URL: smtp.url },
    config: {
      tenants: [{ id: 'shop', name: 'Shop' }],
      clients: [
        client('ticketing', { attribute_claims: [{ external_id: 'secutix', claim: 'secutix_id', scope: 'secutix' }] }),
        client('newsletter'),
        { client_id: 'importer', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], tenant: 'shop', admin_scopes: ['identity.admin'] },
      ],
    },
  });
  browser = await launchBrowser();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await t?.close();
  await smtp?.close();
});

/** Runs a code flow in the browser page (already signed in or signing in there) and redeems the code with openid-client. */
async function signInTo(page: Page, clientId: string, scope: string, signIn?: () => Promise<void>) {
  const config = await discover(t.issuer, { clientId, clientSecret: CONF_SECRET, auth: 'basic' });
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope, state, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  let callback: string | undefined;
  // The browser's last redirect goes to the client; its request is noted (it fails: nothing answers there).
  const onRequest = (req: { url(): string }) => {
    if (req.url().startsWith(REDIRECT)) callback = req.url();
  };
  page.on('request', onRequest);
  await page.goto(url.href).catch(() => undefined);
  if (signIn) await signIn();
  await expect.poll(() => callback, { timeout: 15_000 }).toBeDefined();
  page.off('request', onRequest);
  return oidc.authorizationCodeGrant(config, new URL(callback!), { pkceCodeVerifier: verifier, expectedState: state, idTokenExpected: true });
}

test('imported → activation mail → password set in the browser → only the listed client gets the external id', async () => {
  const token = await machineToken(t.issuer, 'importer', 'identity.admin');
  const res = await fetch(`${t.issuer}/api/admin/v1/users/imports?tenant=shop&send_activation=true`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
    body: `${JSON.stringify({ external_id: 'secutix:4711', email: 'mia@example.test', given_name: 'Mia' })}\n`,
  });
  expect(res.status).toBe(202);

  const mail = await smtp.waitFor((m) => m.to === 'mia@example.test', 20_000);
  expect(mail.subject).toBe('Set your password');
  const link = firstLink(mail.text, '/activate');

  const { context, page } = await newSession(browser);
  await page.goto(link);
  await expect.poll(() => page.locator('h1').textContent()).toBe('Set your password');
  await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat the new password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Set password and activate' }).click();
  await expect.poll(() => page.locator('h1').textContent()).toBe('Your account is ready');
  expect(await page.getByRole('link', { name: 'Add a passkey' }).getAttribute('href')).toBe('/account/security');

  const ticketing = await signInTo(page, 'ticketing', 'openid secutix', async () => {
    await page.getByLabel('Username or email').fill('mia@example.test');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
  });
  const claims = ticketing.claims()!;
  expect(claims.secutix_id).toBe('4711');

  // The same person, the same browser session, another client asking for the same scope: no external id.
  const newsletter = await signInTo(page, 'newsletter', 'openid secutix');
  expect(newsletter.claims()!.sub).toBe(claims.sub);
  expect(newsletter.claims()!.secutix_id).toBeUndefined();
  const info = await oidc.fetchUserInfo(await discover(t.issuer, { clientId: 'newsletter', clientSecret: CONF_SECRET, auth: 'basic' }), newsletter.access_token, claims.sub);
  expect(info.secutix_id).toBeUndefined();
  await context.close();
}, 120_000);
