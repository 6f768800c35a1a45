/**
 * `npm run bench:costs`: what one operation costs the shared stores, the
 * inputs of the capacity model in docs/scaling.md#capacity-model. For a full
 * password sign-in, a failed password (from an unknown source and from a known
 * address), a refresh with rotation and a client-credentials token, on
 * PostgreSQL, with the engine's short-lived state and the lockout counters in
 * the database and in Redis (TESSERA_ENGINE_STATE, TESSERA_LOCKOUT_STATE):
 * SQL statements per operation (reads and writes) and Redis commands per
 * operation (counted on a redis-server of the bench's own through INFO
 * commandstats, so nothing else on the machine's Redis is counted).
 * Counts, not speeds: they do not depend on how busy the machine is.
 */
import { Worker } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { ownRedis } from '../packages/server/test/scale/cluster.js';
import { tempDir } from '../packages/server/test/fault/harness.js';
import { API_IDENTIFIER, startTessera } from './targets.js';
import type { TesseraTarget } from './targets.js';

const SECRET = 'bench-costs-secret-0123456789-abcdefghijklmnop';
const REDIRECT = 'http://127.0.0.1:9/cb';
const USER = { username: 'bench-user', password: 'bench user password, long enough' };
const basic = (id: string) => `Basic ${Buffer.from(`${id}:${SECRET}`).toString('base64')}`;
const CLIENTS = [
  { client_id: 'cost-rp', client_secret: SECRET, grant_types: ['password', 'refresh_token'], scope: 'openid offline_access profile read' },
  { client_id: 'cost-web', client_secret: SECRET, grant_types: ['authorization_code'], redirect_uris: [REDIRECT], first_party: true, scope: 'openid profile' },
  { client_id: 'cost-m2m', client_secret: SECRET, grant_types: ['client_credentials'], scope: 'read' },
];
const OPS = 200;
/** Failed passwords per row: each costs an argon2 verification. */
const FAILS = 100;
/** A user that never signed in: its failures count on the account's bucket for unknown sources. */
const VICTIM = { username: 'bench-victim', password: 'bench victim password, long enough' };

async function redisCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let n = 0;
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) if (m[1] !== 'info') n += Number(m[2]);
  return n;
}

function isWrite(key: string): boolean {
  return /^(insert|update|delete)/.test(key);
}

/** A password-grant attempt with a wrong password (the sign-in page's lockout rules). */
async function wrongPassword(t: TesseraTarget, username: string): Promise<void> {
  const res = await fetch(t.origin + t.tokenPath, {
    method: 'POST', headers: { authorization: basic('cost-rp'), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username, password: 'not the password', scope: 'openid' }).toString(),
  });
  const body = await res.json() as Record<string, string>;
  if (res.status !== 400 || body.error !== 'invalid_grant') throw new Error(`wrong password: ${res.status} ${JSON.stringify(body)}`);
}

