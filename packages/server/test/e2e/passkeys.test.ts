import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import * as oidc from 'openid-client';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { freePort, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { discover } from '../helpers/flows.js';
import { baseConfig } from '../fixtures.js';
import { ACR_MFA } from '../../src/oidc/acr.js';
import { launchBrowser, newSession } from './browser.js';

/**
 * Passkeys in Chromium with the DevTools Protocol's virtual authenticator
 * (an internal, resident-key, user-verifying authenticator that answers by
 * itself): register a passkey on the account page, sign out, sign in with
 * the passkey alone, and get an ID token at the MFA level through an OIDC
 * client.
 *
 * WebAuthn needs a secure context and a domain as RP ID (never an IP
 * address): the platform runs with the issuer http://localhost:<port>, a
 * potentially trustworthy origin in Chromium.
 */
const PASSWORD = 'passkey person password';
let REDIRECT = '';
let clientServer: Server;
let t: TestApp;
let browser: Browser;

beforeAll(async () => {
  const port = await freePort();
  REDIRECT = `http://127.0.0.1:${port}/cb`;
  clientServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('client callback'));
  await new Promise<void>((r) => clientServer.listen(port, '127.0.0.1', r));
  t = await startTestApp({
    issuerHost: 'localhost',
    config: {
      ...baseConfig,
      clients: [...baseConfig.clients, {
        client_id: 'e2e-spa', client_name: 'E2E SPA', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT],
        grant_types: ['authorization_code', 'refresh_token'], first_party: true,
      }],
      users: [...baseConfig.users, ...['pia', 'cora'].map((username) => ({ username, password: PASSWORD, email: `${username}@example.test`, email_verified: true }))],
    },
  });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
  await new Promise((r) => clientServer?.close(r));
});

/** A virtual platform authenticator for this page's browser context (CDP WebAuthn domain). */
interface VirtualAuthenticator {
  credentials(): Promise<{ credentialId: string; signCount: number }[]>;
}

async function addAuthenticator(page: Page): Promise<VirtualAuthenticator> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials };
}

/**
 * Turns the autofill (conditional UI) off in this browser context, so a test
 * drives the "Continue with a passkey" button deterministically: the virtual
 * authenticator would otherwise answer the autofill's request as soon as the
 * sign-in page loads.
 */
async function withoutAutofill(page: Page): Promise<void> {
  await page.context().addInitScript(() => {
    const pkc = (globalThis as unknown as { PublicKeyCredential?: { isConditionalMediationAvailable?: () => Promise<boolean> } }).PublicKeyCredential;
    if (pkc) pkc.isConditionalMediationAvailable = async () => false;
  });
}

/** Opens a sign-in page and clicks "Continue with a passkey". */
async function signInWithPasskeyButton(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.getByRole('button', { name: 'Continue with a passkey' }).click();
}

/** Signs in with the password (to /account/security) and adds a passkey named `name`. */
async function addPasskey(page: Page, username: string, name: string): Promise<void> {
  await page.goto(`${t.issuer}/account/security`);
  await page.getByLabel('Username or email').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${t.issuer}/account/security`);
  // The script fetches options, the authenticator creates a discoverable credential, the form posts it.
  await page.getByLabel('Name for a new passkey (optional)').fill(name);
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  // A first second factor comes with recovery codes, shown once; then on to the Security page.
  await page.locator('#recovery-codes').waitFor();
  expect(await page.locator('#recovery-codes li').count()).toBe(10);
  await page.getByRole('link', { name: 'I have saved these codes' }).click();
  await page.waitForURL(/\/account\/security\?passkeys=added/);
  await expect.poll(() => page.getByRole('status').first().textContent()).toContain('Your passkey has been added.');
  expect(await page.locator('#passkeys').textContent()).toContain(name);
}

async function signOut(page: Page): Promise<void> {
  await page.getByRole('link', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Yes, sign me out' }).click();
  await page.waitForURL(`${t.issuer}/`);
}

describe('passkeys in Chromium (virtual authenticator)', () => {
  test('add a passkey on the account page → sign out → sign in with the passkey alone → ID token at the MFA level', async () => {
    const { context, page } = await newSession(browser);
    await withoutAutofill(page);
    const authenticator = await addAuthenticator(page);

    await addPasskey(page, 'pia', 'Virtual key');
    const [credential] = await authenticator.credentials();
    expect(credential).toBeDefined();
    await signOut(page);

    // Sign in with the passkey alone: no username, no password.
    await signInWithPasskeyButton(page, `${t.issuer}/account`);
    await page.waitForURL(`${t.issuer}/account`);
    await expect.poll(() => page.locator('h1').first().textContent()).toBe('Your account');
    expect(await page.content()).toContain('pia@example.test');
    expect((await authenticator.credentials())[0]!.signCount).toBeGreaterThan(credential!.signCount);

    // Through an OIDC client, asking for a fresh sign-in: the passkey again, and the ID token says how.
    const config = await discover(t.issuer, { clientId: 'e2e-spa', auth: 'none' });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid profile', state, nonce, prompt: 'login',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      claims: JSON.stringify({ id_token: { acr: null, amr: null } }),
    });
    const callback = page.waitForRequest((r) => r.url().startsWith(REDIRECT)).then((r) => r.url());
    await signInWithPasskeyButton(page, url.href);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(await callback), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    const claims = tokens.claims()!;
    expect(claims.acr).toBe(ACR_MFA);
    expect(claims.amr).toEqual(expect.arrayContaining(['hwk', 'user']));
    const pia = await t.app.store.db.selectFrom('users').select('id').where('username', '=', 'pia').executeTakeFirstOrThrow();
    expect(claims.sub).toBe(pia.id);
    await context.close();
  });

  test('conditional UI: the username field\'s autofill offers the passkey, and choosing it signs in', async () => {
    const { context, page } = await newSession(browser);
    await addAuthenticator(page);
    await addPasskey(page, 'cora', 'Autofill key');
    await signOut(page);
    // The sign-in page starts an autofill (conditional mediation) request on load; the virtual
    // authenticator answers it as a person picking the passkey from the autofill list would.
    await page.goto(`${t.issuer}/account`);
    await page.waitForURL(`${t.issuer}/account`);
    await expect.poll(() => page.locator('h1').first().textContent()).toBe('Your account');
    expect(await page.content()).toContain('cora@example.test');
    await context.close();
  });

  test('the sign-in page offers passkeys in the username autofill and still works without JavaScript', async () => {
    const { context, page } = await newSession(browser, { javaScriptEnabled: false });
    await page.goto(`${t.issuer}/account`);
    expect(await page.getByLabel('Username or email').getAttribute('autocomplete')).toBe('username webauthn');
    // Without JavaScript the passkey button stays hidden; the password form works as before.
    expect(await page.getByRole('button', { name: 'Continue with a passkey' }).count()).toBe(0);
    await page.getByLabel('Username or email').fill('admin');
    await page.getByLabel('Password', { exact: true }).fill('admin-password-for-tests');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${t.issuer}/account`);
    await context.close();
  });
});
