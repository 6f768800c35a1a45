import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from './helpers/app.js';

/** The real `tessera` command in a child process, on its own SQLite data directory. */
const BIN = resolve(import.meta.dirname, '../bin/tessera.js');
let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
  env = { ...process.env, TESSERA_DATA_DIR: dir, DATABASE_URL: `sqlite:${join(dir, 'tessera.db')}`, LOG_LEVEL: 'warn' };
  delete env.TESSERA_SECRET;
  delete env.TESSERA_CONFIG;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

function startServer(port: number, extraEnv: Record<string, string> = {}): Promise<{ child: ChildProcess; output: () => string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, 'serve'], { env: { ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', ...extraEnv } });
    let out = '';
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('Tessera is listening')) done({ child, output: () => out });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => fail(new Error(`server exited early (${code}): ${out}`)));
  });
}

const exited = (child: ChildProcess) => new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

// Each test spawns CLI processes (TypeScript loaded per process): minutes on a loaded 2-core machine.
describe('tessera CLI', { timeout: 120_000 }, () => {
  test('migrate', async () => {
    const r = await run(['migrate']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('migrations applied');
  });


  test('the key-encryption secret is generated 0600 with a warning when TESSERA_SECRET is unset', async () => {
    const r = await run(['keys', 'list']);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toContain('TESSERA_SECRET is not set');
    expect(statSync(join(dir, 'secret')).mode & 0o777).toBe(0o600);
    expect(r.stdout.match(/ active /g)).toHaveLength(2);
    // The first command on an empty store also says, once, how the first administrator signs in.
    expect(r.stdout).toMatch(/created the first administrator: username admin, password \S{20}/);
  });

  test('keys rotate keeps the old keys published as retiring', async () => {
    const r = await run(['keys', 'rotate']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('first administrator');
    expect(r.stdout.match(/ active /g)).toHaveLength(2);
    expect(r.stdout.match(/ retiring /g)).toHaveLength(2);
    expect(r.stdout).toContain('unpublished after');
  });

  test('users create, and a duplicate is refused', async () => {
    const ok = await run(['users', 'create', '--username', 'bob', '--email', 'bob@example.test', '--password', 'bob-password-1']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('created user bob');
    expect(ok.stdout).not.toContain('bob-password-1');
    const dup = await run(['users', 'create', '--username', 'BOB', '--password', 'bob-password-2']);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toContain('already in use');
    const generated = await run(['users', 'create', '--username', 'carol']);
    expect(generated.stdout).toMatch(/password: \S{20}/);
    // The same username rule as the file and the admin API: an address-shaped username would shadow an email sign-in.
    const shaped = await run(['users', 'create', '--username', 'dan@example.test', '--password', 'dan-password-12']);
    expect(shaped.code).toBe(2);
    expect(shaped.stderr).toContain('without spaces, "@" or control characters');
  });

  test('clients create prints the secret once; config apply is idempotent; bad files are named', async () => {
    const c = await run(['clients', 'create', '--id', 'svc', '--name', 'Service']);
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/client_secret: [A-Za-z0-9_-]{43}/);
    expect(c.stdout).toContain('/oidc/token');
    const again = await run(['clients', 'create', '--id', 'svc']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists');

    const file = join(dir, 'cfg.yaml');
    writeFileSync(file, 'tenants:\n  - id: acme\n    name: Acme\napis:\n  - identifier: https://api.acme.test\n    name: Acme API\n    scopes: [read]\n');
    const first = await run(['config', 'apply', file]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/[1-9]\d* created/);
    const second = await run(['config', 'apply', file]);
    expect(second.stdout).toContain('0 created, 0 updated');

    writeFileSync(file, 'clients:\n  - client_id: x\n    token_endpoint_auth_method: none\n    redirect_uris: ["not a url"]\n');
    const bad = await run(['config', 'apply', file]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('clients[0].redirect_uris[0]: must be an absolute URL');
    // Five CLI processes, each compiling TypeScript at start: room for a busy machine.
  }, 120_000);

  test('an unknown command prints usage and exits 2', async () => {
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('usage: tessera');
  });
});

describe('tessera serve', () => {
  test('prints the first administrator once, and stops gracefully on SIGTERM with a request in flight', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'tessera-serve-'));
    const serveEnv = { TESSERA_DATA_DIR: fresh, DATABASE_URL: `sqlite:${join(fresh, 'tessera.db')}` };
    try {
      const port = await freePort();
      const first = await startServer(port, serveEnv);
      expect(first.output()).toMatch(/username: admin\s+password: \S+/);

      // Open a request and leave its body unfinished, then ask the server to stop.
      const response = new Promise<number>((done, fail) => {
        const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/interaction/abcdefghijkl/login', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '27' } },
          (res) => { res.resume(); done(res.statusCode ?? 0); });
        req.on('error', fail);
        req.write('username=a&');
        setTimeout(() => {
          first.child.kill('SIGTERM');
          setTimeout(() => req.end('password=bbbbbbb'), 300);
        }, 200);
      });
      const status = await response;
      expect(status).toBe(400); // answered (session expired), not cut off
      expect(await exited(first.child)).toBe(0);
      expect(first.output()).toContain('shutting down');

      const second = await startServer(port, serveEnv);
      expect(second.output()).not.toContain('password:');
      second.child.kill('SIGTERM');
      expect(await exited(second.child)).toBe(0);
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  test('refuses to start on an invalid configuration file, naming the field', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'clients:\n  - client_id: a\n    token_endpoint_auth_method: none\n    redirect_uris: ["https://ok.example/cb"]\n  - client_id: b\n    token_endpoint_auth_method: none\n    redirect_uris: ["https://ok.example/cb"]\n  - client_id: c\n    token_endpoint_auth_method: none\n    redirect_uris: ["relative/path"]\n');
    const r = await run(['serve'], { TESSERA_CONFIG: file, PORT: String(await freePort()) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('clients[2].redirect_uris[0]: must be an absolute URL');
    expect(r.stdout).not.toContain('listening');
  });
});
