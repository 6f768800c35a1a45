/**
 * The CLI beside a running server (issue 19, item 1): CLI commands run
 * without the server's PORT / TESSERA_ISSUER must not rewrite what follows
 * the issuer (the built-in clients' redirect URIs), must print the endpoints
 * and mail the links of the issuer the store is served as, and must say so
 * when told another issuer. The server and the CLI are real `tessera`
 * processes on one store (SQLite, or a PostgreSQL schema with TEST_DATABASE_URL).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from './helpers/app.js';
import { createCliStore, runTessera, startTessera } from './helpers/cli.js';
import type { CliStore, ServerProcess } from './helpers/cli.js';
import { signedInBrowser, text } from './helpers/account.js';
import { signInThrough } from './helpers/flows.js';
import { UserAgent } from './helpers/agent.js';
import { openStore } from '../src/storage/database.js';
import { createClientRepository } from '../src/oidc/repository.js';

const ADMIN = { username: 'admin', password: 'cli-server-admin-password' };
let store: CliStore;
let server: ServerProcess;
let issuer: string;
let cliEnv: Record<string, string>;

beforeAll(async () => {
  store = createCliStore();
  // What the CLI shares with the server: the store and the secret. Not PORT, not TESSERA_ISSUER.
  cliEnv = { TESSERA_DATA_DIR: store.dir, DATABASE_URL: store.databaseUrl, TESSERA_SECRET: 'cli-server-secret-cli-server-secret' };
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  server = await startTessera({
    ...cliEnv, PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: issuer, TESSERA_BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password, LOG_LEVEL: 'info',
  });
});
afterAll(async () => {
  await server?.stop();
  await store?.dispose();
});

async function builtInRedirectUris(): Promise<Record<string, unknown>> {
  const s = openStore(store.databaseUrl);
  try {
    const clients = createClientRepository(s.db);
    return {
      account: (await clients.find('tessera-account'))?.metadata.redirect_uris,
      console: (await clients.find('tessera-console'))?.metadata.redirect_uris,
    };
  } finally {
    await s.close();
  }
}

describe('the CLI beside a running server', () => {
  test('commands without PORT / TESSERA_ISSUER leave the built-in clients alone and use the served issuer', { timeout: 120_000 }, async () => {
    const keys = await runTessera(['keys', 'list'], cliEnv);
    expect(keys.code, keys.stderr).toBe(0);
    const user = await runTessera(['users', 'create', '--username', 'bob', '--password', 'bob-password-1'], cliEnv);
    expect(user.code, user.stderr).toBe(0);
    const client = await runTessera(['clients', 'create', '--id', 'partner'], cliEnv);
    expect(client.code, client.stderr).toBe(0);
    // The endpoint a partner is told is the server's, not http://localhost:3000.
    expect(client.stdout).toContain(`token_endpoint: ${issuer}/oidc/token`);

    const file = join(store.dir, 'acme.yaml');
    writeFileSync(file, 'tenants:\n  - id: acme\n    name: Acme\n    policy:\n      registration: invite_only\n');
    const applied = await runTessera(['config', 'apply', file], cliEnv);
    expect(applied.code, applied.stderr).toBe(0);
    const invite = await runTessera(['users', 'invite', '--email', 'new@acme.test', '--tenant', 'acme'], cliEnv);
    expect(invite.code, invite.stderr).toBe(0);

    for (const r of [keys, user, client, applied, invite]) {
      expect(r.stderr).not.toContain('warning');
      // The outbox notice is for whoever runs the server, once, not for every command.
      expect(r.stdout + r.stderr).not.toContain('SMTP_URL is not set: mail goes to the development outbox');
    }
    expect(server.output()).toContain('SMTP_URL is not set: mail goes to the development outbox');
    expect(await builtInRedirectUris()).toEqual({ account: [`${issuer}/account/callback`], console: [`${issuer}/admin/callback`] });

    // The invitation links to the server, where the invitee can use it.
    const outbox = await new UserAgent().get(`${issuer}/dev/outbox`);
    expect(text(await outbox.text())).toContain(`${issuer}/register?tenant=acme&invite=`);
  });

  test('after the commands, an administrator signs in to /account and to the console', async () => {
    const { html } = await signedInBrowser(issuer, ADMIN);
    expect(html).toContain('admin');

    const verifier = randomBytes(32).toString('base64url');
    const auth = new URL(`${issuer}/oidc/auth`);
    auth.search = new URLSearchParams({
      client_id: 'tessera-console', redirect_uri: `${issuer}/admin/callback`, response_type: 'code', scope: 'openid',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', state: 'st',
    }).toString();
    const callback = await signInThrough(new UserAgent(), auth, issuer, ADMIN);
    expect(callback.origin + callback.pathname).toBe(`${issuer}/admin/callback`);
    expect(callback.searchParams.get('code')).toBeTruthy();
  });

  test('an explicit other issuer is warned about and changes nothing', async () => {
    const r = await runTessera(['clients', 'create', '--id', 'partner-2'], { ...cliEnv, TESSERA_ISSUER: 'https://elsewhere.example' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`this store is served as ${issuer}`);
    expect(r.stderr).toContain('not https://elsewhere.example (from TESSERA_ISSUER)');
    expect(r.stdout).toContain(`token_endpoint: ${issuer}/oidc/token`);
    const port = await runTessera(['keys', 'list'], { ...cliEnv, PORT: '3999' });
    expect(port.stderr).toContain('not http://localhost:3999 (from PORT)');
    expect(await builtInRedirectUris()).toEqual({ account: [`${issuer}/account/callback`], console: [`${issuer}/admin/callback`] });
  });
});

describe('a store set up with the CLI before its first serve', () => {
  test('the CLI registers no built-in clients; serve does, with its issuer', async () => {
    const fresh = createCliStore();
    try {
      const env = { TESSERA_DATA_DIR: fresh.dir, DATABASE_URL: fresh.databaseUrl, TESSERA_SECRET: 'cli-server-secret-cli-server-secret' };
      const r = await runTessera(['clients', 'create', '--id', 'early'], env);
      expect(r.code, r.stderr).toBe(0);
      // Never served: the environment's issuer (here the default) is all there is.
      expect(r.stdout).toContain('token_endpoint: http://localhost:3000/oidc/token');
      const s = openStore(fresh.databaseUrl);
      try {
        const ids = (await createClientRepository(s.db).list()).map((c) => c.clientId);
        expect(ids).toEqual(['early']);
      } finally {
        await s.close();
      }
      const port = await freePort();
      const srv = await startTessera({ ...env, PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: `http://127.0.0.1:${port}`, LOG_LEVEL: 'info' });
      await srv.stop();
      const s2 = openStore(fresh.databaseUrl);
      try {
        const account = await createClientRepository(s2.db).find('tessera-account');
        expect(account?.metadata.redirect_uris).toEqual([`http://127.0.0.1:${port}/account/callback`]);
      } finally {
        await s2.close();
      }
    } finally {
      await fresh.dispose();
    }
  });
});
