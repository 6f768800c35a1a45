/**
 * User data at scale: `npm run bench:users`.
 *
 * 1. Import: BENCH_IMPORT_USERS (default 100 000) users from a generated
 *    JSONL file (external id, email, names, a unique number attribute, an
 *    enum attribute) through the real CLI (`tessera users import`, a child
 *    process), on SQLite and, with BENCH_DATABASE_URL or TEST_DATABASE_URL,
 *    PostgreSQL: users/s and the child's peak RSS. Baseline in the same run:
 *    `tessera users seed` of the same count (bare multi-row INSERTs, no
 *    parsing or checks). Then the same file again (every row `unchanged`).
 * 2. Lookup by external id at BENCH_LOOKUP_USERS (default 1 000 000) users:
 *    p50/p99 of the user-data service's findByExternalId and of
 *    GET /api/admin/v1/users?external_id=…, against a primary-key lookup
 *    (findById) and GET /users/{id} as baselines. SQLite keeps its seeded
 *    file under BENCH_DATA_DIR (default ./data/bench) for the next run.
 *
 * Figures on a shared machine are noisy: compare the ratios.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { openStore } from '../packages/server/src/storage/database.js';
import type { Store } from '../packages/server/src/storage/database.js';
import { createTenantRepository, createUserRepository } from '../packages/server/src/identity/repository.js';
import { seedUsers } from '../packages/server/src/admin/seed.js';
import { UserDataService } from '../packages/server/src/userdata/service.js';
import { attributeDefinitionSchema } from '../packages/server/src/userdata/model.js';
import { createApp } from '../packages/server/src/app.js';
import { loadSettings, parseDeclarative } from '../packages/server/src/config/load.js';

const IMPORT_USERS = Number(process.env.BENCH_IMPORT_USERS ?? 100_000);
const LOOKUP_USERS = Number(process.env.BENCH_LOOKUP_USERS ?? 1_000_000);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 200);
const WARMUP = 20;
const pgUrl = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL;
const DATA = resolve(process.env.BENCH_DATA_DIR ?? 'data/bench');
const TESSERA = resolve(import.meta.dirname, '../packages/server/bin/tessera.js');
const MAXRSS = resolve(import.meta.dirname, 'maxrss.cjs');
const MACHINE_SECRET = 'bench-users-secret-0123456789-abcdefghijk';

interface Engine { name: string; url: string; store: Store; dispose(): Promise<void> }

function openEngine(kind: 'sqlite' | 'postgres', file?: string): Engine {
  if (kind === 'postgres') {
    const schema = `bench_users_${randomBytes(5).toString('hex')}`;
    // Bulk statements (a million external ids in one INSERT … SELECT) outlast a request's statement timeout.
    const store = openStore(pgUrl!, { schema, poolSize: 10, timeoutMs: 1_800_000 });
    return {
      name: `PostgreSQL (${new URL(pgUrl!).host})`, url: `${pgUrl}${pgUrl!.includes('?') ? '&' : '?'}schema=${schema}`, store,
      async dispose() {
        await store.close();
        const c = new pg.Client({ connectionString: pgUrl });
        await c.connect();
        await c.query(`drop schema if exists ${schema} cascade`);
        await c.end();
      },
    };
  }
  const path = file ?? join(mkdtempSync(join(tmpdir(), 'bench-users-')), 'tessera.db');
  const store = openStore(`sqlite:${path}`);
  return { name: 'SQLite (WAL)', url: `sqlite:${path}`, store, dispose: async () => { await store.close(); if (!file) rmSync(resolve(path, '..'), { recursive: true, force: true }); } };
}

async function prepareTenant(store: Store, tenant: string): Promise<void> {
  await store.migrate();
  const tenants = createTenantRepository(store.db);
  if (!(await tenants.findById('default'))) await tenants.upsert('default', 'Default');
  if (!(await tenants.findById(tenant))) await tenants.upsert(tenant, 'Bench');
  const data = new UserDataService({ db: store.db });
  await data.define(tenant, attributeDefinitionSchema.parse({ name: 'member_no', type: 'number', unique: true }));
  await data.define(tenant, attributeDefinitionSchema.parse({ name: 'tier', type: 'enum', values: ['bronze', 'silver', 'gold'] }));
}

async function importFile(n: number): Promise<string> {
  mkdirSync(DATA, { recursive: true });
  const path = join(DATA, `import-${n}.jsonl`);
  if (existsSync(path)) return path;
  const out = createWriteStream(path);
  const tiers = ['bronze', 'silver', 'gold'];
  for (let i = 0; i < n; i++) {
    const line = JSON.stringify({ external_id: `secutix:${1_000_000 + i}`, email: `member${i}@example.com`, given_name: `Given${i % 997}`, family_name: `Family${i % 1009}`,
      attributes: { member_no: i, tier: tiers[i % 3] } }) + '\n';
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return path;
}

/** Runs the CLI; returns wall time, its summary line and its peak RSS (bench/maxrss.cjs, preloaded). */
async function cli(url: string, args: string[]): Promise<{ ms: number; stdout: string; maxRssMiB: number }> {
  const started = process.hrtime.bigint();
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [TESSERA, ...args], {
      env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn', NODE_OPTIONS: `--require ${MAXRSS}`, TESSERA_CONFIG: '', TESSERA_DB_TIMEOUT_MS: '600000' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const rss = /maxrss_kib=(\d+)/.exec(stderr);
      if (code !== 0 || !rss) fail(new Error(`tessera ${args.join(' ')}: exit ${code}\n${stderr.slice(-2000)}`));
      else done({ ms, stdout: stdout.trim(), maxRssMiB: Number(rss[1]) / 1024 });
    });
  });
}

