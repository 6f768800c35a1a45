/**
 * Start-up failures as one actionable line, checked before anything is
 * written (issue 19, item 2): the real `tessera serve` in a child process on
 * a fresh data directory. No stack trace reaches the terminal; the detail
 * goes to the debug log.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from './helpers/app.js';
import { runTessera } from './helpers/cli.js';
import type { CliResult } from './helpers/cli.js';

let dir: string;
let base: Record<string, string>;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-startup-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh, empty data directory per case, so "nothing written" can be checked. */
function freshEnv(extra: Record<string, string> = {}): { env: Record<string, string>; data: string } {
  const data = join(dir, randomBytes(4).toString('hex'));
  mkdirSync(data);
  base = { TESSERA_DATA_DIR: data, HOST: '127.0.0.1', LOG_LEVEL: 'info' };
  return { env: { ...base, ...extra }, data };
}

/** One `tessera: …` line (plus, for YAML, the excerpt), exit code 1, no stack trace. */
function expectOneLine(r: CliResult, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l && !l.startsWith('oidc-provider WARNING'));
  expect(lines[0]).toMatch(/^tessera: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stdout).not.toContain('listening');
}

describe('tessera serve: start-up failures', () => {
  let blocker: Server;
  let busyPort: number;
  beforeAll(async () => {
    busyPort = await freePort();
    blocker = createServer();
    await new Promise<void>((r) => blocker.listen(busyPort, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => blocker.close(() => r())));

  test('a port in use: one line, and nothing written (no database, no secret, no administrator)', async () => {
    const { env, data } = freshEnv({ PORT: String(busyPort) });
    const r = await runTessera(['serve'], env);
    expectOneLine(r, new RegExp(`port ${busyPort} is already in use on 127\\.0\\.0\\.1.*set PORT to a free port`));
    expect(readdirSync(data)).toEqual([]);
    expect(r.stdout).not.toContain('password');
  });

  test('an issuer that is not an absolute http(s) URL', async () => {
    const { env, data } = freshEnv({ PORT: String(await freePort()), TESSERA_ISSUER: 'localhost:3000' });
    const r = await runTessera(['serve'], env);
    expectOneLine(r, /TESSERA_ISSUER: must be an absolute http:\/\/ or https:\/\/ URL .*\(got "localhost:3000"\)/);
    expect(readdirSync(data)).toEqual([]);
  });

  test('an unreadable configuration file names the file and the variable', async () => {
    const missing = join(dir, 'no-such.yaml');
    const { env, data } = freshEnv({ PORT: String(await freePort()), TESSERA_CONFIG: missing });
    const r = await runTessera(['serve'], env);
    expectOneLine(r, new RegExp(`cannot read the configuration file ${missing.replace(/[.]/g, '\\.')} \\(TESSERA_CONFIG\\): no such file or directory \\(ENOENT\\)`));
    expect(readdirSync(data)).toEqual([]);
  });

  test('a YAML syntax error: line, column, the line itself and a caret', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'tenants:\n  - id: acme\n   name: Acme\n');
    const { env, data } = freshEnv({ PORT: String(await freePort()), TESSERA_CONFIG: file });
    const r = await runTessera(['serve'], env);
    expectOneLine(r, /broken\.yaml: not valid YAML or JSON: line 3, column 1: /);
    expect(r.stderr).toContain('  2 |   - id: acme\n  3 |    name: Acme\n    | ^');
    expect(readdirSync(data)).toEqual([]);
  });

  test('PostgreSQL unreachable: host and port, and what to do', async () => {
    const { env, data } = freshEnv({ PORT: String(await freePort()), DATABASE_URL: 'postgres://tessera:s3cret@127.0.0.1:1/tessera', TESSERA_SECRET: 'x'.repeat(32) });
    const r = await runTessera(['serve'], env);
    expectOneLine(r, /cannot reach PostgreSQL at 127\.0\.0\.1:1 \(connection refused\): start PostgreSQL, or correct the host and port in DATABASE_URL/);
    expect(r.stderr).not.toContain('s3cret');
    expect(readdirSync(data)).toEqual([]);
  });

  test('a SQLite path that cannot be opened', async () => {
    const { env } = freshEnv({ PORT: String(await freePort()), DATABASE_URL: `sqlite:${dir}` });
    const r = await runTessera(['serve'], env);
    expectOneLine(r, /cannot open the SQLite database .* \(DATABASE_URL\)/);
  });

  test('the detail goes to the debug log, not to the terminal by default', async () => {
    const { env } = freshEnv({ PORT: String(busyPort), LOG_LEVEL: 'debug' });
    const r = await runTessera(['serve'], env);
    expect(r.code).toBe(1);
    const entry = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; err?: { code?: string; stack?: string } })
      .find((l) => l.msg === 'start-up failed');
    expect(entry?.err?.code).toBe('EADDRINUSE');
    expect(entry?.err?.stack).toContain('at ');
    const quiet = await runTessera(['serve'], freshEnv({ PORT: String(busyPort) }).env);
    expect(quiet.stdout).not.toContain('start-up failed');
  });
});

describe('the CLI: the same one-line errors', () => {
  test('a command against an unreachable database', async () => {
    const { env } = freshEnv({ DATABASE_URL: 'postgres://tessera@127.0.0.1:1/tessera', TESSERA_SECRET: 'x'.repeat(32) });
    const r = await runTessera(['keys', 'list'], env);
    expectOneLine(r, /cannot reach PostgreSQL at 127\.0\.0\.1:1/);
  });

  test('config apply with a missing file', async () => {
    const { env } = freshEnv();
    const r = await runTessera(['config', 'apply', join(dir, 'missing.yaml')], env);
    expectOneLine(r, /cannot read the configuration file .*missing\.yaml: no such file or directory/);
  });
});

// The "database does not exist" case needs a PostgreSQL server to ask: CI's (TEST_DATABASE_URL).
const pgUrl = process.env.TEST_DATABASE_URL;
if (pgUrl) {
  describe('PostgreSQL: a database that does not exist', () => {
    test('names it and prints the createdb command', async () => {
      const u = new URL(pgUrl);
      const name = `tessera_missing_${randomBytes(4).toString('hex')}`;
      u.pathname = `/${name}`;
      const { env, data } = freshEnv({ PORT: String(await freePort()), DATABASE_URL: u.href, TESSERA_SECRET: 'x'.repeat(32) });
      const r = await runTessera(['serve'], env);
      const user = decodeURIComponent(u.username) || 'postgres';
      expectOneLine(r, new RegExp(`the PostgreSQL database "${name}" does not exist on ${u.hostname}:${u.port || '5432'}: create it with \`createdb -h ${u.hostname} -p ${u.port || '5432'} -U ${user} ${name}\``));
      expect(existsSync(join(data, 'tessera.db'))).toBe(false);
    });
  });
}
