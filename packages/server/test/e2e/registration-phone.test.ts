/**
 * Phone confirmation at registration in Chromium (docs/identity.md#phone-confirmation-at-registration):
 * register in a tenant that requires a phone number, type the SMS code on
 * the hosted page (a wrong one first), confirm the address by the mailed
 * link, then sign in. Mail from a real SMTP server, SMS from a real HTTP receiver.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { firstLink, startSmtp } from '../helpers/smtp.js';
import type { TestSmtp } from '../helpers/smtp.js';
import { startSmsReceiver } from '../helpers/sms.js';
import type { SmsReceiver } from '../helpers/sms.js';
import { baseConfig } from '../fixtures.js';
import { launchBrowser, newSession } from './browser.js';

let t: TestApp;
let smtp: TestSmtp;
let rx: SmsReceiver;
let browser: Browser;

beforeAll(async () => {
  smtp = await startSmtp();
  rx = await startSmsReceiver();
  t = await startTestApp({
    env: { SMTP_URL: smtp.url, SMS_PROVIDER: 'http', SMS_HTTP_URL: `${rx.url}/sms` },
    config: {
      ...baseConfig,
      tenants: [...baseConfig.tenants, { id: 'phoney', name: 'Phoney', policy: { registration: 'open', required_fields: ['phone_number'] } }],
    },
  });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
  await rx?.close();
  await smtp?.close();
});

test('register → SMS code on the page (a wrong one first) → confirm the address → sign in', async () => {
  const { context, page } = await newSession(browser);
  const email = `phone-${Date.now()}@example.test`;
  const password = 'violet tractor seventeen';
  const phone = '+4915112345678';

  await page.goto(`${t.issuer}/register?tenant=phoney`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Phone number').fill('+49 151 1234 5678');
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect.poll(() => page.locator('h1').textContent()).toBe('Confirm your phone number');
  expect(await page.locator('p.lead').textContent()).toBe('We sent a code by SMS to +49*********78. Enter it to finish creating your account.');

  const sms = await rx.waitFor((m) => m.to === phone);
  await page.getByLabel('Code').fill(sms.code === '000000' ? '111111' : '000000');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect.poll(() => page.locator('#f-code-error').textContent()).toBe('This code is not correct. Attempts left: 4.');
  await page.getByLabel('Code').fill(sms.code!);
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect.poll(() => page.locator('h1').textContent()).toBe('Phone number confirmed');
  expect(await page.locator('p.lead').textContent()).toContain(`open the link we sent to ${email}`);

  // Not yet: the address is still to be confirmed.
  await page.goto(`${t.issuer}/account?tenant=phoney`);
  await page.getByLabel('Username or email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/Confirm your email address first/);

  const mail = await smtp.waitFor((m) => m.to === email && /confirm/i.test(m.subject));
  await page.goto(firstLink(mail.text, '/confirm-email'));
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect.poll(() => page.locator('h1').textContent()).toBe('Email confirmed');

  await page.goto(`${t.issuer}/account?tenant=phoney`);
  await page.getByLabel('Username or email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.locator('h1').first().textContent()).toBe('Your account');
  await page.goto(`${t.issuer}/account/phone`);
  expect(await page.content()).toContain('is confirmed');
  await context.close();
});
