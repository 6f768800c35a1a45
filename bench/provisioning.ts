/**
 * Provisioning at scale: `npm run bench:provisioning`.
 *
 * On PostgreSQL (BENCH_DATABASE_URL or TEST_DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test; a fresh schema, dropped
 * afterwards), seeds BENCH_USERS users (default 100 000) into tenant "bench",
 * then measures, in one run and through HTTP with an API token:
 *
 * - SCIM user creation (POST /Users) against the admin API's user creation
 *   (POST /api/admin/v1/users: the same checks and writes) as the baseline;
 * - SCIM filtered lists (userName eq, externalId eq, name.familyName sw,
 *   a page of an `and` filter) against the admin API's email search;
 * - the Okta-compatible API's `search` and login lookup.
 *
 * The load generator runs on its own thread with BENCH_CONCURRENCY (default 8)
 * requests in flight. Figures: requests per second, p50 and p99 in ms, and
 * the ratio to the baseline of the same kind measured in the same run.
 */
import { Worker } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import { openStore } from '../packages/server/src/storage/database.js';
import { createTenantRepository } from '../packages/server/src/identity/repository.js';
import { seedUsers } from '../packages/server/src/admin/seed.js';
import { createApp } from '../packages/server/src/app.js';
import { loadSettings, parseDeclarative } from '../packages/server/src/config/load.js';
import { apiTokenStore } from '../packages/server/src/provisioning/feature.js';

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const CREATES = Number(process.env.BENCH_CREATES ?? 1000);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const TENANT = 'bench';
const pgUrl = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const MACHINE_SECRET = 'bench-admin-secret-0123456789-abcdefghijkl';

interface Req { method: 'GET' | 'POST'; path: string; headers: Record<string, string>; body?: string }
interface Result { name: string; perSecond: number; p50: number; p99: number; statuses: Record<string, number> }

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

function load(name: string, origin: string, requests: Req[]): Promise<Result> {
  return new Promise((resolveResult, reject) => {
    const worker = new Worker(new URL('./provisioning-worker.mjs', import.meta.url), { workerData: { origin, requests, concurrency: CONCURRENCY } });
    worker.once('message', (m: { ok: boolean; error?: string; seconds: number; latencies: number[]; statuses: Record<string, number> }) => {
      if (!m.ok) return reject(new Error(m.error));
      const sorted = [...m.latencies].sort((a, b) => a - b);
      process.stdout.write('.');
      resolveResult({ name, perSecond: requests.length / m.seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), statuses: m.statuses });
    });
    worker.once('error', reject);
  });
}