async function importBench(kind: 'sqlite' | 'postgres'): Promise<string[]> {
  const file = await importFile(IMPORT_USERS);
  const e = openEngine(kind);
  try {
    // Two tenants of one store: the baseline seeds one, the import fills the other.
    await prepareTenant(e.store, 'bench');
    await prepareTenant(e.store, 'imported');
    const seed = await cli(e.url, ['users', 'seed', '--count', String(IMPORT_USERS), '--tenant', 'bench', '--batch', '500']);
    const first = await cli(e.url, ['users', 'import', '--tenant', 'imported', '--file', file]);
    const second = await cli(e.url, ['users', 'import', '--tenant', 'imported', '--file', file]);
    const rate = (ms: number) => Math.round(IMPORT_USERS / (ms / 1000));
    return [
      `| ${e.name} | seed (baseline) | ${(seed.ms / 1000).toFixed(1)} s | ${rate(seed.ms)} | 1.00 | ${seed.maxRssMiB.toFixed(0)} MiB |`,
      `| ${e.name} | import, first run | ${(first.ms / 1000).toFixed(1)} s | ${rate(first.ms)} | ${(seed.ms / first.ms).toFixed(2)} | ${first.maxRssMiB.toFixed(0)} MiB |`,
      `| ${e.name} | import, same file again | ${(second.ms / 1000).toFixed(1)} s | ${rate(second.ms)} | ${(seed.ms / second.ms).toFixed(2)} | ${second.maxRssMiB.toFixed(0)} MiB |`,
      `|  | summaries | ${first.stdout.split(': ').slice(1).join(': ')} / ${second.stdout.split(': ').slice(1).join(': ')} | | | |`,
    ];
  } finally {
    await e.dispose().catch(() => undefined);
  }
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
async function measure(fn: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < WARMUP; i++) await fn(i);
  const times: number[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const t0 = process.hrtime.bigint();
    await fn(i + WARMUP);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function lookupBench(kind: 'sqlite' | 'postgres'): Promise<string[]> {
  mkdirSync(DATA, { recursive: true });
  const e = openEngine(kind, kind === 'sqlite' ? join(DATA, `users-lookup-${LOOKUP_USERS}.db`) : undefined);
  try {
    await prepareTenant(e.store, 'bench');
    const db = e.store.db;
    const have = Number((await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).where('tenant_id', '=', 'bench').executeTakeFirstOrThrow()).n);
    if (have < LOOKUP_USERS) {
      process.stdout.write(`seeding ${(LOOKUP_USERS - have).toLocaleString('en')} users (${e.name}) …\n`);
      await seedUsers(db, { tenantId: 'bench', count: LOOKUP_USERS - have });
    }
    // One external id per user (secutix:<username>), added in one statement.
    await sql`insert into user_external_ids (tenant_id, source, external_id, user_id, created_at)
      select tenant_id, 'secutix', username, id, created_at from users u where tenant_id = 'bench'
      and not exists (select 1 from user_external_ids x where x.user_id = u.id and x.source = 'secutix')`.execute(db);
    await sql`analyze`.execute(db);
    const total = Number((await db.selectFrom('user_external_ids').select((eb) => eb.fn.countAll<number>().as('n')).where('tenant_id', '=', 'bench').executeTakeFirstOrThrow()).n);
    const samples = (await sql<{ id: string; username: string }>`select id, username from users where tenant_id = 'bench' order by id limit ${QUERIES + WARMUP} offset ${Math.floor(LOOKUP_USERS / 3)}`.execute(db)).rows;
    const s = (i: number) => samples[(i * 7919) % samples.length]!;
    const users = createUserRepository(db);
    const data = new UserDataService({ db });
    const rows: [string, { p50: number; p99: number }][] = [];
    rows.push(['baseline: findById (primary key)', await measure((i) => users.findById(s(i).id))]);
    rows.push(['findByExternalId (user data service)', await measure(async (i) => {
      if (!(await data.findByExternalId('bench', 'secutix', s(i).username))) throw new Error('not found');
    })]);

    // Through HTTP, against GET /users/{id}.
    const port = 20000 + Math.floor(Math.random() * 20000);
    const issuer = `http://127.0.0.1:${port}`;
    const settings = loadSettings({ PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: issuer, DATABASE_URL: e.url, TESSERA_SECRET: 'bench-secret-bench-secret-bench', LOG_LEVEL: 'warn',
      TESSERA_DATA_DIR: DATA }, { declarative: parseDeclarative(JSON.stringify({ tenants: [{ id: 'bench', name: 'Bench' }],
      clients: [{ client_id: 'bench-admin', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], tenant: 'default', admin_scopes: ['identity.admin'] }] })) });
    const app = await createApp(settings, { store: e.store });
    await app.listen();
    try {
      const tokenRes = await fetch(`${issuer}/oidc/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`bench-admin:${MACHINE_SECRET}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${issuer}/api/admin`, scope: 'identity.admin' }).toString(),
      });
      const { access_token: token } = await tokenRes.json() as { access_token: string };
      const get = async (path: string) => {
        const res = await fetch(`${issuer}/api/admin/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
        if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
        return res.json();
      };
      rows.push(['HTTP baseline: GET /users/{id}', await measure((i) => get(`/users/${s(i).id}`))]);
      rows.push(['HTTP: GET /users?external_id=secutix:…', await measure(async (i) => {
        const page = await get(`/users?tenant=bench&external_id=secutix:${encodeURIComponent(s(i).username)}`) as { items: unknown[] };
        if (page.items.length !== 1) throw new Error('not found');
      })]);
    } finally {
      await app.close();
    }
    const base = rows[0]![1];
    const httpBase = rows[2]![1];
    return [
      `${e.name}: ${have >= LOOKUP_USERS ? 'reused' : 'seeded'} ${LOOKUP_USERS.toLocaleString('en')} users, ${total.toLocaleString('en')} external ids`,
      ...rows.map(([name, r], i) => {
        const b = i < 2 ? base : httpBase;
        return `| ${name} | ${r.p50.toFixed(3)} ms | ${r.p99.toFixed(3)} ms | ${(r.p50 / b.p50).toFixed(2)} | ${(r.p99 / b.p99).toFixed(2)} |`;
      }),
    ];
  } finally {
    if (kind === 'postgres') await e.dispose().catch(() => undefined);
    else await e.store.close().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const engines: ('sqlite' | 'postgres')[] = ['sqlite', ...(pgUrl ? ['postgres' as const] : [])];
  const only = process.env.BENCH_PART;
  if (only !== 'lookup') {
    console.log(`\nImport of ${IMPORT_USERS.toLocaleString('en')} users (tessera users import, a child process; baseline: tessera users seed of the same count)\n`);
    console.log('| engine | run | time | users/s | speed vs seed | peak RSS |\n|---|---|---|---|---|---|');
    for (const k of engines) for (const line of await importBench(k)) console.log(line);
  }
  if (only !== 'import') {
    console.log(`\nLookup by external id at ${LOOKUP_USERS.toLocaleString('en')} users (${QUERIES} queries after ${WARMUP} warm-ups)\n`);
    for (const k of engines) {
      const [head, ...lines] = await lookupBench(k);
      console.log(`${head}\n\n| query | p50 | p99 | p50 / baseline | p99 / baseline |\n|---|---|---|---|---|`);
      for (const line of lines) console.log(line);
      console.log('');
    }
  }
  writeFileSync(join(DATA, 'last-users-bench.txt'), new Date().toISOString());
}

await main();
