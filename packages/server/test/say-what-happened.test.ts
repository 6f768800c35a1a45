/**
 * Say what happened (issue 19, item 4): refused protocol requests are
 * logged with the client and the reason; `serve` logs what the
 * configuration file changed; `tessera <group>` lists its commands.
 * (The outbox notice only at `serve`: test/cli-server.test.ts; the
 * already-used TOTP code: test/mfa-totp.test.ts.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { runTessera, startTessera } from './helpers/cli.js';
import { CONF_SECRET, REDIRECT, SERVICE_SECRET, baseConfig } from './fixtures.js';

describe('refused protocol requests are logged with the client and the reason', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: baseConfig });
  });
  afterAll(async () => t?.close());

  /** Log lines of refusals written after `from`. */
  const refusals = (from: number) => t.logs.slice(from).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => String(l.msg).includes(' refused: '));
  const authorize = (params: Record<string, string>) => fetch(`${t.issuer}/oidc/auth?${new URLSearchParams({
    response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...params,
  })}`, { redirect: 'manual' });
  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  const token = (auth: string | undefined, form: Record<string, string>) => fetch(`${t.issuer}/oidc/token`, {
    method: 'POST', body: new URLSearchParams(form), headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: auth } : {}) },
  });

  test('authorization: an unknown client; a redirect URI that is not registered', async () => {
    const from = t.logs.length;
    expect((await authorize({ client_id: 'no-such-app', redirect_uri: REDIRECT })).status).toBe(400);
    expect((await authorize({ client_id: 'spa', redirect_uri: 'https://evil.example/cb' })).status).toBe(400);
    const lines = refusals(from);
    expect(lines.map((l) => l.msg)).toEqual([
      'authorization request refused: unknown client "no-such-app"',
      'authorization request refused: redirect_uri "https://evil.example/cb" is not registered for client "spa"',
    ]);
    expect(lines[1]).toMatchObject({ level: 40, event: 'authorization.error', error: 'invalid_redirect_uri', clientId: 'spa', redirectUri: 'https://evil.example/cb' });
  });

  test('token: unknown client, wrong secret, bad code; never a secret or a code in the log', async () => {
    const from = t.logs.length;
    expect((await token(basic('ghost', 'whatever-secret'), { grant_type: 'client_credentials' })).status).toBe(401);
    expect((await token(basic('service', 'not-the-secret'), { grant_type: 'client_credentials' })).status).toBe(401);
    expect((await token(basic('web', CONF_SECRET), { grant_type: 'authorization_code', code: 'made-up-code-value', redirect_uri: REDIRECT })).status).toBe(400);
    expect((await token(undefined, { grant_type: 'client_credentials', client_id: 'web-post', client_secret: 'wrong-post-secret' })).status).toBe(401);
    const lines = refusals(from);
    expect(lines.map((l) => l.msg)).toEqual([
      'token request refused: unknown client "ghost"',
      expect.stringMatching(/^token request refused: client "service" failed to authenticate/),
      expect.stringMatching(/^token request refused: invalid_grant: grant request is invalid .*\[client "web"\]$/),
      expect.stringMatching(/^token request refused: client "web-post" failed to authenticate/),
    ]);
    expect(lines[2]).toMatchObject({ grantType: 'authorization_code', clientId: 'web' });
    const all = t.logs.slice(from).join('\n');
    for (const secret of ['whatever-secret', 'not-the-secret', CONF_SECRET, SERVICE_SECRET, 'made-up-code-value', 'wrong-post-secret']) expect(all).not.toContain(secret);
  });
});

describe('tessera serve says what the configuration file changed', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-say-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('config applied: N created, N updated, N unchanged', { timeout: 120_000 }, async () => {
    const file = join(dir, 'tessera.yaml');
    writeFileSync(file, 'tenants:\n  - id: acme\n    name: Acme\nroles:\n  - name: support\n');
    const env = { TESSERA_DATA_DIR: dir, DATABASE_URL: `sqlite:${join(dir, 'tessera.db')}`, TESSERA_SECRET: 'say-secret-say-secret-say', TESSERA_CONFIG: file, HOST: '127.0.0.1', LOG_LEVEL: 'info' };
    const first = await startTessera({ ...env, PORT: String(await freePort()) });
    await first.stop();
    expect(first.output()).toMatch(/"msg":"config applied: 2 created, 0 updated, 0 unchanged"/);
    expect(first.output()).toContain(`"file":"${file}"`);
    writeFileSync(file, 'tenants:\n  - id: acme\n    name: Acme Corp\nroles:\n  - name: support\n');
    const second = await startTessera({ ...env, PORT: String(await freePort()) });
    await second.stop();
    expect(second.output()).toMatch(/"msg":"config applied: 0 created, 1 updated, 1 unchanged"/);
  });
});

describe('every command group lists its commands', () => {
  test('tessera users, keys --help; unknown subcommands and typos', { timeout: 60_000 }, async () => {
    const users = await runTessera(['users'], {});
    expect(users.code).toBe(0);
    expect(users.stdout).toMatch(/^usage: tessera users <command>/);
    for (const sub of ['users create', 'users invite', 'users seed', 'users set-password', 'users unlock']) expect(users.stdout).toContain(`  ${sub} `);
    expect(users.stdout).not.toContain('keys rotate');
    const keys = await runTessera(['keys', '--help'], {});
    expect(keys.stdout).toContain('  keys rotate');
    expect(keys.stdout).toContain('  keys list');
    const unknown = await runTessera(['users', 'frob'], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('tessera: unknown command "users frob"');
    expect(unknown.stderr).toContain('the users commands:');
    const typo = await runTessera(['users', 'set-pasword', '--username', 'admin'], {});
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('(did you mean "tessera users set-password"?)');
    const group = await runTessera(['kyes', 'list'], {});
    expect(group.stderr).toContain('(did you mean "tessera keys list"?)');
  });
});