async function token(t: TesseraTarget, auth: string, form: Record<string, string>): Promise<Record<string, string>> {
  const res = await fetch(t.origin + t.tokenPath, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
  const body = await res.json() as Record<string, string>;
  if (res.status !== 200) throw new Error(`${form.grant_type}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

function signIns(t: TesseraTarget): Promise<number> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./speed-signin-worker.mjs', import.meta.url), {
      workerData: { origin: t.origin, clientId: 'cost-web', authorization: basic('cost-web'), redirectUri: REDIRECT, ...USER, connections: 2, duration: 4 },
    });
    w.once('message', (r: { latencies: number[]; errors: number }) => (r.errors ? reject(new Error(`${r.errors} failed sign-ins`)) : resolve(r.latencies.length)));
    w.once('error', reject);
  });
}

async function measure(t: TesseraTarget, redis: Redis, run: () => Promise<number>): Promise<{ reads: number; writes: number; redis: number }> {
  const before = t.queries.snapshot();
  const r0 = await redisCalls(redis);
  const n = await run();
  const delta = t.queries.since(before);
  let reads = 0;
  let writes = 0;
  const detail: string[] = [];
  for (const [k, v] of delta) {
    if (isWrite(k)) writes += v;
    else reads += v;
    if (isWrite(k)) detail.push(`${k} ${(v / n).toFixed(2)}`);
  }
  // COSTS_DETAIL=1: which statements the writes are (by kind and table).
  if (process.env.COSTS_DETAIL) console.log(`  writes: ${detail.join(', ')}`);
  return { reads: reads / n, writes: writes / n, redis: (await redisCalls(redis) - r0) / n };
}

async function main(): Promise<void> {
  if (!process.env.TEST_DATABASE_URL && !process.env.BENCH_DATABASE_URL) throw new Error('set TEST_DATABASE_URL (PostgreSQL): the capacity model is for PostgreSQL');
  const tmp = tempDir('tessera-costs-');
  const own = await ownRedis(tmp.dir);
  const counter = new Redis(own.url);
  console.log(`Per operation, on PostgreSQL (${OPS} refreshes and tokens each, sign-ins for 4 s): SQL statements (reads + writes) and Redis commands.`);
  console.log('| operation | engine state and lockout counters | SQL reads | SQL writes | Redis commands |');
  console.log('|---|---|---|---|---|');
  try {
    for (const state of ['database', 'redis'] as const) {
      const t = await startTessera({
        clients: CLIENTS,
        users: [{ ...USER, email: 'bench-user@example.test', email_verified: true }, { ...VICTIM, email: 'bench-victim@example.test', email_verified: true }],
        // A limit the failed-password rows never reach: they measure counting, not refusing (a lock is one users-row write either way).
        config: { tenants: [{ id: 'default', name: 'Default', policy: { lockout: { max_failures: 1000 } } }] },
        env: { REDIS_URL: own.url, TESSERA_ENGINE_STATE: state, TESSERA_LOCKOUT_STATE: state, TESSERA_REDIS_PREFIX: `costs-${state}:` },
      });
      try {
        const rows: Array<[string, { reads: number; writes: number; redis: number }]> = [];
        rows.push(['password sign-in (authorize → form → code → token)', await measure(t, counter, () => signIns(t))]);
        let rt = (await token(t, basic('cost-rp'), { grant_type: 'password', ...USER, scope: 'openid offline_access profile' })).refresh_token!;
        rows.push(['refresh with rotation', await measure(t, counter, async () => {
          for (let i = 0; i < OPS; i++) rt = (await token(t, basic('cost-rp'), { grant_type: 'refresh_token', refresh_token: rt })).refresh_token!;
          return OPS;
        })]);
        // The sign-ins above made 127.0.0.1 a known address of bench-user; bench-victim never signed in.
        rows.push(['failed password, unknown source (password grant)', await measure(t, counter, async () => {
          for (let i = 0; i < FAILS; i++) await wrongPassword(t, VICTIM.username);
          return FAILS;
        })]);
        rows.push(['failed password, known address (password grant)', await measure(t, counter, async () => {
          for (let i = 0; i < FAILS; i++) await wrongPassword(t, USER.username);
          return FAILS;
        })]);
        rows.push(['client credentials (JWT)', await measure(t, counter, async () => {
          for (let i = 0; i < OPS; i++) await token(t, basic('cost-m2m'), { grant_type: 'client_credentials', resource: API_IDENTIFIER, scope: 'read' });
          return OPS;
        })]);
        for (const [name, c] of rows) console.log(`| ${name} | ${state} | ${c.reads.toFixed(1)} | ${c.writes.toFixed(1)} | ${c.redis.toFixed(1)} |`);
      } finally {
        await t.close();
      }
    }
  } finally {
    counter.disconnect();
    await own.stop();
    tmp.dispose();
  }
}

await main();
