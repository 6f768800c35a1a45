/**
 * Outbound webhooks: `npm run bench:webhooks` (issue 14).
 *
 * One Tessera (in this process, `createApp` as the server builds it) on
 * PostgreSQL (BENCH_DATABASE_URL or TEST_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test; a fresh schema, dropped
 * afterwards), or on a temporary SQLite file with BENCH_ENGINE=sqlite, and a
 * local receiver on loopback that verifies every message with the npm
 * `standardwebhooks` package and answers 204. Measured:
 *
 * - **throughput**: BENCH_EVENTS (default 2000) events recorded through the
 *   event journal as fast as it takes them (audit entry + outbox row per
 *   event, one transaction each), delivered to 1 immediate subscription, to
 *   4 immediate subscriptions (deliveries of one subscription go one at a
 *   time, in order; subscriptions in parallel), and to 1 batched
 *   subscription (the clock of scheduled work is moved past the interval):
 *   events delivered per second, from the first event recorded to the last
 *   one received;
 * - **delay** in immediate mode: BENCH_CHANGES (default 200) profile
 *   changes through the admin API (`PATCH /users/{id}`), one at a time, each
 *   timed from just before its request to its arrival at the receiver:
 *   p50 and p99 in ms.
 *
 * Nothing asserts a speed. The figures depend on the machine and its load.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { openStore } from '../packages/server/src/storage/database.js';
import { createApp } from '../packages/server/src/app.js';
import { loadSettings, parseDeclarative } from '../packages/server/src/config/load.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 2000);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 200);
const SQLITE = process.env.BENCH_ENGINE === 'sqlite';
const pgUrl = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const MACHINE_SECRET = 'bench-admin-secret-0123456789-abcdefghijkl';
const TENANT = 'bench';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** A receiver: verifies, remembers each event's arrival time (by subscription), drops repeated webhook-ids. */
function receiver() {
  const secrets = new Map<string, Webhook>();
  const arrivals = new Map<string, number>();
  const seen = new Set<string>();
  let events = 0;
  let rejected = 0;
  let waiter: { n: number; done: () => void } | undefined;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const sub = new URL(req.url!, 'http://x').searchParams.get('sub') ?? '';
      try {
        const msg = secrets.get(sub)!.verify(raw, req.headers as Record<string, string>) as { id: string; events: Array<{ id: string; data: { user_id?: string } }> };
        if (!seen.has(msg.id)) {
          seen.add(msg.id);
          const now = performance.now();
          for (const e of msg.events) {
            events++;
            if (e.data.user_id) arrivals.set(e.data.user_id, now);
          }
        }
        res.writeHead(204).end();
      } catch {
        rejected++;
        res.writeHead(400).end();
      }
      if (waiter && events >= waiter.n) {
        const w = waiter;
        waiter = undefined;
        w.done();
      }
    });
  });
  return {
    secrets, arrivals,
    get events() { return events; },
    get rejected() { return rejected; },
    async start(): Promise<string> {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    },
    /** Resolves once `n` events arrived in total. */
    until(n: number): Promise<void> {
      if (events >= n) return Promise.resolve();
      return new Promise((done) => (waiter = { n, done }));
    },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

async function main(): Promise<void> {
  const schema = `bench_hooks_${randomBytes(5).toString('hex')}`;
  const sqliteDir = SQLITE ? mkdtempSync(join(tmpdir(), 'tessera-bench-hooks-')) : undefined;
  const databaseUrl = SQLITE ? `sqlite:${join(sqliteDir!, 'tessera.db')}` : pgUrl;
  const store = SQLITE ? openStore(databaseUrl) : openStore(pgUrl, { schema, poolSize: 10 });
  const dir = resolve('data/bench');
  mkdirSync(dir, { recursive: true });
  let offset = 0;
  const rx = receiver();
  const url = await rx.start();
  const port = 30_000 + Math.floor(Math.random() * 20_000);
  const issuer = `http://127.0.0.1:${port}`;
  const settings = loadSettings({
    PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: issuer, TESSERA_DATA_DIR: dir, DATABASE_URL: databaseUrl,
    TESSERA_SECRET: 'bench-secret-bench-secret-bench-secret', TESSERA_BOOTSTRAP_ADMIN_PASSWORD: randomBytes(12).toString('base64url'), LOG_LEVEL: 'warn',
    TESSERA_OUTBOUND_PRIVATE_HOSTS: '127.0.0.1',
  }, {
    declarative: parseDeclarative(JSON.stringify({
      tenants: [{ id: TENANT, name: 'Bench' }],
      clients: [{ client_id: 'bench-admin', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], tenant: 'default', admin_scopes: ['identity.admin'] }],
    }), 'bench config'),
  });
  const app = await createApp(settings, { store, now: () => Date.now() + offset });
  await app.listen();
  try {
    const tokenRes = await fetch(`${issuer}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`bench-admin:${MACHINE_SECRET}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${issuer}/api/admin`, scope: 'identity.admin' }).toString(),
    });
    const token = ((await tokenRes.json()) as { access_token: string }).access_token;
    const admin = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${issuer}/api/admin/v1${path}`, {
        method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(method === 'PATCH' ? { 'if-match': '*' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return (res.status === 204 ? undefined : await res.json()) as T;
    };
    const subscriptions: string[] = [];
    const subscribe = async (extra: Record<string, unknown>) => {
      const tag = randomBytes(4).toString('hex');
      const s = await admin<{ id: string; secret: string }>('POST', '/webhooks', { tenant: TENANT, url: `${url}?sub=${tag}`, events: ['user.updated'], ...extra });
      rx.secrets.set(tag, new Webhook(s.secret));
      subscriptions.push(s.id);
      return s.id;
    };
    const clear = async () => {
      for (const id of subscriptions.splice(0)) await admin('PATCH', `/webhooks/${id}`, { enabled: false });
    };
    const journal = app.platform.journal;
    const record = (i: number) => journal.record({
      type: 'user.updated', at: Date.now(), tenantId: TENANT, subjectId: `bench-user-${i}`, context: {}, data: { fields: ['given_name'], via: 'bench' },
    });

    const rows: Array<[string, string]> = [];
    const throughput = async (name: string, subs: number, extra: Record<string, unknown>, batched = false) => {
      for (let s = 0; s < subs; s++) await subscribe(extra);
      const target = rx.events + EVENTS * subs;
      const started = performance.now();
      for (let i = 0; i < EVENTS; i++) await record(i);
      const recorded = performance.now();
      if (batched) {
        offset += 61 * 60_000;
        app.platform.webhooks.worker.nudge();
      }
      await rx.until(target);
      const seconds = (performance.now() - started) / 1000;
      rows.push([name, `${Math.round((EVENTS * subs) / seconds).toLocaleString('en')} events/s delivered (${(EVENTS * subs).toLocaleString('en')} events in ${seconds.toFixed(2)} s; recording alone ${Math.round(EVENTS / ((recorded - started) / 1000)).toLocaleString('en')} events/s)`]);
      await clear();
      process.stdout.write('.');
    };
    await throughput('immediate, 1 subscription', 1, { mode: 'immediate' });
    await throughput('immediate, 4 subscriptions', 4, { mode: 'immediate' });
    await throughput('batched (interval 60 min, clock moved), 1 subscription', 1, { mode: 'batched', interval_minutes: 60 }, true);

    // Delay from a change (an admin API PATCH) to its arrival, immediate mode, one change at a time.
    await subscribe({ mode: 'immediate' });
    const user = await admin<{ id: string }>('POST', '/users', { tenant: TENANT, username: 'delay-probe', email: 'probe@bench.test' });
    const delays: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      rx.arrivals.delete(user.id);
      const before = rx.events;
      const t0 = performance.now();
      await admin('PATCH', `/users/${user.id}`, { given_name: `Probe ${i}` });
      await rx.until(before + 1);
      delays.push(rx.arrivals.get(user.id)! - t0);
    }
    delays.sort((a, b) => a - b);
    rows.push(['delay, change → delivery (immediate)', `p50 ${percentile(delays, 50).toFixed(1)} ms, p99 ${percentile(delays, 99).toFixed(1)} ms (${CHANGES} admin API changes, one at a time)`]);
    process.stdout.write('\n');

    console.log(`\nOutbound webhooks on ${SQLITE ? 'SQLite' : 'PostgreSQL'}, receiver on loopback verifying with standardwebhooks; ${rx.rejected} rejected\n`);
    console.log('| measure | result |\n|---|---|');
    for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
  } finally {
    await app.close();
    await rx.close();
    await store.close();
    if (SQLITE) rmSync(sqliteDir!, { recursive: true, force: true });
    else {
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
