import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN, adminToken, createUser, load, readyz, sleep, startServer, tempDir } from './harness.js';
import type { Outcome, Server } from './harness.js';

/**
 * SQLite allows one writer at a time across processes. The CLI beside a
 * running server (WAL mode) must work; a write lock held longer than
 * TESSERA_DB_TIMEOUT_MS must give the server's writes 503
 * temporarily_unavailable (not 500), without blocking the event loop (health
 * checks and reads go on), and everything works again once the lock is gone.
 */
const TIMEOUT_MS = 1500;

let tmp: ReturnType<typeof tempDir>;
let server: Server;
let token: string;
let file: string;

const cliEnv = () => ({
  ...process.env, TESSERA_DATA_DIR: tmp.dir, DATABASE_URL: `sqlite:${file}`, TESSERA_SECRET: 'fault-test-secret-fault-test-secret',
  TESSERA_CONFIG: join(tmp.dir, 'config.json'), LOG_LEVEL: 'warn', TESSERA_DB_TIMEOUT_MS: '10000',
});

function cli(args: string[]): Promise<{ code: number | null; out: string; ms: number }> {
  const started = Date.now();
  return new Promise((done) => {
    const env: NodeJS.ProcessEnv = cliEnv();
    delete env.TEST_DATABASE_URL;
    const child = spawn(process.execPath, [BIN, ...args], { env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => done({ code, out, ms: Date.now() - started }));
  });
}

/** Another process that takes SQLite's write lock (BEGIN IMMEDIATE) and holds it for `ms` (or until `release`). */
function holdWriteLock(ms: number): Promise<{ released: Promise<void>; release(): Promise<void> }> {
  const script = `
    const db = require('better-sqlite3')(process.argv[1]);
    db.pragma('busy_timeout = 10000');
    db.exec('begin immediate');
    process.stdout.write('locked\\n');
    setTimeout(() => { db.exec('commit'); db.close(); process.stdout.write('released\\n'); }, Number(process.argv[2]));
  `;
  const child = spawn(process.execPath, ['-e', script, file, String(ms)], { cwd: process.cwd() });
  const released = new Promise<void>((r) => child.on('close', () => r()));
  return new Promise((done, fail) => {
    child.stdout.on('data', (d) => {
      // Ending the process drops its lock (the open transaction rolls back).
      if (String(d).includes('locked')) done({ released, release: () => (child.kill('SIGTERM'), released) });
    });
    child.stderr.on('data', (d) => fail(new Error(String(d))));
  });
}

beforeAll(async () => {
  tmp = tempDir('tessera-fault-sqlite-');
  file = join(tmp.dir, 'tessera.db');
  server = await startServer({ databaseUrl: `sqlite:${file}`, dir: tmp.dir, env: { TESSERA_DB_TIMEOUT_MS: String(TIMEOUT_MS) } });
  token = await adminToken(server);
});
afterAll(async () => {
  await server?.stop();
  tmp?.dispose();
});

describe('SQLite: the CLI beside a running server', () => {
  test('CLI writes while the server takes writes: all succeed', async () => {
    const writes = load(2, (n) => createUser(server, token, n));
    const runs = await Promise.all([1, 2].map((i) => cli(['users', 'create', '--username', `cli-${i}`, '--password', 'cli-password-123'])));
    await sleep(300);
    await writes.stop();
    for (const r of runs) expect(r.code, r.out).toBe(0);
    const statuses = new Set(writes.outcomes.map((o) => o.status));
    expect([...statuses]).toEqual([201]);
    expect(server.alive()).toBe(true);
  });

  test('a write lock held past the timeout: writes get 503 fast, the event loop stays free, then writes work again', async () => {
    const { released } = await holdWriteLock(TIMEOUT_MS + 2500);
    const started = Date.now();
    // A write waits (asynchronously) for the lock, then gives up.
    const write = createUser(server, token, 1000);
    // Meanwhile health checks, readiness and reads are answered at once.
    await sleep(200);
    const probes: Array<{ path: string; status: number; ms: number }> = [];
    for (const path of ['/healthz', '/readyz', '/.well-known/openid-configuration']) {
      const t0 = Date.now();
      const res = await fetch(`${server.url}${path}`);
      probes.push({ path, status: res.status, ms: Date.now() - t0 });
    }
    const refused: Outcome = await write;
    expect(refused.status, JSON.stringify(refused)).toBe(503);
    expect(refused.error).toBe('temporarily_unavailable');
    expect(refused.retryAfter).toBe('5');
    expect(refused.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);
    expect(refused.ms).toBeLessThan(TIMEOUT_MS + 1_500);
    for (const p of probes) {
      expect(p.status, p.path).toBe(200);
      expect(p.ms, p.path).toBeLessThan(500);
    }
    // A CLI command started under the lock waits for it (its timeout is longer) and succeeds.
    const waiting = cli(['users', 'create', '--username', 'cli-waiter', '--password', 'cli-password-123']);
    await released;
    const r = await waiting;
    expect(r.code, r.out).toBe(0);
    expect(Date.now() - started).toBeGreaterThan(TIMEOUT_MS + 2000);
    const after = await createUser(server, token, 1001);
    expect(after.status).toBe(201);
    expect((await readyz(server)).status).toBe(200);
    expect(server.alive()).toBe(true);
    expect(server.output()).not.toContain('unhandled error');
  });

  test('the CLI facing a lock longer than its timeout says so and exits 75', async () => {
    // Held until the CLI has given up, however long its start takes on a busy machine.
    const lock = await holdWriteLock(90_000);
    const env = { TESSERA_DB_TIMEOUT_MS: '1000' };
    const r = await new Promise<{ code: number | null; out: string }>((done) => {
      const e: NodeJS.ProcessEnv = { ...cliEnv(), ...env };
      delete e.TEST_DATABASE_URL;
      const child = spawn(process.execPath, [BIN, 'users', 'create', '--username', 'cli-late', '--password', 'cli-password-123'], { env: e });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('close', (code) => done({ code, out }));
    });
    await lock.release();
    expect(r.code, r.out).toBe(75);
    expect(r.out).toContain('the database is unavailable');
    expect(r.out).not.toContain('    at ');
  });
});
