/**
 * Deleting a tenant (docs/admin.md#deleting-a-tenant): who may, step-up,
 * the empty-tenant rule, cascade in one transaction (nothing of the tenant
 * left in any table, its sessions and tokens dead), the audit entry, and the
 * guard that keeps the registry complete as features add tables.
 */
import { sql } from 'kysely';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { ENGINES } from './helpers/engines.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import {
  ACME_ADMIN, OPAL, PASSWORD, PLATFORM_ADMIN, adminApi, adminConfig, machineToken, personToken, steppedUpToken, withAuthenticator,
} from './helpers/admin.js';
import { REDIRECT } from './fixtures.js';
import { createAuditRepository } from '../src/audit/repository.js';
import { KEPT_TABLES, TENANT_DATA } from '../src/storage/tenant-data.js';
import type { TenantDataPart } from '../src/storage/tenant-data.js';
import { TenantDeletionService } from '../src/admin/tenants/deletion.js';
import type { AdminPrincipal } from '../src/admin/access.js';
import type { Database } from '../src/storage/schema.js';
import type { Kysely } from 'kysely';

const OWNING_COLUMNS = ['tenant_id', 'user_id', 'account_id', 'client_id'];

/** Every table of the migrated schema with the columns that tie rows to a tenant. */
async function owningTables(db: Kysely<Database>, engine: 'sqlite' | 'postgres'): Promise<Map<string, string[]>> {
  const rows = engine === 'sqlite'
    ? (await sql<{ t: string; c: string }>`select m.name as t, p.name as c from sqlite_master m join pragma_table_info(m.name) p where m.type = 'table'`.execute(db)).rows
    : (await sql<{ t: string; c: string }>`select table_name as t, column_name as c from information_schema.columns where table_schema = current_schema()`.execute(db)).rows;
  const out = new Map<string, string[]>();
  for (const r of rows) if (OWNING_COLUMNS.includes(r.c)) out.set(r.t, [...(out.get(r.t) ?? []), r.c]);
  return out;
}

describe.each(ENGINES)('the registry covers every table ($name)', (engine) => {
  test('each table holding tenant, user, account or client rows is in TENANT_DATA or KEPT_TABLES (with a reason)', async () => {
    const target = await engine.open();
    try {
      await target.store.migrate();
      const tables = await owningTables(target.store.db, engine.name);
      expect(tables.size).toBeGreaterThan(10);
      const covered = new Set(TENANT_DATA.flatMap((p) => p.tables));
      const forgotten = [...tables.keys()].filter((t) => !covered.has(t) && !(t in KEPT_TABLES));
      expect(forgotten).toEqual([]);
      // And the registry names no table that does not exist (a typo would silently skip it).
      const all = engine.name === 'sqlite'
        ? (await sql<{ t: string }>`select name as t from sqlite_master where type = 'table'`.execute(target.store.db)).rows.map((r) => r.t)
        : (await sql<{ t: string }>`select table_name as t from information_schema.tables where table_schema = current_schema()`.execute(target.store.db)).rows.map((r) => r.t);
      expect([...covered].filter((t) => !all.includes(t))).toEqual([]);
    } finally {
      await target.dispose();
    }
  });
});

let t: TestApp;
let api: ReturnType<typeof adminApi>;
const tokens: Record<'opal' | 'adminMfa' | 'ada' | 'bot', string> = {} as never;
const audit = () => createAuditRepository(t.app.store.db);

