/// <reference lib="dom" />
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';
import { startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { baseConfig } from '../fixtures.js';
import { launchBrowser, newSession } from './browser.js';

let t: TestApp;
let browser: Browser;
beforeAll(async () => {
  t = await startTestApp({ config: baseConfig });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('hosted sign-in in Chromium', () => {
  test('works without JavaScript: sign in to the account page, then sign out', async () => {
    const { context, page } = await newSession(browser, { javaScriptEnabled: false });
    await page.goto(`${t.issuer}/`);
    await page.getByRole('link', { name: 'Sign in' }).click();
    await expect.poll(() => page.url()).toContain('/interaction/');
    await page.getByLabel('Username or email').fill('admin');
    await page.getByLabel('Password').fill('admin-password-for-tests');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${t.issuer}/account`);
    await expect.poll(() => page.locator('h1').textContent()).toBe('Your account');
    expect(await page.content()).toContain('admin');

    await page.getByRole('link', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.waitForURL(`${t.issuer}/`);
    await page.goto(`${t.issuer}/account`);
    await expect.poll(() => page.url()).toContain('/interaction/');
    await context.close();
  });

  test('a wrong password shows the message next to the form, in German when the browser is German', async () => {
    const { context, page } = await newSession(browser, { locale: 'de-DE' });
    await page.goto(`${t.issuer}/account`);
    await page.getByLabel('Benutzername oder E-Mail').fill('admin');
    await page.getByLabel('Passwort').fill('wrong-password');
    await page.getByRole('button', { name: 'Anmelden' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('Benutzername oder Passwort ist falsch.');
    await context.close();
  });

  test('the sign-in page fits a phone-sized screen', async () => {
    const { context, page } = await newSession(browser, { viewport: { width: 375, height: 740 } });
    await page.goto(`${t.issuer}/account`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: `${t.testStore.dir}/signin-phone.png` });
    await context.close();
  });
});
