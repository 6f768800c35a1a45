/**
 * Admin user search at scale: `npm run bench:admin`.
 *
 * Seeds (or reuses) BENCH_USERS users (default 1 000 000) in tenant "bench",
 * then measures, in one run, p50/p99 of each search scenario over
 * BENCH_QUERIES queries (default 200, after 20 discarded warm-ups), against a
 * baseline measured the same way: a primary-key lookup of a user (the
 * repository's findById). Ratios make runs on different machines comparable.
 * Two layers: the search service's queries on the store, and the same
 * searches through the HTTP API (JWT verification, validation,
 * serialisation) against GET /users/{id}.
 *
 * SQLite: the file stays under BENCH_DATA_DIR (default ./data/bench) and is
 * reused by the next run, so only the first run pays for the seed.
 * PostgreSQL (BENCH_DATABASE_URL or TEST_DATABASE_URL): a fresh schema per
 * run, dropped afterwards.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStore } from '../packages/server/src/storage/database.js';
import type { Store } from '../packages/server/src/storage/database.js';
import { createTenantRepository, createUserRepository } from '../packages/server/src/identity/repository.js';
import { seedUsers } from '../packages/server/src/admin/seed.js';
import { createUserSearch } from '../packages/server/src/admin/users/search.js';
import type { SearchCursor, UserSearch } from '../packages/server/src/admin/users/search.js';
import { createApp } from '../packages/server/src/app.js';
import { loadSettings, parseDeclarative } from '../packages/server/src/config/load.js';

const USERS = Number(process.env.BENCH_USERS ?? 1_000_000);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 200);
const WARMUP = 20;
const TENANT = 'bench';
const pgUrl = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL;
const MACHINE_SECRET = 'bench-admin-secret-0123456789-abcdefghijkl';

interface Opened { store: Store; url: string; dir: string; describe: string; dispose(): Promise<void> }

function open(): Opened {
  const dir = resolve(process.env.BENCH_DATA_DIR ?? 'data/bench');
  mkdirSync(dir, { recursive: true });
  if (pgUrl) {
    const schema = `bench_admin_${randomBytes(5).toString('hex')}`;
    const store = openStore(pgUrl, { schema, poolSize: 10 });
    return {
      store, url: pgUrl, dir, describe: `PostgreSQL (${new URL(pgUrl).host}, schema ${schema}, dropped afterwards)`,
      async dispose() {
        await store.close();
        const client = new pg.Client({ connectionString: pgUrl });
        await client.connect();
        await client.query(`drop schema if exists ${schema} cascade`);
        await client.end();
      },
    };
  }
  const file = join(dir, `admin-search-${USERS}.db`);
  return { store: openStore(`sqlite:${file}`), url: `sqlite:${file}`, dir, describe: `SQLite (${file}, WAL)`, dispose: async () => {} };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** Runs `fn` WARMUP + QUERIES times (i = query index) and returns p50/p99 in ms. */