beforeAll(async () => {
  t = await startTestApp({ config: adminConfig() });
  api = adminApi(t.issuer);
  Object.assign(tokens, {
    opal: await personToken(t.issuer, OPAL),
    ada: await personToken(t.issuer, ACME_ADMIN, { client: 'acme-console' }),
    bot: await machineToken(t.issuer, 'ops-bot'),
  });
  tokens.adminMfa = await steppedUpToken(t.issuer, PLATFORM_ADMIN, await withAuthenticator(t.issuer, PLATFORM_ADMIN));
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const createTenant = async (id: string) => expect((await api('POST', '/tenants', { token: tokens.opal, body: { id, name: `Tenant ${id}` } })).status).toBe(201);

/** Rows anywhere that still name the tenant, or its users or clients. */
async function leftovers(tenantId: string, userIds: string[], clientIds: string[]): Promise<Record<string, number>> {
  const db = t.app.store.db;
  const tables = await owningTables(db, t.app.store.engine);
  const out: Record<string, number> = {};
  for (const [table, columns] of tables) {
    if (table in KEPT_TABLES) continue;
    for (const column of columns) {
      const values = column === 'tenant_id' ? [tenantId] : column === 'client_id' ? clientIds : userIds;
      if (!values.length) continue;
      const r = await sql<{ n: number }>`select count(*) as n from ${sql.table(table)} where ${sql.ref(column)} in (${sql.join(values)})`.execute(db);
      const n = Number(r.rows[0]!.n);
      if (n) out[`${table}.${column}`] = n;
    }
  }
  return out;
}

describe('who may delete a tenant', () => {
  test('tenant administrators: 403; without a recent MFA sign-in: 401 step-up; default and declared tenants: 409; unknown: 404', async () => {
    await createTenant('shortlived');
    expect((await api('DELETE', '/tenants/shortlived', { token: tokens.ada })).status).toBe(403);
    const weak = await api('DELETE', '/tenants/shortlived', { token: tokens.opal });
    expect(weak.status).toBe(401);
    expect(weak.body.error).toBe('insufficient_user_authentication');
    expect(weak.headers.get('www-authenticate')).toContain('acr_values="urn:tessera:acr:mfa"');
    const dflt = await api('DELETE', '/tenants/default?cascade=true', { token: tokens.adminMfa });
    expect(dflt.status).toBe(409);
    expect(dflt.body.error).toBe('conflict');
    // acme and globex come from the configuration file: deleted now, back at the next start.
    const declared = await api('DELETE', '/tenants/globex', { token: tokens.adminMfa });
    expect(declared.status).toBe(409);
    expect(String(declared.body.error_description)).toMatch(/configuration file/);
    expect((await api('DELETE', '/tenants/nowhere', { token: tokens.adminMfa })).status).toBe(404);
    expect((await api('DELETE', '/tenants/shortlived?cascade=maybe', { token: tokens.adminMfa })).status).toBe(400);
    expect((await api('GET', '/tenants/shortlived', { token: tokens.opal })).status).toBe(200);
  });

  test('an empty tenant goes without cascade (its roles with it), with an audit entry', async () => {
    await createTenant('empty');
    expect((await api('PUT', '/tenants/empty/roles/viewer', { token: tokens.opal, body: {} })).status).toBe(200);
    const res = await api<{ id: string; cascade: boolean; deleted: Record<string, number> }>('DELETE', '/tenants/empty', { token: tokens.adminMfa });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 'empty', cascade: false, deleted: { users: 0, clients: 0, roles: 2 } });
    expect((await api('GET', '/tenants/empty', { token: tokens.opal })).status).toBe(404);
    const [entry] = await audit().query({ subjectId: 'empty', action: 'tenant.deleted' });
    expect(entry).toMatchObject({ tenantId: 'empty', details: { target: 'tenant', cascade: false, actor_type: 'user', via: 'admin_api', name: 'Tenant empty' } });
  });

  test('a machine client with admin_scopes needs no step-up (as for every admin write)', async () => {
    await createTenant('botgone');
    expect((await api('DELETE', '/tenants/botgone', { token: tokens.bot })).status).toBe(200);
  });
});

