/// <reference lib="dom" />
import { existsSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { ConsoleMessage, Page } from 'playwright-core';
import type { Authenticator } from '../helpers/mfa.js';

/**
 * Shared helpers for the admin console's browser tests: building the SPA
 * when no build is there, signing in through the hosted pages as a person
 * would, answering the MFA page with an authenticator app, and watching
 * for CSP violations.
 */

export const CONSOLE_DIR = fileURLToPath(new URL('../../../console', import.meta.url));
/** Where tests save screenshots (looked at by people, not compared). */
export const SHOTS_DIR = process.env.CONSOLE_SHOTS_DIR ?? '/tmp/console-shots';

/** Builds packages/console when dist/index.html is missing (a globalSetup may have built it already). */
export function ensureConsoleBuilt(): void {
  if (existsSync(`${CONSOLE_DIR}/dist/index.html`)) return;
  execFileSync(process.execPath, [fileURLToPath(new URL('../../../../node_modules/vite/bin/vite.js', import.meta.url)), 'build', '--logLevel', 'warn'], {
    cwd: CONSOLE_DIR, stdio: 'inherit',
  });
}

export interface Credentials {
  username: string;
  password: string;
}

/**
 * Records CSP violations: the `securitypolicyviolation` DOM event (hooked
 * before any page script runs) and Chromium's console errors about the
 * Content Security Policy.
 */
export function watchCsp(page: Page): { violations: string[] } {
  const out = { violations: [] as string[] };
  page.on('console', (msg: ConsoleMessage) => {
    const text = msg.text();
    if (/content security policy/i.test(text)) out.violations.push(`console: ${text}`);
    if (text.startsWith('csp-violation:')) out.violations.push(text);
  });
  void page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`csp-violation: ${e.violatedDirective} ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  return out;
}

/** Answers the sign-in MFA challenge with the authenticator's next code. */
export async function answerTotp(page: Page, authenticator: Authenticator): Promise<void> {
  await page.locator('#totp-code').fill(await authenticator.nextCode());
  await page.getByRole('button', { name: 'Verify' }).click();
}

/**
 * Opens the console and signs in on the hosted page (username and
 * password; the authenticator answers the MFA page if one is shown), then
 * waits for the console's start page.
 */
export async function signInToConsole(page: Page, issuer: string, creds: Credentials, authenticator?: Authenticator, entry = '/admin/'): Promise<void> {
  await page.goto(`${issuer}${entry}`);
  await page.waitForURL(/\/interaction\//);
  await page.getByLabel('Username or email').fill(creds.username);
  await page.getByLabel('Password').fill(creds.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Either the MFA page (an enrolled factor) or straight back to the console.
  // (The loser of the race times out later; its rejection is swallowed.)
  const next = await Promise.race([
    page.locator('#totp-code').waitFor({ timeout: 30_000 }).then(() => 'mfa' as const, () => 'timeout' as const),
    waitForConsole(page, issuer).then(() => 'console' as const, () => 'timeout' as const),
  ]);
  if (next === 'timeout') throw new Error(`after the password, neither the MFA page nor the console: ${page.url()}`);
  if (next === 'mfa') {
    if (!authenticator) throw new Error('the sign-in asked for a second factor, and the test has no authenticator');
    await answerTotp(page, authenticator);
  }
  await waitForConsole(page, issuer);
}

/** Waits until the console shows a page (its main heading) at an /admin path other than the callback. */
export async function waitForConsole(page: Page, issuer: string): Promise<void> {
  await page.waitForURL((url) => url.origin === new URL(issuer).origin && url.pathname.startsWith('/admin/') && url.pathname !== '/admin/callback', { timeout: 30_000 });
  await expect.poll(() => page.locator('main h1').count(), { timeout: 15_000 }).toBeGreaterThan(0);
}

/** A screenshot under SHOTS_DIR (the directory is created on first use). */
export async function shot(page: Page, name: string, fullPage = false): Promise<string> {
  mkdirSync(SHOTS_DIR, { recursive: true });
  const path = `${SHOTS_DIR}/${name}.png`;
  await page.screenshot({ path, fullPage });
  return path;
}

/** Horizontal overflow of the whole document (0 when nothing sticks out sideways). */
export function pageOverflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}
