import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { freePort } from '../helpers/app.js';

/**
 * Fault-test kit: the real `tessera serve` in a child process (so a crash is
 * seen as a crash), a PostgreSQL database of the test's own (outages are made
 * only there: never on the shared `test` database), a TCP proxy that can
 * stall, and a write load whose acknowledged writes are remembered.
 */
export const BIN = resolve(import.meta.dirname, '../../bin/tessera.js');
export const PG_URL = process.env.TEST_DATABASE_URL;
export const MACHINE_SECRET = 'fault-machine-secret-0123456789-abcdefgh';
export const OPAQUE_API = 'https://opaque.fault.test';

/** Clients and APIs the fault tests use: an admin machine client (user writes) and an opaque API (token writes). */
export const FAULT_CONFIG = {
  apis: [{ identifier: OPAQUE_API, name: 'Opaque API', scopes: ['read'], access_token_format: 'opaque' }],
  roles: [{ name: 'editor', tenant: 'default' }],
  clients: [
    { client_id: 'loader', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], scope: 'read', admin_scopes: ['identity.admin'] },
    { client_id: 'browser', token_endpoint_auth_method: 'none', scope: 'openid', redirect_uris: ['http://127.0.0.1:9/cb'] },
  ],
};

export interface OwnDatabase {
  name: string;
  /** DATABASE_URL for Tessera. */
  url: string;
  /** Runs SQL on the shared server's `test` database (to act on ours: terminate, allow connections). */
  admin(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** Ends Tessera's connections to our database. */
  terminate(): Promise<number>;
  allowConnections(allow: boolean): Promise<void>;
  drop(): Promise<void>;
}

/** A fresh database `tessera_x_<random>` on the shared server; outages act on it alone. */
export async function ownDatabase(): Promise<OwnDatabase> {
  if (!PG_URL) throw new Error('ownDatabase needs TEST_DATABASE_URL');
  const name = `tessera_x_${randomBytes(5).toString('hex')}`;
  const adminClient = new pg.Client({ connectionString: PG_URL, application_name: 'tessera-fault-test' });
  await adminClient.connect();
  // Connection errors of the admin client are the test's own; never let them crash the runner.
  adminClient.on('error', () => {});
  await adminClient.query(`create database ${name}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  const admin = (text: string, params?: unknown[]) => adminClient.query(text, params as unknown[]);
  return {
    name,
    url: url.toString(),
    admin,
    async terminate() {
      const { rows } = await admin(
        'select pg_terminate_backend(pid) as t from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
      return rows.length;
    },
    async allowConnections(allow) {
      await admin(`alter database ${name} allow_connections ${allow}`);
    },
    async drop() {
      try {
        await admin(`alter database ${name} allow_connections true`);
        await admin(`drop database if exists ${name} with (force)`);
      } finally {
        await adminClient.end().catch(() => {});
      }
    },
  };
}

export interface Server {
  url: string;
  port: number;
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string | null>;
  alive(): boolean;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface ServerOptions {
  databaseUrl: string;
  dir: string;
  env?: Record<string, string>;
  port?: number;
  /** The declarative file (FAULT_CONFIG by default). */
  config?: object;
  /** After `serve` (e.g. `--workers 2`). */
  args?: string[];
}

/** Starts `tessera serve` with FAULT_CONFIG; resolves once it listens. */
export async function startServer(opts: ServerOptions): Promise<Server> {
  const port = opts.port ?? await freePort();
  const configFile = join(opts.dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(opts.config ?? FAULT_CONFIG));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: `http://127.0.0.1:${port}`,
    TESSERA_DATA_DIR: opts.dir, DATABASE_URL: opts.databaseUrl, TESSERA_CONFIG: configFile,
    TESSERA_SECRET: 'fault-test-secret-fault-test-secret', TESSERA_BOOTSTRAP_ADMIN_PASSWORD: 'fault-admin-password',
    TESSERA_AUTH_FAILURES_PER_MINUTE: '100000', LOG_LEVEL: 'warn',
    ...opts.env,
  };
  delete env.TEST_DATABASE_URL;
  const child = spawn(process.execPath, [BIN, 'serve', ...(opts.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | string | null>((done) => child.once('exit', (code, signal) => done(code ?? signal)));
  const collect = (d: Buffer) => {
    out += d;
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  // Listening once /healthz answers (LOG_LEVEL=warn keeps the per-request lines out of the output).
  let gone: unknown;
  void exited.then((code) => (gone = code ?? 'exited'));
  for (const started = Date.now(); ; await sleep(100)) {
    if (gone !== undefined) throw new Error(`server exited early (${String(gone)}): ${out}`);
    if (Date.now() - started > 60_000) throw new Error(`server did not start within 60 s: ${out}`);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
  }
  // The fault tests' own configuration must start clean: a start-up warning
  // about a client (e.g. client grants: a scope it no longer obtains) would
  // turn every write of the load into a 4xx and hide the faults under test.
  const configWarning = out.split('\n').find((l) => l.includes('"clientId"'));
  if (configWarning) {
    child.kill('SIGKILL');
    throw new Error(`FAULT_CONFIG needs updating: ${configWarning}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    output: () => out,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}

/** A temporary directory removed by `dispose`. */
export function tempDir(prefix: string): { dir: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A client_credentials token for the admin API (a JWT: the admin API needs no database to verify it). */
export async function adminToken(server: Server): Promise<string> {
  const res = await fetch(`${server.url}/oidc/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('loader', MACHINE_SECRET) },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${server.url}/api/admin`, scope: 'identity.admin' }).toString(),
  });
  const body = await res.json() as { access_token?: string };
  if (!body.access_token) throw new Error(`no admin token: ${res.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

export interface Outcome {
  kind: 'user' | 'token';
  status: number;
  ms: number;
  error?: string;
  retryAfter?: string | null;
  /** The acknowledged write: a user id, or an opaque access token. */
  value?: string;
  /** Transport failure (connection refused/reset): the request got no answer. */
  transport?: string;
  at: number;
}

/** One write through Tessera's own routes: an admin API user creation (users + user_roles in one transaction). */
export async function createUser(server: Server, token: string, n: number): Promise<Outcome> {
  const started = Date.now();
  try {
    const res = await fetch(`${server.url}/api/admin/v1/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ username: `u${n}-${randomBytes(3).toString('hex')}`, roles: ['editor'] }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = await res.json().catch(() => ({})) as { id?: string; error?: string };
    return { kind: 'user', status: res.status, ms: Date.now() - started, error: body.error, retryAfter: res.headers.get('retry-after'), value: res.status === 201 ? body.id : undefined, at: started };
  } catch (err) {
    return { kind: 'user', status: 0, ms: Date.now() - started, transport: String((err as Error).cause ?? err), at: started };
  }
}

/** One write through the protocol engine: an opaque client_credentials token (stored by the engine's adapter). */
export async function issueOpaqueToken(server: Server): Promise<Outcome> {
  const started = Date.now();
  try {
    const res = await fetch(`${server.url}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('loader', MACHINE_SECRET) },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: OPAQUE_API, scope: 'read' }).toString(),
      signal: AbortSignal.timeout(30_000),
    });
    const body = await res.json().catch(() => ({})) as { access_token?: string; error?: string };
    return { kind: 'token', status: res.status, ms: Date.now() - started, error: body.error, retryAfter: res.headers.get('retry-after'), value: res.status === 200 ? body.access_token : undefined, at: started };
  } catch (err) {
    return { kind: 'token', status: 0, ms: Date.now() - started, transport: String((err as Error).cause ?? err), at: started };
  }
}

/** Runs `workers` loops of `step` until `stop()`; every outcome is kept. */
export function load(workers: number, step: (n: number) => Promise<Outcome>): { outcomes: Outcome[]; stop(): Promise<void> } {
  const outcomes: Outcome[] = [];
  let running = true;
  let n = 0;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const o = await step(n++);
      outcomes.push(o);
      // A refused connection answers at once: do not spin.
      if (o.status === 0 || o.status === 503) await sleep(20);
    }
  });
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GET /readyz: its status and how long it took. */
export async function readyz(server: Server): Promise<{ status: number; ms: number; body: unknown }> {
  const started = Date.now();
  const res = await fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, ms: Date.now() - started, body: await res.json() };
}

/** Polls /readyz until it answers `status`; returns how long that took. */
export async function waitForReady(server: Server, status: number, withinMs: number): Promise<number> {
  const started = Date.now();
  let last: unknown;
  while (Date.now() - started < withinMs) {
    try {
      const r = await readyz(server);
      if (r.status === status) return Date.now() - started;
      last = r;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`/readyz did not answer ${status} within ${withinMs} ms (last: ${JSON.stringify(last)})`);
}

/** Is every acknowledged write there? Users by id through the admin API; tokens by introspection. */
export async function missingWrites(server: Server, token: string, acked: Outcome[]): Promise<Outcome[]> {
  const missing: Outcome[] = [];
  for (const o of acked) {
    if (o.kind === 'user') {
      const res = await fetch(`${server.url}/api/admin/v1/users/${o.value}`, { headers: { authorization: `Bearer ${token}` } });
      if (res.status !== 200) missing.push(o);
    } else {
      const res = await fetch(`${server.url}/oidc/token/introspection`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('loader', MACHINE_SECRET) },
        body: new URLSearchParams({ token: o.value! }).toString(),
      });
      const body = await res.json() as { active?: boolean };
      if (body.active !== true) missing.push(o);
    }
  }
  return missing;
}

/**
 * A TCP proxy in front of PostgreSQL that can stall: `freeze()` stops
 * forwarding on every connection (open and new) without closing any, as a
 * hung server or a black-holed network does; `thaw()` resumes.
 */
export async function stallingProxy(target: { host: string; port: number }): Promise<{ port: number; freeze(): void; thaw(): void; close(): Promise<void> }> {
  const pairs = new Set<[Socket, Socket]>();
  let frozen = false;
  const server: NetServer = createServer((downstream) => {
    const upstream = connect(target.port, target.host);
    const pair: [Socket, Socket] = [downstream, upstream];
    pairs.add(pair);
    downstream.pipe(upstream);
    upstream.pipe(downstream);
    if (frozen) {
      downstream.pause();
      upstream.pause();
    }
    const end = () => {
      pairs.delete(pair);
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    freeze() {
      frozen = true;
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
    },
    thaw() {
      frozen = false;
      for (const [a, b] of pairs) {
        a.pipe(b);
        b.pipe(a);
        a.resume();
        b.resume();
      }
    },
    async close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