describe('a tenant in use', () => {
  const ids = { users: [] as string[], clients: ['doomed-spa', 'doomed-worker'] };
  let refreshToken: string;
  let spa: oidc.Configuration;
  let outsiderId: string;
  let workerSecret: string;
  const workerToken = () => fetch(`${t.issuer}/oidc/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`doomed-worker:${workerSecret}`).toString('base64')}` },
    body: 'grant_type=client_credentials',
  });

  beforeAll(async () => {
    await createTenant('doomed');
    const mk = async (username: string) => {
      const r = await api<{ id: string }>('POST', '/users', { token: tokens.opal, body: { tenant: 'doomed', username, email: `${username}@doomed.test`, email_verified: true, password: PASSWORD } });
      expect(r.status).toBe(201);
      ids.users.push(r.body.id);
    };
    await mk('dora');
    await mk('dean');
    expect((await api('PUT', '/tenants/doomed/roles/editor', { token: tokens.opal, body: {} })).status).toBe(200);
    expect((await api('PUT', `/users/${ids.users[0]}/roles`, { token: tokens.opal, body: { roles: ['editor'] } })).status).toBe(200);
    expect((await api('POST', '/clients', {
      token: tokens.adminMfa,
      body: { client_id: 'doomed-spa', tenant: 'doomed', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'] },
    })).status).toBe(201);
    const worker = await api<{ client_secret: string }>('POST', '/clients', {
      token: tokens.opal, body: { client_id: 'doomed-worker', tenant: 'doomed', grant_types: ['client_credentials'] },
    });
    expect(worker.status).toBe(201);
    workerSecret = worker.body.client_secret;
    expect((await workerToken()).status).toBe(200);
    // Somebody from another tenant is a member here, with a role here.
    const outsider = await api<{ id: string }>('POST', '/users', { token: tokens.opal, body: { tenant: 'acme', username: 'otto', email: 'otto@acme.test', password: PASSWORD } });
    outsiderId = outsider.body.id;
    expect((await api('PUT', `/users/${outsiderId}/memberships/doomed`, { token: tokens.adminMfa })).status).toBe(200);
    expect((await api('PUT', `/users/${outsiderId}/roles`, { token: tokens.adminMfa, body: { tenant: 'doomed', roles: ['editor'] } })).status).toBe(200);
    // Dora signs in to the tenant's app: a session, a grant, a refresh token.
    spa = await discover(t.issuer, { clientId: 'doomed-spa' });
    const { tokens: issued } = await codeFlow(spa, new UserAgent(), t.issuer, { username: 'dora', password: PASSWORD }, { scope: 'openid offline_access' });
    expect(issued.refresh_token).toBeTruthy();
    refreshToken = issued.refresh_token!;
  }, 60_000);

  test('without cascade: 409 tenant_not_empty naming what is left; nothing changes', async () => {
    const res = await api('DELETE', '/tenants/doomed', { token: tokens.adminMfa });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('tenant_not_empty');
    expect(res.body.fields).toEqual({ users: 'not_empty', clients: 'not_empty', members_from_other_tenants: 'not_empty' });
    for (const part of ['2 users', '2 clients', '1 members from other tenants']) expect(String(res.body.error_description)).toContain(part);
    expect((await api('GET', `/users/${ids.users[0]}`, { token: tokens.opal })).status).toBe(200);
  });

  test('a failure half-way rolls everything back: one transaction', async () => {
    const failing: TenantDataPart = {
      name: 'failing', tables: [], stage: 'configuration',
      count: async () => 0,
      remove: async () => {
        throw new Error('disk full (simulated)');
      },
    };
    const service = new TenantDeletionService({
      db: t.app.store.db, tenants: t.app.platform.tenants, clients: t.app.platform.clients, emit: async () => undefined,
      declaredTenants: new Set(), parts: [...TENANT_DATA, failing],
    });
    const principal: AdminPrincipal = { kind: 'client', id: 'ops-bot', clientId: 'ops-bot', tenantId: 'default', platform: true, scopes: new Set(), acr: null, authTime: null };
    await expect(service.delete(principal, 'doomed', true, {}, () => undefined)).rejects.toThrow('disk full');
    expect(await leftovers('doomed', ids.users, ids.clients)).toMatchObject({ 'users.tenant_id': 2, 'clients.tenant_id': 2, 'memberships.tenant_id': 3 });
    expect((await oidc.refreshTokenGrant(spa, refreshToken)).access_token).toBeTruthy();
  });

  test('with cascade=true: everything of the tenant goes at once; sessions and tokens stop working; outsiders keep their accounts', async () => {
    // The machine client's token has no account: it names its client only inside the payload.
    const byClient = async () => Number((await sql<{ n: number }>`select count(*) as n from oidc_payloads where payload like ${'%"clientId":"doomed-worker"%'}`
      .execute(t.app.store.db)).rows[0]!.n);
    expect(await byClient()).toBeGreaterThan(0);
    const res = await api<{ deleted: Record<string, number> }>('DELETE', '/tenants/doomed?cascade=true', { token: tokens.adminMfa });
    expect(res.status).toBe(200);
    expect(res.body.deleted).toMatchObject({ users: 2, clients: 2, roles: 2, members_from_other_tenants: 1 });
    expect(res.body.deleted.sessions_and_tokens).toBeGreaterThan(0);
    expect(Object.keys(res.body.deleted).sort()).toEqual(TENANT_DATA.map((p) => p.name).sort());

    expect(await leftovers('doomed', ids.users, ids.clients)).toEqual({});
    expect(await byClient()).toBe(0);
    expect((await api('GET', '/tenants/doomed', { token: tokens.opal })).status).toBe(404);
    await expect(oidc.refreshTokenGrant(spa, refreshToken)).rejects.toMatchObject({ error: expect.stringMatching(/invalid_grant|invalid_client/) });
    // The machine client is gone at once (the read cache was evicted), not after its TTL.
    expect((await workerToken()).status).toBe(401);
    const otto = await api<{ items: { tenant: string }[] }>('GET', `/users/${outsiderId}/memberships`, { token: tokens.opal });
    expect(otto.body.items.map((m) => m.tenant)).toEqual(['acme']);

    const [entry] = await audit().query({ subjectId: 'doomed', action: 'tenant.deleted' });
    expect(entry).toMatchObject({ actorId: expect.any(String), details: { cascade: true, deleted: res.body.deleted } });
    // The audit log keeps what happened in the tenant before.
    expect((await audit().query({ subjectId: ids.users[0]!, action: 'user.created' })).length).toBe(1);
    // The tenant id is free again.
    await createTenant('doomed');
  });
});
