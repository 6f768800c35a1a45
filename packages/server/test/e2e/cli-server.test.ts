/**
 * Issue 19, item 1, as an operator meets it: `tessera serve` runs; in
 * another terminal, without the server's PORT / TESSERA_ISSUER, the operator
 * lists keys, creates a user and a client and applies a file. Then an
 * administrator signs in to /account and to the admin console in Chromium:
 * both still work (the CLI used to re-register the built-in clients with
 * http://localhost:3000 redirect URIs: invalid_redirect_uri until a restart).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';
import { freePort } from '../helpers/app.js';
import { createCliStore, runTessera, startTessera } from '../helpers/cli.js';
import type { CliStore, ServerProcess } from '../helpers/cli.js';
import { launchBrowser, newSession } from './browser.js';
import { ensureConsoleBuilt, signInToConsole, watchCsp } from './console.js';

const ADMIN = { username: 'admin', password: 'cli-e2e-admin-password' };
let store: CliStore;
let server: ServerProcess;
let issuer: string;
let browser: Browser;

beforeAll(async () => {
  ensureConsoleBuilt();
  store = createCliStore();
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  server = await startTessera({
    TESSERA_DATA_DIR: store.dir, DATABASE_URL: store.databaseUrl, TESSERA_SECRET: 'cli-e2e-secret-cli-e2e-secret',
    PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: issuer, TESSERA_BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password, LOG_LEVEL: 'info',
  });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await store?.dispose();
});

describe('the CLI beside a running server, then Chromium', () => {
  test('CLI commands without PORT / TESSERA_ISSUER; then /account and /admin/ sign-ins work', async () => {
    const env = { TESSERA_DATA_DIR: store.dir, DATABASE_URL: store.databaseUrl, TESSERA_SECRET: 'cli-e2e-secret-cli-e2e-secret' };
    const file = join(store.dir, 'extra.yaml');
    writeFileSync(file, 'roles:\n  - name: support\n');
    for (const args of [['keys', 'list'], ['users', 'create', '--username', 'bob'], ['clients', 'create', '--id', 'svc'], ['config', 'apply', file]]) {
      const r = await runTessera(args, env);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }

    const account = await newSession(browser);
    await account.page.goto(`${issuer}/account`);
    await account.page.waitForURL(/\/interaction\//);
    await account.page.getByLabel('Username or email').fill(ADMIN.username);
    await account.page.getByLabel('Password').fill(ADMIN.password);
    await account.page.getByRole('button', { name: 'Sign in' }).click();
    await account.page.waitForURL(`${issuer}/account`);
    expect(await account.page.locator('h1').first().textContent()).toBeTruthy();
    expect(await account.page.content()).not.toContain('invalid_redirect_uri');
    await account.context.close();

    const consoleSession = await newSession(browser);
    const csp = watchCsp(consoleSession.page);
    await signInToConsole(consoleSession.page, issuer, ADMIN);
    expect(await consoleSession.page.getByTestId('who-name').textContent()).toBe('admin');
    expect(csp.violations).toEqual([]);
    await consoleSession.context.close();
  });
});