async function main(): Promise<void> {
  const schema = `bench_prov_${randomBytes(5).toString('hex')}`;
  const store = openStore(pgUrl, { schema, poolSize: 10 });
  const dir = resolve('data/bench');
  mkdirSync(dir, { recursive: true });
  try {
    await store.migrate();
    const tenants = createTenantRepository(store.db);
    if (!(await tenants.findById('default'))) await tenants.upsert('default', 'Default');
    await tenants.upsert(TENANT, 'Bench');
    process.stdout.write(`seeding ${USERS.toLocaleString('en')} users (PostgreSQL schema ${schema}) …\n`);
    const seeded = await seedUsers(store.db, { tenantId: TENANT, count: USERS });

    const port = 30_000 + Math.floor(Math.random() * 20_000);
    const issuer = `http://127.0.0.1:${port}`;
    const settings = loadSettings({
      PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: issuer, TESSERA_DATA_DIR: dir, DATABASE_URL: pgUrl,
      TESSERA_SECRET: 'bench-secret-bench-secret-bench-secret', TESSERA_BOOTSTRAP_ADMIN_PASSWORD: randomBytes(12).toString('base64url'), LOG_LEVEL: 'warn',
      // The benchmark measures throughput, not the per-credential budget.
      TESSERA_PROVISIONING_REQUESTS_PER_MINUTE: '1000000',
    }, {
      declarative: parseDeclarative(JSON.stringify({
        tenants: [{ id: TENANT, name: 'Bench' }],
        clients: [{ client_id: 'bench-admin', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], tenant: 'default', admin_scopes: ['identity.admin'] }],
      }), 'bench config'),
    });
    const app = await createApp(settings, { store });
    await app.listen();
    try {
      const { token } = await apiTokenStore(app.platform).create({ tenantId: TENANT, name: 'bench', scopes: ['users.read', 'users.manage', 'groups.manage'], days: 1, createdBy: null });
      const adminTokenRes = await fetch(`${issuer}/oidc/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`bench-admin:${MACHINE_SECRET}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${issuer}/api/admin`, scope: 'identity.admin' }).toString(),
      });
      const adminToken = ((await adminTokenRes.json()) as { access_token: string }).access_token;
      const scimH = { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' };
      const adminH = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
      const run = randomBytes(3).toString('hex');

      // Existing users to look up: spread over the tenant.
      const sample = await store.db.selectFrom('users').select(['id', 'username', 'email', 'family_name']).where('tenant_id', '=', TENANT)
        .orderBy('id').limit(QUERIES).offset(Math.floor(USERS / 3)).execute();
      // Some with a SCIM externalId (the sync client's own id), as a directory would have set.
      for (const [i, u] of sample.entries()) {
        await store.db.insertInto('user_external_ids').values({ tenant_id: TENANT, source: 'scim', external_id: `ext-${i}`, user_id: u.id, created_at: Date.now() }).execute();
      }
      const at = (i: number) => sample[i % sample.length]!;
      const q = (f: string, extra = '') => `/scim/v2/${TENANT}/Users?filter=${encodeURIComponent(f)}${extra}`;

      const results: Result[] = [];
      results.push(await load('baseline: admin API create user', issuer, Array.from({ length: CREATES }, (_, i) => ({
        method: 'POST' as const, path: '/api/admin/v1/users', headers: adminH,
        body: JSON.stringify({ tenant: TENANT, username: `admin-${run}-${i}`, email: `admin-${run}-${i}@bench.test`, given_name: 'Bench', family_name: `Admin${i}` }),
      }))));
      results.push(await load('SCIM POST /Users', issuer, Array.from({ length: CREATES }, (_, i) => ({
        method: 'POST' as const, path: `/scim/v2/${TENANT}/Users`, headers: scimH,
        body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `scim-${run}-${i}`, externalId: `new-${run}-${i}`,
          name: { givenName: 'Bench', familyName: `Scim${i}` }, emails: [{ value: `scim-${run}-${i}@bench.test`, primary: true }] }),
      }))));
      results.push(await load('baseline: admin API search by email', issuer, Array.from({ length: QUERIES }, (_, i) => ({
        method: 'GET' as const, path: `/api/admin/v1/users?tenant=${TENANT}&email=${encodeURIComponent(at(i).email!)}`, headers: adminH,
      }))));
      results.push(await load('SCIM userName eq', issuer, Array.from({ length: QUERIES }, (_, i) => ({ method: 'GET' as const, path: q(`userName eq "${at(i).username}"`), headers: scimH }))));
      results.push(await load('SCIM externalId eq', issuer, Array.from({ length: QUERIES }, (_, i) => ({ method: 'GET' as const, path: q(`externalId eq "ext-${i % sample.length}"`), headers: scimH }))));
      results.push(await load('SCIM emails[type eq "work"].value eq', issuer, Array.from({ length: QUERIES }, (_, i) => ({ method: 'GET' as const, path: q(`emails[type eq "work" and value eq "${at(i).email}"]`), headers: scimH }))));
      results.push(await load('SCIM name.familyName sw (3 letters), 50/page', issuer, Array.from({ length: QUERIES }, (_, i) => ({
        method: 'GET' as const, path: q(`name.familyName sw "${at(i).family_name!.slice(0, 3)}"`, '&count=50'), headers: scimH,
      }))));
      results.push(await load('SCIM active eq true and userName sw, 50/page', issuer, Array.from({ length: QUERIES }, (_, i) => ({
        method: 'GET' as const, path: q(`active eq true and userName sw "${at(i).username!.slice(0, 4)}"`, '&count=50'), headers: scimH,
      }))));
      results.push(await load('Okta search profile.email eq', issuer, Array.from({ length: QUERIES }, (_, i) => ({
        method: 'GET' as const, path: `/compat/okta/api/v1/users?search=${encodeURIComponent(`profile.email eq "${at(i).email}"`)}`, headers: { authorization: `SSWS ${token}` },
      }))));
      results.push(await load('Okta GET /users/{login}', issuer, Array.from({ length: QUERIES }, (_, i) => ({
        method: 'GET' as const, path: `/compat/okta/api/v1/users/${encodeURIComponent(at(i).username!)}`, headers: { authorization: `SSWS ${token}` },
      }))));
      process.stdout.write('\n');

      const baseCreate = results[0]!;
      const baseRead = results[2]!;
      console.log(`\nprovisioning on PostgreSQL, ${USERS.toLocaleString('en')} seeded users (${(seeded.ms / 1000).toFixed(1)} s), ${CONCURRENCY} requests in flight`);
      console.log(`| scenario                                         |    req/s |  p50 ms |  p99 ms | × baseline req/s | statuses |`);
      console.log(`|--------------------------------------------------|----------|---------|---------|------------------|----------|`);
      for (const r of results) {
        const base = r.name.includes('create') || r.name.includes('POST') ? baseCreate : baseRead;
        console.log(`| ${r.name.padEnd(48)} | ${r.perSecond.toFixed(0).padStart(8)} | ${r.p50.toFixed(1).padStart(7)} | ${r.p99.toFixed(1).padStart(7)} | ${(r.perSecond / base.perSecond).toFixed(2).padStart(16)} | ${JSON.stringify(r.statuses)} |`);
      }
    } finally {
      await app.close();
    }
  } finally {
    await store.close();
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  }
}

await main();
