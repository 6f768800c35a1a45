import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { stringify } from 'yaml';
import type { TestApp } from '../../server/test/helpers/app.js';
import { ALICE, RECORDS_API, UPSTREAM_SECRET, call, freePort, startPlatform, userToken } from './helpers.js';

/**
 * Real processes: the gateway and the example backend started the way an
 * operator starts them (`npm run gateway` = run-ts.js on main.ts, and
 * `tessera gateway`), talking to the platform over loopback.
 */
const ROOT = resolve(import.meta.dirname, '../../..');
const RUN_TS = join(ROOT, 'packages/server/bin/run-ts.js');
const TESSERA = join(ROOT, 'packages/server/bin/tessera.js');

let t: TestApp;
let dir: string;
let backend: Started;
let backendUrl: string;

interface Started {
  child: ChildProcess;
  output: () => string;
}

/** Spawns a process and resolves once `ready` appears in its output. */
function start(args: string[], env: Record<string, string>, ready: string): Promise<Started> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env } });
    let out = '';
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes(ready)) done({ child, output: () => out });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => fail(new Error(`exited early (${code}): ${out}`)));
  });
}

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => done({ code, output: out }));
  });
}

const exited = (child: ChildProcess) => new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${url}/readyz`).catch(() => undefined);
    if (r?.status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never became ready`);
}

beforeAll(async () => {
  t = await startPlatform();
  dir = mkdtempSync(join(tmpdir(), 'tessera-gateway-'));
  const port = await freePort();
  backendUrl = `http://127.0.0.1:${port}`;
  backend = await start([RUN_TS, 'examples/backend/src/main.ts'], { BACKEND_PORT: String(port), BACKEND_GATEWAY_SECRET: UPSTREAM_SECRET }, 'example backend listening');
});

afterAll(async () => {
  backend?.child.kill('SIGTERM');
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function gatewayEnv(port: number, config: unknown): Record<string, string> {
  const file = join(dir, `gateway-${port}.yaml`);
  writeFileSync(file, stringify(config));
  return {
    GATEWAY_CONFIG: file, GATEWAY_PORT: String(port), GATEWAY_HOST: '127.0.0.1', TESSERA_ISSUER: t.issuer,
    GATEWAY_AUDIENCE: RECORDS_API, GATEWAY_UPSTREAM_SECRET: UPSTREAM_SECRET, LOG_LEVEL: 'info',
  };
}

const routes = () => ({
  routes: [
    { prefix: '/records', upstream: backendUrl, scopes: ['records:read'] },
    { prefix: '/whoami', upstream: backendUrl },
  ],
});

describe.each([
  ['npm run gateway (run-ts.js packages/gateway/src/main.ts)', [RUN_TS, 'packages/gateway/src/main.ts']],
  ['tessera gateway', [TESSERA, 'gateway']],
])('%s', (_name, args) => {
  test('serves, forwards to the example backend, and stops gracefully on SIGTERM', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const gw = await start(args, gatewayEnv(port, routes()), 'Tessera gateway is listening');
    try {
      await waitReady(url);
      const token = await userToken(t.issuer, 'spa', ALICE, RECORDS_API, 'records:read records:write');
      const created = await call(url, '/records', { token, method: 'POST', body: { title: 'through a real gateway process' } });
      expect(created.status).toBe(201);
      const listed = await call(url, '/records', { token });
      expect((listed.json as { records: Array<{ title: string }> }).records.map((r) => r.title)).toContain('through a real gateway process');
      expect((await call(url, '/records')).status).toBe(401);
      expect((await call(url, '/records', { token: 'garbage' })).status).toBe(401);
      expect((await call(url, '/records', { token })).status).toBe(200);

      const code = exited(gw.child);
      gw.child.kill('SIGTERM');
      expect(await code).toBe(0);
      const lines = gw.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string });
      expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['issuer discovered', 'shutting down: finishing in-flight requests', 'gateway stopped']));
      expect(gw.output()).not.toContain(token.split('.')[2]);
    } finally {
      gw.child.kill('SIGKILL');
    }
  });
});

test('an invalid configuration stops the gateway before it listens, naming each problem by path', async () => {
  const port = await freePort();
  const env = gatewayEnv(port, {
    routes: [
      { prefix: 'records', upstream: 'ftp://x', scopes: ['a b'] },
      { prefix: '/metrics', upstream: backendUrl, acr: 'urn:unknown', colour: 'blue' },
    ],
  });
  const r = await run([RUN_TS, 'packages/gateway/src/main.ts'], env);
  expect(r.code).toBe(1);
  expect(r.output).toContain('invalid configuration in');
  expect(r.output).toMatch(/routes\[0\]\.prefix: must be a path/);
  expect(r.output).toMatch(/routes\[0\]\.upstream: must be an http\(s\) URL/);
  expect(r.output).toMatch(/routes\[0\]\.scopes\[0\]: must be a scope token/);
  expect(r.output).toMatch(/routes\[1\]: unknown key "colour"/);
  const missing = await run([RUN_TS, 'packages/gateway/src/main.ts'], { ...env, GATEWAY_CONFIG: '' });
  expect(missing.code).toBe(1);
  expect(missing.output).toMatch(/GATEWAY_CONFIG: must name the routes file/);
});

test('the example backend process refuses requests that did not come through the gateway', async () => {
  const r = await call(backendUrl, '/records', { headers: { 'x-tessera-sub': 'x', 'x-tessera-tenant': 'default', 'x-tessera-client': 'spa' } });
  expect(r.status).toBe(401);
});
