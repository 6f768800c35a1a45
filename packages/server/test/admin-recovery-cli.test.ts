/**
 * Administrator recovery from the CLI (issue 19, item 3): `tessera users
 * set-password` (hidden prompt on a terminal, stdin in a pipe, or
 * --generate) and `tessera users unlock`, against a running server's store;
 * the administrator then signs in to /account. Real processes, real store
 * (SQLite, or a PostgreSQL schema with TEST_DATABASE_URL).
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from './helpers/app.js';
import { BIN, createCliStore, runTessera, startTessera } from './helpers/cli.js';
import type { CliStore, ServerProcess } from './helpers/cli.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { openStore } from '../src/storage/database.js';
import { createAuditRepository } from '../src/audit/repository.js';

let store: CliStore;
let server: ServerProcess;
let issuer: string;
let env: Record<string, string>;

beforeAll(async () => {
  store = createCliStore();
  env = { TESSERA_DATA_DIR: store.dir, DATABASE_URL: store.databaseUrl, TESSERA_SECRET: 'recovery-secret-recovery-secret' };
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  // The first administrator's password is printed once and then "lost": the test never reads it.
  server = await startTessera({ ...env, PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: issuer, LOG_LEVEL: 'info' });
});
afterAll(async () => {
  await server?.stop();
  await store?.dispose();
});

/** One sign-in attempt at /account; true when it lands on the account page. */
async function signIn(username: string, password: string): Promise<boolean> {
  const agent = new UserAgent();
  const { res } = await agent.follow(await agent.get(`${issuer}/account`), `${issuer}/account`);
  const action = new URL(formAction(await res.text(), '/login'), issuer);
  const { url } = await agent.follow(await agent.post(action, { username, password }), action.href);
  return new URL(url).pathname === '/account';
}

async function auditActions(subjectAction: string): Promise<Record<string, unknown>[]> {
  const s = openStore(store.databaseUrl);
  try {
    return (await createAuditRepository(s.db).query({ action: subjectAction })).map((e) => e.details as Record<string, unknown>);
  } finally {
    await s.close();
  }
}

/** Runs the command on a pseudo-terminal (util-linux `script`), answering each prompt as it appears. */
function runOnTerminal(args: string[], answers: string[]): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TERM: 'dumb', LOG_LEVEL: 'warn', ...env } });
    let output = '';
    let prompts = 0;
    child.stdout.on('data', (d: Buffer) => {
      output += d;
      const seen = (output.match(/New password for [^:]+: |Repeat it: /g) ?? []).length;
      while (prompts < seen && prompts < answers.length) child.stdin.write(`${answers[prompts++]}\r`);
    });
    child.on('close', (code) => done({ code: code ?? -1, output }));
  });
}

describe('tessera users set-password', () => {
  test('from stdin: the administrator signs in with the new password; the policy applies; audited', { timeout: 120_000 }, async () => {
    const r = await runTessera(['users', 'set-password', '--username', 'admin'], env, 'recovered-password-1\n');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('set the password of admin');
    expect(r.stdout).not.toContain('recovered-password-1');
    expect(await signIn('admin', 'recovered-password-1')).toBe(true);

    const short = await runTessera(['users', 'set-password', '--username', 'admin'], env, 'short\n');
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('the password must be at least');
    const common = await runTessera(['users', 'set-password', '--username', 'admin'], env, 'password123\n');
    expect(common.code).toBe(2);
    expect(common.stderr).toContain('is a well-known password');
    const none = await runTessera(['users', 'set-password', '--username', 'admin'], env, '');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no password given');
    const nobody = await runTessera(['users', 'set-password', '--username', 'ghost'], env, 'whatever-password-9\n');
    expect(nobody.code).toBe(2);
    expect(nobody.stderr).toContain('no user ghost in tenant default');
    const usage = await runTessera(['users', 'set-password'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('usage: tessera users set-password (--username U | --email E)');

    // The refused attempts changed nothing.
    expect(await signIn('admin', 'recovered-password-1')).toBe(true);
    expect(await auditActions('user.password_set')).toEqual([expect.objectContaining({ via: 'cli', generated: false })]);
  });

  test('--generate prints a password once, which signs in', { timeout: 60_000 }, async () => {
    const r = await runTessera(['users', 'set-password', '--username', 'admin', '--generate'], env);
    expect(r.code, r.stderr).toBe(0);
    const password = /password: (\S+)\n\(shown only this once\)/.exec(r.stdout)?.[1];
    expect(password).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect(await signIn('admin', password!)).toBe(true);
    expect(await signIn('admin', 'recovered-password-1')).toBe(false);
  });

  test('on a terminal: asked twice, not echoed; two different entries change nothing', { timeout: 60_000 }, async () => {
    const differ = await runOnTerminal(['users', 'set-password', '--username', 'admin'], ['terminal-password-1', 'terminal-password-2']);
    expect(differ.code).toBe(2);
    expect(differ.output).toContain('the two entries differ');
    const ok = await runOnTerminal(['users', 'set-password', '--username', 'admin'], ['terminal-password-1', 'terminal-password-1']);
    expect(ok.code, ok.output).toBe(0);
    expect(ok.output).toContain('New password for admin: ');
    expect(ok.output).toContain('Repeat it: ');
    expect(ok.output).not.toContain('terminal-password-1');
    expect(await signIn('admin', 'terminal-password-1')).toBe(true);
  });
});

describe('tessera users unlock', () => {
  test('a locked-out administrator is unlocked and signs in; audited', { timeout: 120_000 }, async () => {
    for (let i = 0; i < 5; i++) expect(await signIn('admin', `wrong-password-${i}`)).toBe(false);
    // Locked: even the right password is refused now.
    expect(await signIn('admin', 'terminal-password-1')).toBe(false);
    const r = await runTessera(['users', 'unlock', '--username', 'admin'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^unlocked admin \(/);
    expect(await signIn('admin', 'terminal-password-1')).toBe(true);
    const again = await runTessera(['users', 'unlock', '--username', 'admin'], env);
    expect(again.stdout).toContain('admin is not locked');
    expect(await auditActions('user.unlocked')).toEqual([expect.objectContaining({ via: 'cli', was_locked: true })]);
  });
});
