/**
 * `tessera serve --workers 2` (docs/scaling.md) as an operator runs it: the
 * real command in a child process, on SQLite, or on PostgreSQL when
 * TEST_DATABASE_URL is set. Requests are spread over both workers, and what
 * used to be per process holds across them: the per-IP throttle, jobs under
 * a lease, and a graceful stop (/readyz 503 first).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from './helpers/app.js';
import { BIN, createCliStore, runTessera } from './helpers/cli.js';
import type { CliStore } from './helpers/cli.js';

const SECRET = 'worker-test-client-secret-0123456789abcdef';
let store: CliStore;
let child: ChildProcess;
let out = '';
let base: string;

/** Pids of the processes that logged a finished request for `path`. */
const servedBy = (path: string) => new Set(out.split('\n').filter((l) => l.includes('"request completed"') && l.includes(`"path":"${path}"`))
  .map((l) => (JSON.parse(l) as { pid: number }).pid));

beforeAll(async () => {
  store = createCliStore();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const config = join(store.dir, 'tessera.json');
  writeFileSync(config, JSON.stringify({
    clients: [{ client_id: 'machine', client_secret: SECRET, grant_types: ['client_credentials'], tenant: 'default' }],
  }));
  child = spawn(process.execPath, [BIN, 'serve', '--workers', '2'], {
    env: {
      PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATABASE_URL: store.databaseUrl, TESSERA_DATA_DIR: store.dir,
      TESSERA_SECRET: 'worker-test-secret-worker-test-secret', TESSERA_CONFIG: config, PORT: String(port), HOST: '127.0.0.1',
      TESSERA_ISSUER: base, TESSERA_AUTH_FAILURES_PER_MINUTE: '6', TESSERA_SHUTDOWN_DELAY_SECONDS: '1', LOG_LEVEL: 'info',
      ...(process.env.TESSERA_FROM_SOURCE ? { TESSERA_FROM_SOURCE: process.env.TESSERA_FROM_SOURCE } : {}),
    },
  });
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('Tessera is listening (2 workers)')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`serve exited early (${code}): ${out}`)));
  });
}, 120_000);

afterAll(async () => {
  if (child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  await store.dispose();
});

const token = (secret: string) => fetch(`${base}/oidc/token`, {
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`machine:${secret}`).toString('base64')}` },
  body: 'grant_type=client_credentials',
});

describe('serve --workers 2', () => {
  test('requests are spread over both workers, which serve the same state', async () => {
    for (let i = 0; i < 6; i++) expect((await token(SECRET)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 200));
    expect(servedBy('/oidc/token').size).toBe(2);
  });

  test('a client created with the CLI is served by every worker within a second, though both had cached it as unknown', async () => {
    const secretOf = (stdout: string) => /client_secret:\s*(\S+)/.exec(stdout)?.[1];
    const asNew = (secret: string) => fetch(`${base}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`late:${secret}`).toString('base64')}` },
      body: 'grant_type=client_credentials',
    });
    // Asked for all along, so both workers' read caches (5 s) hold "no such client" while the CLI runs.
    let asking = true;
    const ask = (async () => {
      while (asking) {
        // The authorization endpoint looks the client up too, without counting a failed credential.
        await fetch(`${base}/oidc/auth?client_id=late&response_type=code&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb`);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const created = await runTessera(['clients', 'create', '--id', 'late', '--grant', 'client_credentials'], {
      DATABASE_URL: store.databaseUrl, TESSERA_DATA_DIR: store.dir, TESSERA_SECRET: 'worker-test-secret-worker-test-secret',
    });
    asking = false;
    await ask;
    expect(created.code, created.stderr).toBe(0);
    const secret = secretOf(created.stdout)!;
    expect(secret).toBeTruthy();
    await new Promise((r) => setTimeout(r, 1_000));
    const answers = await Promise.all([asNew(secret), asNew(secret), asNew(secret), asNew(secret)]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
  });

  test('the per-IP throttle counts failures made on every worker', async () => {
    // Six failures, three on each worker: neither worker alone reaches the limit of six.
    for (let i = 0; i < 6; i++) expect((await token('wrong-secret-wrong-secret-wrong-secret')).status).toBe(401);
    // Totals are read back every second.
    await new Promise((r) => setTimeout(r, 2_500));
    // The next failures are refused on both workers (a valid client authentication is kept out of the throttle).
    const wrong = 'wrong-secret-wrong-secret-wrong-secret';
    const after = await Promise.all([token(wrong), token(wrong), token(wrong), token(wrong)]);
    expect(after.map((r) => r.status)).toEqual([429, 429, 429, 429]);
    expect((await token(SECRET)).status).toBe(200);
  });

  test('SIGTERM: /readyz turns 503 while requests are still answered, then every worker stops and the primary exits 0', async () => {
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const ready = await Promise.all([fetch(`${base}/readyz`), fetch(`${base}/readyz`)]);
    expect(ready.map((r) => r.status)).toEqual([503, 503]);
    expect(await ready[0]!.json()).toEqual({ status: 'not_ready', reason: 'shutting_down' });
    expect(ready[0]!.headers.get('connection')).toBe('close');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(await exited).toBe(0);
  });
});