async function measure(fn: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < WARMUP; i++) await fn(i);
  const times: number[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const t0 = process.hrtime.bigint();
    await fn(i);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function main(): Promise<void> {
  const opened = open();
  const { store } = opened;
  try {
    await store.migrate();
    const tenants = createTenantRepository(store.db);
    if (!(await tenants.findById('default'))) await tenants.upsert('default', 'Default');
    if (!(await tenants.findById(TENANT))) await tenants.upsert(TENANT, 'Bench');
    const have = Number((await store.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).where('tenant_id', '=', TENANT).executeTakeFirstOrThrow()).n);
    let seeded = `reused ${have.toLocaleString('en')} users`;
    if (have < USERS) {
      process.stdout.write(`seeding ${(USERS - have).toLocaleString('en')} users into ${opened.describe} …\n`);
      const { ms } = await seedUsers(store.db, {
        tenantId: TENANT, count: USERS - have,
        onProgress: (n) => { if (n % 100_000 === 0) process.stdout.write(`  ${n.toLocaleString('en')}\n`); },
      });
      seeded = `seeded ${(USERS - have).toLocaleString('en')} users in ${(ms / 1000).toFixed(1)} s (${Math.round((USERS - have) / (ms / 1000)).toLocaleString('en')}/s)`;
    }

    // Query inputs: users at random points of the sign-up timeline (one index probe each).
    const bounds = await store.db.selectFrom('users').select((eb) => [eb.fn.min('created_at').as('lo'), eb.fn.max('created_at').as('hi')])
      .where('tenant_id', '=', TENANT).executeTakeFirstOrThrow();
    const lo = Number(bounds.lo);
    const hi = Number(bounds.hi);
    const samples: { id: string; email: string | null; username: string | null; family_name: string | null; given_name: string | null; created_at: number }[] = [];
    for (let i = 0; i < QUERIES + WARMUP; i++) {
      const at = lo + Math.floor(((i * 7919) % (QUERIES + WARMUP)) / (QUERIES + WARMUP) * (hi - lo));
      samples.push((await store.db.selectFrom('users').select(['id', 'email', 'username', 'family_name', 'given_name', 'created_at'])
        .where('tenant_id', '=', TENANT).where('created_at', '>=', at).orderBy('created_at').orderBy('id').limit(1).executeTakeFirstOrThrow()));
    }
    const s = (i: number) => samples[i % samples.length]!;
    const users = createUserRepository(store.db);
    const search = createUserSearch(store.db);
    const q = (extra: Partial<UserSearch>) => search.search({ tenantId: TENANT, limit: 50, ...extra });
    /** The cursor after `pages` pages of a query (set up before timing; a console following "next" links). */
    const cursorAfter = async (extra: Partial<UserSearch>, pages: number) => {
      let after: SearchCursor | undefined;
      for (let p = 0; p < pages; p++) after = (await q({ ...extra, after })).next;
      return after;
    };
    const prefixOf = (i: number) => s(i).family_name!.normalize('NFKC').toLowerCase().slice(0, 3);
    const deepCursors = samples.map((u) => ({ m: 'c' as const, k: Number(u.created_at), i: u.id }));
    const nameCursors: (SearchCursor | undefined)[] = [];
    for (let i = 0; i < 20; i++) nameCursors.push(await cursorAfter({ namePrefix: prefixOf(i) }, 5));

    const rows: [string, { p50: number; p99: number }][] = [];
    const run = async (name: string, fn: (i: number) => Promise<unknown>) => {
      rows.push([name, await measure(fn)]);
      process.stdout.write('.');
    };
    await run('baseline: primary-key lookup (findById)', (i) => users.findById(s(i).id));
    await run('email, exact', (i) => q({ email: s(i).email!.toUpperCase() }));
    await run('username, exact', (i) => q({ username: s(i).username! }));
    await run('name prefix (3 letters), page 1', (i) => q({ namePrefix: prefixOf(i) }));
    await run('name prefix "given fam", page 1', (i) => q({ namePrefix: `${s(i).given_name} ${s(i).family_name!.slice(0, 3)}` }));
    await run('name prefix (3 letters), page 6 (cursor)', (i) => q({ namePrefix: prefixOf(i % 20), after: nameCursors[i % 20] }));
    await run('status=disabled, page 1', () => q({ status: 'disabled' }));
    await run('status=pending, deep page (cursor)', (i) => q({ status: 'pending', after: deepCursors[i] }));
    await run('all users, page 1', () => q({}));
    await run('all users, deep page (cursor)', (i) => q({ after: deepCursors[i] }));
    process.stdout.write('\n');

    // The same through HTTP: an app over this store, a machine client granted identity.admin.
    const http = await measureHttp(opened, samples.map((u) => ({ id: u.id, email: u.email!, prefix: u.family_name!.slice(0, 3) })));

    const base = rows[0]![1];
    const engine = pgUrl ? 'PostgreSQL' : 'SQLite';
    console.log(`\nadmin user search, ${engine}: ${USERS.toLocaleString('en')} users in tenant "${TENANT}" (${seeded}); ${QUERIES} queries per scenario, page size 50`);
    console.log(opened.describe);
    const line = (name: string, r: { p50: number; p99: number }, b: { p50: number; p99: number }) =>
      `| ${name.padEnd(44)} | ${r.p50.toFixed(3).padStart(8)} | ${r.p99.toFixed(3).padStart(8)} | ${(r.p50 / b.p50).toFixed(1).padStart(6)} | ${(r.p99 / b.p99).toFixed(1).padStart(6)} |`;
    console.log(`| ${'store layer (search service → SQL)'.padEnd(44)} | p50 ms   | p99 ms   | ×p50   | ×p99   |`);
    console.log(`|${'-'.repeat(46)}|----------|----------|--------|--------|`);
    for (const [name, r] of rows) console.log(line(name, r, base));
    console.log(`| ${'HTTP (GET /api/admin/v1/…, machine token)'.padEnd(44)} |          |          |        |        |`);
    for (const [name, r] of http) console.log(line(name, r, http[0]![1]));
  } finally {
    await opened.dispose();
  }
}

async function measureHttp(opened: Opened, samples: { id: string; email: string; prefix: string }[]): Promise<[string, { p50: number; p99: number }][]> {
  const port = 30_000 + Math.floor(Math.random() * 20_000);
  const issuer = `http://127.0.0.1:${port}`;
  const settings = loadSettings({
    PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: issuer, TESSERA_DATA_DIR: opened.dir, DATABASE_URL: opened.url,
    TESSERA_SECRET: 'bench-secret-bench-secret-bench-secret', TESSERA_BOOTSTRAP_ADMIN_PASSWORD: randomBytes(12).toString('base64url'),
    LOG_LEVEL: 'warn',
  }, {
    declarative: parseDeclarative(JSON.stringify({
      tenants: [{ id: TENANT, name: 'Bench' }],
      clients: [{ client_id: 'bench-admin', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], tenant: 'default', admin_scopes: ['identity.admin'] }],
    }), 'bench config'),
  });
  const app = await createApp(settings, { store: opened.store });
  await app.listen();
  try {
    const tokenRes = await fetch(`${issuer}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`bench-admin:${MACHINE_SECRET}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${issuer}/api/admin`, scope: 'identity.admin' }).toString(),
    });
    const { access_token: token } = await tokenRes.json() as { access_token: string };
    const get = async (path: string) => {
      const res = await fetch(`${issuer}/api/admin/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    };
    const s = (i: number) => samples[i % samples.length]!;
    const t = `tenant=${TENANT}`;
    return [
      ['baseline: GET /users/{id}', await measure((i) => get(`/users/${s(i).id}`))],
      ['GET /users?email=…', await measure((i) => get(`/users?${t}&email=${encodeURIComponent(s(i).email)}`))],
      ['GET /users?name_prefix=… (3 letters, 50)', await measure((i) => get(`/users?${t}&name_prefix=${encodeURIComponent(s(i).prefix)}`))],
      ['GET /users?status=disabled (50)', await measure(() => get(`/users?${t}&status=disabled`))],
    ];
  } finally {
    await app.close();
  }
}

await main();
