import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import * as oidc from 'openid-client';
import { launchBrowser, newSession } from '../../../server/test/e2e/browser.js';
import { discover } from '../../../server/test/helpers/flows.js';
import { registerExamplePages } from '../../../../examples/bff/app.js';
import { BFF_CLIENT, BFF_SECRET, USER, startStack } from '../helpers/stack.js';
import type { Stack } from '../helpers/stack.js';

/**
 * Refresh-token rotation for a confidential client held by the BFF (issue 21),
 * in Chromium with the example page: every silent renewal (the BFF refreshing
 * an expired access token while the page calls the API) rotates the refresh
 * token, and the page keeps working. The old refresh token is then refused at
 * Tessera, and presenting it (reuse, as a thief with the BFF's credentials
 * would) revokes the whole family: the BFF's current token stops working too,
 * and the page learns the session ended at its next call.
 *
 * oidc-client-ts (packages/server/test/e2e/oidc-client-ts.test.ts) covers
 * the same rotation for a public SPA client: it is a public-client library,
 * and a BFF keeps the secret and the tokens on its server, so the browser side
 * here is the BFF's own example page.
 */
const API_TTL = 3;
let s: Stack;
let browser: Browser;

beforeAll(async () => {
  s = await startStack({
    host: 'localhost', apiTtl: API_TTL, env: { BFF_RENEW_BEFORE: '1' }, extend: (app) => registerExamplePages(app),
    // The default policy for confidential clients (stated, not assumed); no grace period, so that an old token is reuse at once.
    client: () => ({ refresh_token_rotation: 'always', refresh_token_grace_period: 0 }),
  });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await s?.close();
});

/** The refresh token the BFF holds for the (one) signed-in session: server-side only. */
function heldRefreshToken(): string {
  const sessions = (s.store.values() as Array<{ refreshToken?: string; accessToken?: string }>).filter((v) => !Array.isArray(v) && v.accessToken);
  expect(sessions).toHaveLength(1);
  return sessions[0]!.refreshToken!;
}

/** Waits out the access token, then calls the API from the page: the BFF renews on the way. */
async function callAfterExpiry(page: Page): Promise<string> {
  await sleep(API_TTL * 1000 + 300);
  await page.locator('#output').evaluate((el) => { el.textContent = ''; });
  await page.getByRole('button', { name: 'Call the API' }).click();
  await expect.poll(() => page.locator('#output').textContent()).not.toBe('');
  return (await page.locator('#output').textContent())!;
}

async function refreshError(refreshToken: string): Promise<string | undefined> {
  const config = await discover(s.platform.issuer, { clientId: BFF_CLIENT, clientSecret: BFF_SECRET, auth: 'basic' });
  try {
    await oidc.refreshTokenGrant(config, refreshToken);
    return undefined;
  } catch (err) {
    return (err as { error?: string }).error ?? String(err);
  }
}

describe('refresh-token rotation of a confidential client through the BFF, in Chromium', () => {
  test('each silent renewal rotates; the page keeps working; the old token is refused and its reuse revokes the family', async () => {
    const { context, page } = await newSession(browser);
    await page.goto(`${s.publicOrigin}/`);
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.waitForURL((url) => url.href.startsWith(`${s.platform.issuer}/interaction/`));
    await page.getByLabel('Username or email').fill(USER.username);
    await page.getByLabel('Password').fill(USER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${s.publicOrigin}/`);
    await expect.poll(() => page.locator('#who').textContent()).toBe('Alice Liddell');
    const first = heldRefreshToken();

    // Two renewals, each with a new refresh token; the API calls go through.
    expect(await callAfterExpiry(page)).toMatch(/^200\n/);
    const second = heldRefreshToken();
    expect(second).not.toBe(first);
    expect(await callAfterExpiry(page)).toMatch(/^200\n/);
    const third = heldRefreshToken();
    expect(new Set([first, second, third]).size).toBe(3);
    await expect.poll(() => page.locator('#who').textContent()).toBe('Alice Liddell');

    // A rotated-out token is refused, and presenting it is reuse: Tessera revokes the family (RFC 9700 §4.14.2).
    expect(await refreshError(first)).toBe('invalid_grant');
    expect(await refreshError(third)).toBe('invalid_grant');
    // The page's next call needs a renewal, which fails: the BFF ends the session and the page says so.
    const after = await callAfterExpiry(page);
    expect(after).toMatch(/^401\n/);
    expect(after).toContain('login_required');
    await expect.poll(() => page.locator('#status').textContent()).toBe('Your session has ended. Please sign in again.');
    expect(s.store.values().filter((v) => !Array.isArray(v) && (v as { accessToken?: string }).accessToken)).toHaveLength(0);
    await context.close();
  });
});
