/// <reference lib="dom" />
/**
 * The console's Webhooks and Identity providers pages (docs/webhooks.md,
 * docs/federation.md): a subscription created there delivers a signed event
 * to a real receiver (verified with the npm `standardwebhooks` package) and
 * its delivery shows in the log; an OpenID Connect provider added there (after
 * the MFA step-up, replayed) shows its redirect URI and appears as a button on
 * the hosted sign-in page; switched off, it is gone from it.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { UserAgent } from '../helpers/agent.js';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { PLATFORM_ADMIN, adminApi, adminConfig, machineToken, withAuthenticator } from '../helpers/admin.js';
import { launchBrowser, newSession } from './browser.js';
import { answerTotp, ensureConsoleBuilt, signInToConsole, waitForConsole, watchCsp } from './console.js';

let t: TestApp;
let browser: Browser;
let receiver: Server;
let receiverUrl: string;
const received: Array<{ headers: Record<string, string>; body: string }> = [];

beforeAll(async () => {
  ensureConsoleBuilt();
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers as Record<string, string>, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks`;
  t = await startTestApp({ config: adminConfig(), env: { TESSERA_OUTBOUND_PRIVATE_HOSTS: '127.0.0.1', TESSERA_WEBHOOK_POLL_MS: '50' } });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
  receiver?.close();
});

test('a webhook subscription made in the console: secret shown once, a signed delivery arrives, the log shows it', async () => {
  const { context, page } = await newSession(browser);
  const csp = watchCsp(page);
  await signInToConsole(page, t.issuer, PLATFORM_ADMIN);
  await page.getByRole('link', { name: 'Webhooks' }).click();
  await expect.poll(() => page.locator('main h1').first().textContent()).toBe('Webhooks');

  // Bad input first: a batched interval out of range is refused at its field, nothing is created.
  await page.getByLabel('Receiver URL').fill(receiverUrl);
  await page.getByLabel('Mode').selectOption('batched');
  await page.getByLabel('Interval (minutes)').fill('1441');
  await page.getByRole('button', { name: 'Create subscription' }).click();
  await expect.poll(() => page.locator('.field-error, [role="alert"]').count()).toBeGreaterThan(0);
  expect(await page.locator('main').textContent()).toMatch(/Too large/);
  const api = adminApi(t.issuer);
  const token = await machineToken(t.issuer, 'ops-bot');
  expect((await api('GET', '/webhooks', { token })).body.items).toEqual([]);

  await page.getByLabel('Mode').selectOption('immediate');
  await page.getByRole('button', { name: 'Create subscription' }).click();
  const secret = (await page.locator('code', { hasText: /^whsec_/ }).first().textContent())!;
  expect(secret).toMatch(/^whsec_/);

  // A change the subscription listens to: a user created through the admin API.
  const created = await api('POST', '/users', { token, body: { username: 'webhook-person', email: 'wp@example.test' } });
  expect(created.status).toBe(201);
  await expect.poll(() => received.length, { timeout: 15_000 }).toBeGreaterThan(0);
  const message = received[0]!;
  const payload = new Webhook(secret).verify(message.body, message.headers) as { type?: string; data?: { id?: string } };
  expect(JSON.stringify(payload)).toContain(String(created.body.id));

  // The delivery log on the subscription's page.
  await page.getByRole('link', { name: receiverUrl }).click();
  await expect.poll(() => page.locator('main h1').first().textContent()).toBe('Webhook subscription');
  await expect.poll(() => page.getByRole('row', { name: new RegExp(message.headers['webhook-id']!) }).count()).toBe(1);
  expect(await page.getByRole('row', { name: new RegExp(message.headers['webhook-id']!) }).textContent()).toContain('delivered');
  // The secret is not on the page any more.
  expect(await page.content()).not.toContain(secret);
  expect(csp.violations).toEqual([]);
  await context.close();
});

test('an OpenID Connect provider added in the console (step-up): its redirect URI, a button on the sign-in page; disabled, gone; a private_key_jwt one with its JWKS URL, its key rotated', async () => {
  const { context, page } = await newSession(browser);
  const csp = watchCsp(page);
  await signInToConsole(page, t.issuer, PLATFORM_ADMIN);
  const authenticator = await withAuthenticator(t.issuer, PLATFORM_ADMIN);
  await page.getByRole('link', { name: 'Identity providers' }).click();
  await expect.poll(() => page.locator('main h1').first().textContent()).toBe('Identity providers');

  await page.getByLabel('Alias').fill('corp');
  await page.getByLabel('Display name').fill('Corp account');
  await page.getByLabel('Issuer').fill('https://login.corp.example/v2.0');
  await page.getByLabel('Client ID').fill('tessera-at-corp');
  await page.getByLabel('Client secret').fill('a-client-secret-from-corp');
  await page.getByRole('button', { name: 'Add provider' }).click();
  // Adding a provider needs a recent multi-factor sign-in: the MFA page, then back with the request replayed.
  await page.locator('#totp-code').waitFor({ timeout: 30_000 });
  await answerTotp(page, authenticator);
  await waitForConsole(page, t.issuer);
  const redirect = `${t.issuer}/federation/corp/callback`;
  await expect.poll(() => page.locator('main').textContent()).toContain(redirect);
  expect(await page.content()).not.toContain('a-client-secret-from-corp');

  const token = await machineToken(t.issuer, 'ops-bot');
  const stored = await adminApi(t.issuer)('GET', '/identity-providers/corp', { token });
  expect(stored.body).toMatchObject({ alias: 'corp', type: 'oidc', display_name: 'Corp account', redirect_uri: redirect, secrets_set: ['client_secret'] });

  // The hosted sign-in page, as a new browser gets it (cookies kept across the redirects).
  const signInPage = async () => {
    const agent = new UserAgent();
    const { res } = await agent.follow(await agent.get(`${t.issuer}/account`), `${t.issuer}/account`);
    return res.text();
  };
  await expect.poll(signInPage).toContain('Corp account');
  const row = page.getByRole('row', { name: /Corp account/ });
  await row.getByRole('button', { name: 'Disable' }).click();
  await expect.poll(() => row.getByText('disabled').count()).toBe(1);
  await expect.poll(signInPage).not.toContain('Corp account');

  // private_key_jwt: no secret field; the JWKS URL to register beside the redirect URI; the key rotated from the row.
  await page.getByLabel('Alias').fill('corp-keys');
  await page.getByLabel('Display name').fill('Corp keys');
  await page.getByLabel('Issuer').fill('https://login.corp.example/v2.0');
  await page.getByLabel('Client ID').fill('tessera-keys');
  await page.getByLabel('Client authentication').selectOption('private_key_jwt');
  expect(await page.getByLabel('Client secret').count()).toBe(0);
  await page.getByRole('button', { name: 'Add provider' }).click();
  const jwksUri = `${t.issuer}/federation/corp-keys/jwks`;
  await expect.poll(() => page.locator('main').textContent()).toContain(jwksUri);
  const keyed = await adminApi(t.issuer)('GET', '/identity-providers/corp-keys', { token });
  expect(keyed.body).toMatchObject({ client_auth: 'private_key_jwt', client_jwks_uri: jwksUri, secrets_set: [] });
  page.once('dialog', (d) => void d.accept());
  await page.getByRole('row', { name: /Corp keys/ }).getByRole('button', { name: 'Rotate key' }).click();
  // Two RSA keys are generated on the way (the first one, then its successor): slow on a busy machine.
  await expect.poll(() => page.locator('main').textContent(), { timeout: 20_000 }).toMatch(/active, .*retiring|retiring, .*active/);
  expect(csp.violations).toEqual([]);
  await context.close();
});
