/**
 * `npm run bench:scale` (and the last part of `npm run bench`): how Tessera
 * scales on this machine, in one run (docs/scaling.md#measured-on-this-machine):
 *
 * - one process vs `tessera serve --workers 2` (the ratio shows what a second core gives);
 * - one instance vs three behind Debian's haproxy (round robin, as the multi-instance suite runs them);
 * - the engine's short-lived state in the database vs in Redis, on one instance;
 *
 * for client credentials, refresh with rotation and a full password sign-in,
 * all on PostgreSQL (a database of the bench's own) and the machine's Redis.
 * Setups take turns round by round. A benchmark, not a test: nothing here
 * asserts a speed. The load generators share the machine's cores with the
 * servers: on a 2-core machine, more server processes compete with them.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ownDatabase, startServer, tempDir } from '../packages/server/test/fault/harness.js';
import type { Server } from '../packages/server/test/fault/harness.js';
import { startCluster } from '../packages/server/test/scale/cluster.js';
import { runLoad, summarize } from './load.js';
import { CONNECTIONS, DURATION, ROUNDS, WARMUP } from './settings.js';

// The npm script sets TEST_DATABASE_URL (the fault harness reads it when it loads): databases of the bench's own there.
const PG_URL = process.env.TEST_DATABASE_URL!;
const REDIS_URL = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
const API = 'https://api.bench.test';
const SECRET = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const REDIRECT = 'http://127.0.0.1:9/cb';
const USER = { username: 'bench-user', password: 'bench user password, long enough' };
const basic = (id: string) => `Basic ${Buffer.from(`${id}:${SECRET}`).toString('base64')}`;

const CONFIG = {
  apis: [{ identifier: API, name: 'Bench API', scopes: ['read'], signing_alg: 'ES256' }],
  clients: [
    { client_id: 'bench-client', client_secret: SECRET, grant_types: ['client_credentials'], scope: 'read' },
    { client_id: 'bench-rp', client_secret: SECRET, grant_types: ['password', 'refresh_token'], scope: 'openid offline_access profile read' },
    { client_id: 'bench-web', client_secret: SECRET, grant_types: ['authorization_code'], redirect_uris: [REDIRECT], first_party: true, scope: 'openid profile' },
  ],
  users: [{ ...USER, email: 'bench-user@example.test', email_verified: true }],
};

interface Setup { name: string; origin: string; close(): Promise<void> }
interface Result { rps: number; p50: number; p99: number; failures: number }

async function setups(dir: string): Promise<Setup[]> {
  const env = (extra: Record<string, string>) => ({ TESSERA_AUTH_FAILURES_PER_MINUTE: '1000000', LOG_LEVEL: 'warn', ...extra });
  const own = async (name: string, opts: { args?: string[]; env?: Record<string, string> }) => {
    const db = await ownDatabase();
    const server: Server = await startServer({ databaseUrl: db.url, dir: tempDir('tessera-bench-scale-').dir, config: CONFIG, args: opts.args, env: env(opts.env ?? {}) });
    return { name, origin: server.url, close: async () => { await server.stop(); await db.drop(); } };
  };
  const prefix = () => `bench-${randomBytes(4).toString('hex')}:`;
  const out: Setup[] = [];
  out.push(await own('1 process (engine state in the database)', { env: { TESSERA_ENGINE_STATE: 'database' } }));
  out.push(await own('1 process (engine state in Redis)', { env: { REDIS_URL, TESSERA_REDIS_PREFIX: prefix() } }));
  out.push(await own('--workers 2 (Redis)', { args: ['--workers', '2'], env: { REDIS_URL, TESSERA_REDIS_PREFIX: prefix() } }));
  const db = await ownDatabase();
  const cluster = await startCluster({ count: 3, databaseUrl: db.url, dir, config: CONFIG, env: env({ REDIS_URL, TESSERA_REDIS_PREFIX: prefix() }) });
  out.push({ name: '3 instances behind haproxy (Redis)', origin: cluster.issuer, close: async () => { await cluster.stop(); await db.drop(); } });
  return out;
}

function worker(file: string, data: unknown): Promise<{ latencies: number[]; statusCodes: Record<string, number>; errors: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(file, import.meta.url), { workerData: data });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * q))]! : NaN;
};

async function refreshTokens(origin: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${origin}/oidc/token`, {
      method: 'POST', headers: { authorization: basic('bench-rp'), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', ...USER, scope: 'openid offline_access profile' }).toString(),
    });
    const body = await res.json() as { refresh_token?: string };
    if (!body.refresh_token) throw new Error(`password grant at ${origin}: ${res.status} ${JSON.stringify(body)}`);
    out.push(body.refresh_token);
  }
  return out;
}

const SCENARIOS: Array<{ name: string; run(origin: string, seconds: number): Promise<Result> }> = [
  {
    name: 'client credentials',
    async run(origin, seconds) {
      const opts = {
        url: `${origin}/oidc/token`, method: 'POST' as const, connections: CONNECTIONS, duration: seconds,
        headers: { authorization: basic('bench-client'), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: 'read' }).toString(),
      };
      const s = summarize([await runLoad(opts)], opts);
      return { rps: s.perSecond, p50: s.p50, p99: s.p99, failures: s.non2xx + s.errors + s.timeouts };
    },
  },
  {
    name: 'refresh with rotation',
    async run(origin, seconds) {
      const r = await worker('./refresh-worker.mjs', { origin, path: '/oidc/token', authorization: basic('bench-rp'), tokens: await refreshTokens(origin, CONNECTIONS), duration: seconds });
      const failures = Object.entries(r.statusCodes).filter(([c]) => c !== '200').reduce((n, [, v]) => n + v, 0) + r.errors;
      return { rps: r.latencies.length / r.seconds, p50: pct(r.latencies, 0.5), p99: pct(r.latencies, 0.99), failures };
    },
  },
  {
    name: 'password sign-in',
    async run(origin, seconds) {
      const r = await worker('./speed-signin-worker.mjs', {
        origin, clientId: 'bench-web', authorization: basic('bench-web'), redirectUri: REDIRECT, ...USER, connections: CONNECTIONS, duration: seconds,
      });
      const failures = Object.entries(r.statusCodes).filter(([c]) => c !== '200').reduce((n, [, v]) => n + v, 0) + r.errors;
      return { rps: r.latencies.length / r.seconds, p50: pct(r.latencies, 0.5), p99: pct(r.latencies, 0.99), failures };
    },
  },
];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const tmp = tempDir('tessera-bench-scale-');
  const list = await setups(tmp.dir);
  const seconds = Math.max(1, Math.round(DURATION / ROUNDS));
  console.log(`Scaling on this machine: ${availableParallelism()} cores, PostgreSQL ${new URL(PG_URL).host}, Redis ${new URL(REDIS_URL).host}; `
    + `${ROUNDS} rounds × ${seconds} s per scenario and setup, ${CONNECTIONS} connections; load generators on the same machine.`);
  try {
    for (const scenario of SCENARIOS) {
      // Warm-up on each setup (JIT, pools, caches), then interleaved rounds.
      for (const s of list) if (WARMUP > 0) await scenario.run(s.origin, Math.max(1, Math.round(WARMUP)));
      const rates = new Map<Setup, number[]>(list.map((s) => [s, []]));
      const lat = new Map<Setup, Result>();
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 ? [...list].reverse() : list;
        for (const s of order) {
          const r = await scenario.run(s.origin, seconds);
          if (r.failures > 0) throw new Error(`${scenario.name} on ${s.name}: ${r.failures} failed requests`);
          rates.get(s)!.push(r.rps);
          lat.set(s, r);
        }
      }
      const base = median(rates.get(list[0]!)!);
      console.log(`\n${scenario.name}`);
      console.log('| setup | req/s (median of rounds) | ratio to 1 process (database) | p50 / p99 ms (last round) |');
      console.log('|---|---|---|---|');
      for (const s of list) {
        const m = median(rates.get(s)!);
        const r = lat.get(s)!;
        console.log(`| ${s.name} | ${m.toFixed(0)} | **${(m / base).toFixed(2)}** | ${r.p50.toFixed(1)} / ${r.p99.toFixed(1)} |`);
      }
    }
  } finally {
    for (const s of list) await s.close().catch(() => {});
    tmp.dispose();
  }
}

await main();
