/**
 * The repository contract suite: one set of expectations, run against every
 * storage engine (SQLite always, PostgreSQL when TEST_DATABASE_URL is set).
 * A behaviour that differs between engines is a bug in the repository, not in
 * the caller, so every test here runs unchanged on both.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { sql } from 'kysely';
import { migrationProvider } from '../src/storage/migrations/index.js';
import { DEFAULT_POLICY } from '../src/identity/policy.js';
import { ENGINES } from './helpers/engines.js';
import type { TestStore } from './helpers/app.js';
import type { Store } from '../src/storage/database.js';
import { byCodeUnit } from '../src/storage/database.js';
import { ConflictError, NotFoundError, StaleWriteError } from '../src/storage/errors.js';
import {
  createRoleRepository, createTenantRepository, createUserRepository,
} from '../src/identity/repository.js';
import type { RoleRepository, TenantRepository, UserRepository } from '../src/identity/repository.js';
import {
  createApiRepository, createClientRepository, createSigningKeyRepository,
} from '../src/oidc/repository.js';
import type {
  ApiRecord, ApiRepository, ClientRecord, ClientRepository, SigningKeyRecord, SigningKeyRepository,
} from '../src/oidc/repository.js';
import { createOidcPayloadStore } from '../src/oidc/payload-store.js';
import { createActionTokenRepository } from '../src/identity/tokens.js';
import { createSessionMetaRepository } from '../src/account/session-meta.js';
import { createExternalLinkRepository } from '../src/federation/links.js';
import type { OidcPayloadStore } from '../src/oidc/payload-store.js';
import { createInstanceRepository } from '../src/instance/repository.js';
import { createBrandingRepository } from '../src/branding/repository.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The payload store's id-digest key (any fixed value: the app derives it from TESSERA_SECRET). */
const PAYLOAD_ID_KEY = 'contract-test-payload-id-key';

/** Code-unit order: what SQLite's BINARY collation gives, and what every engine must give. */
const codeUnitSort = (xs: string[]) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** Awaits `p`, expecting a rejection, and returns the error for closer inspection. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** A domain error, not a driver error leaking through (no SQLSTATE / SQLITE_* code). */
function expectDomainError(err: Error, type: typeof ConflictError | typeof NotFoundError | typeof StaleWriteError) {
  expect(err).toBeInstanceOf(type);
  expect((err as { code?: unknown }).code).toBeUndefined();
}

for (const engine of ENGINES) {
  describe(`storage contract (${engine.name})`, () => {
    let t: TestStore;
    let store: Store;
    let tenants: TenantRepository;
    let users: UserRepository;
    let roles: RoleRepository;
    let clients: ClientRepository;
    let apis: ApiRepository;
    let keys: SigningKeyRepository;
    let payloads: OidcPayloadStore;

    beforeEach(async () => {
      t = await engine.open();
      store = t.store;
      await store.migrate();
      tenants = createTenantRepository(store.db);
      users = createUserRepository(store.db);
      roles = createRoleRepository(store.db);
      clients = createClientRepository(store.db);
      apis = createApiRepository(store.db);
      keys = createSigningKeyRepository(store.db);
      payloads = createOidcPayloadStore(store.db, PAYLOAD_ID_KEY);
    });
    afterEach(async () => {
      await t?.dispose();
    });

    test('opens the engine it was asked for', () => {
      expect(store.engine).toBe(engine.name);
    });

    describe('migrations', () => {
      test('ready() is false on a store whose migrations have not run', async () => {
        const fresh = await engine.open();
        try {
          expect(await fresh.store.ready()).toBe(false);
          await fresh.store.migrate();
          expect(await fresh.store.ready()).toBe(true);
        } finally {
          await fresh.dispose();
        }
      });

      test('migration names keep the order Kysely gave them: unique numbers, code-unit order = localeCompare order', async () => {
        const names = Object.keys(await migrationProvider.getMigrations());
        expect(names.every((n) => /^\d{3}_[a-z0-9_]+$/.test(n))).toBe(true);
        expect(new Set(names.map((n) => n.slice(0, 3))).size).toBe(names.length);
        // storage/database.ts passes byCodeUnit instead of Kysely's default localeCompare (no ICU collation data at start).
        expect([...names].sort(byCodeUnit)).toEqual([...names].sort((a, b) => a.localeCompare(b)));
      });

      test('migrate() twice is idempotent and keeps data', async () => {
        expect(await store.ready()).toBe(true);
        await tenants.upsert('acme', 'Acme');
        await store.migrate();
        await store.migrate();
        expect(await store.ready()).toBe(true);
        expect(await tenants.findById('acme')).toMatchObject({ id: 'acme', name: 'Acme' });
        const applied = await store.db.selectFrom('kysely_migration' as never)
          .select('name' as never).execute() as { name: string }[];
        expect(applied.map((r) => r.name)).toEqual(Object.keys(await migrationProvider.getMigrations()).sort());
      });

      test('an up-to-date database is left alone; one migration missing or one unknown goes to the Migrator as before', async () => {
        const names = Object.keys(await migrationProvider.getMigrations()).sort();
        const latest = names.at(-1)!;
        // Up to date: no Migrator, which would have made its lock table again.
        await sql`drop table kysely_migration_lock`.execute(store.db);
        await store.migrate();
        await expect(sql`select * from kysely_migration_lock`.execute(store.db)).rejects.toThrow();
        // The latest migration's record gone: the Migrator runs it again (it is repeatable) and records it.
        await store.db.deleteFrom('kysely_migration' as never).where('name' as never, '=', latest as never).execute();
        expect(await store.ready()).toBe(false);
        await store.migrate();
        expect(await store.ready()).toBe(true);
        // The Migrator ran: it made its lock table again (and left its one row).
        expect((await sql<{ id: string }>`select id from kysely_migration_lock`.execute(store.db)).rows).toHaveLength(1);
        // A migration this version does not know (a newer version ran): refused, as Kysely refuses it.
        await store.db.insertInto('kysely_migration' as never).values({ name: '999_from_the_future', timestamp: new Date().toISOString() } as never).execute();
        await expect(store.migrate()).rejects.toThrow(/999_from_the_future/);
      });
    });

    describe('TenantRepository', () => {
      test('upsert says created, unchanged, updated', async () => {
        const before = Date.now();
        expect(await tenants.upsert('acme', 'Acme')).toBe('created');
        const created = await tenants.findById('acme');
        expect(created).toEqual({ id: 'acme', name: 'Acme', policy: DEFAULT_POLICY, createdAt: expect.any(Number), updatedAt: expect.any(Number), version: 1 });
        expect(created!.createdAt).toBeGreaterThanOrEqual(before);
        expect(created!.updatedAt).toBe(created!.createdAt);

        expect(await tenants.upsert('acme', 'Acme')).toBe('unchanged');
        expect(await tenants.findById('acme')).toEqual(created);

        await sleep(5);
        expect(await tenants.upsert('acme', 'Acme Corp')).toBe('updated');
        const updated = await tenants.findById('acme');
        expect(updated!.name).toBe('Acme Corp');
        expect(updated!.createdAt).toBe(created!.createdAt);
        expect(updated!.updatedAt).toBeGreaterThan(created!.updatedAt);
        expect(updated!.version).toBe(2);
      });

      test('updateIfVersion changes only the version it was read at', async () => {
        await tenants.upsert('acme', 'Acme');
        const read = (await tenants.findById('acme'))!;
        const renamed = await tenants.updateIfVersion('acme', read.version, { name: 'Acme Corp', policy: { ...DEFAULT_POLICY, registration: 'open' } });
        expect(renamed).toMatchObject({ name: 'Acme Corp', version: read.version + 1, policy: { registration: 'open' } });
        expectDomainError(await rejection(tenants.updateIfVersion('acme', read.version, { name: 'Lost' })), StaleWriteError);
        expectDomainError(await rejection(tenants.updateIfVersion('nowhere', 1, { name: 'x' })), NotFoundError);
        expect((await tenants.findById('acme'))!.name).toBe('Acme Corp');
      });

      test('findById is exact and misses unknown ids', async () => {
        await tenants.upsert('acme', 'Acme');
        expect(await tenants.findById('nope')).toBeUndefined();
        expect(await tenants.findById('ACME')).toBeUndefined();
      });

      test('list is ordered by id in code-unit order on every engine', async () => {
        const ids = ['beta', 'Alpha', 'alpha-2', '_sys', 'a', 'B', 'a1'];
        for (const id of ids) await tenants.upsert(id, `name of ${id}`);
        const listed = await tenants.list();
        expect(listed.map((x) => x.id)).toEqual(codeUnitSort(ids));
        expect(listed.find((x) => x.id === 'beta')!.name).toBe('name of beta');
      });
    });

    describe('UserRepository', () => {
      beforeEach(async () => {
        await tenants.upsert('acme', 'Acme');
        await tenants.upsert('globex', 'Globex');
      });

      test('markEmailVerified / markPhoneVerified: only for the current address or number; a pending account activates once every required channel is confirmed', async () => {
        const u = await users.create({ tenantId: 'acme', email: 'pat@example.com', phoneNumber: '+4930123456', status: 'pending' });
        // The address first, while the phone is required: still pending.
        expect(await users.markEmailVerified(u.id, 'other@example.com', { requirePhone: true })).toBeUndefined();
        expect(await users.markEmailVerified(u.id, 'PAT@example.com', { requirePhone: true })).toMatchObject({ emailVerified: true, status: 'pending' });
        expect(await users.markPhoneVerified(u.id, '+4930999999', { requireEmail: true })).toBeUndefined();
        const done = await users.markPhoneVerified(u.id, '+4930123456', { requireEmail: true });
        expect(done).toMatchObject({ phoneNumberVerified: true, status: 'active', version: u.version + 1 });

        // The phone first, the address required: pending until the address; without requireEmail, the phone alone activates.
        const v = await users.create({ tenantId: 'acme', email: 'vic@example.com', phoneNumber: '+4930222222', status: 'pending' });
        expect(await users.markPhoneVerified(v.id, '+4930222222', { requireEmail: true })).toMatchObject({ status: 'pending' });
        expect(await users.markEmailVerified(v.id, 'vic@example.com', { requirePhone: true })).toMatchObject({ status: 'active' });
        const w = await users.create({ tenantId: 'acme', email: 'wes@example.com', phoneNumber: '+4930333333', status: 'pending' });
        expect(await users.markPhoneVerified(w.id, '+4930333333', { requireEmail: false })).toMatchObject({ status: 'active', emailVerified: false });
        // Other statuses stay.
        const x = await users.create({ tenantId: 'acme', email: 'xia@example.com', phoneNumber: '+4930444444', status: 'disabled' });
        expect(await users.markPhoneVerified(x.id, '+4930444444', { requireEmail: false })).toMatchObject({ status: 'disabled', phoneNumberVerified: true });
      });

      test('create returns the user as it reads back', async () => {
        const u = await users.create({
          tenantId: 'acme', username: 'Alice', email: 'Alice@Example.com', emailVerified: true,
          givenName: 'Alice', familyName: 'Liddell', phoneNumber: '+15555550100', passwordHash: '$argon2id$x',
        });
        expect(u).toMatchObject({
          tenantId: 'acme', username: 'Alice', email: 'Alice@Example.com', emailVerified: true,
          givenName: 'Alice', familyName: 'Liddell', phoneNumber: '+15555550100', phoneNumberVerified: false,
          passwordHash: '$argon2id$x', status: 'active', roles: [],
        });
        expect(u.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(await users.findById(u.id)).toEqual(u);
        expect(await users.findById('00000000-0000-0000-0000-000000000000')).toBeUndefined();

        const minimal = await users.create({ tenantId: 'acme', email: 'bob@example.com', status: 'pending' });
        expect(await users.findById(minimal.id)).toEqual({
          ...minimal, username: null, emailVerified: false, givenName: null, familyName: null,
          phoneNumber: null, passwordHash: null, status: 'pending', roles: [],
        });
      });

      test('lookups trim, fold case and apply NFKC', async () => {
        const u = await users.create({ tenantId: 'acme', username: 'Alice', email: 'Alice@Example.com' });
        for (const name of ['Alice', 'alice', ' alice ', 'ALICE', '\talice\n', 'ａｌｉｃｅ', 'ＡＬＩＣＥ']) {
          expect((await users.findByUsername('acme', name))?.id, name).toBe(u.id);
        }
        for (const email of ['alice@example.com', ' ALICE@EXAMPLE.COM ', 'ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ']) {
          expect((await users.findByEmail('acme', email))?.id, email).toBe(u.id);
        }
        expect(await users.findByUsername('acme', 'alice2')).toBeUndefined();
        expect(await users.findByEmail('acme', 'alice@example.org')).toBeUndefined();
        // Lookups are scoped to the tenant.
        expect(await users.findByUsername('globex', 'alice')).toBeUndefined();
        expect(await users.findByEmail('globex', 'alice@example.com')).toBeUndefined();
      });

      test('username and email are unique per tenant, after normalisation, with no partial write', async () => {
        await users.create({ tenantId: 'acme', username: 'Alice', email: 'alice@example.com' });
        expect(await users.count()).toBe(1);

        for (const dup of [
          { username: ' ALICE ', email: 'other1@example.com' },
          { username: 'ａｌｉｃｅ', email: 'other2@example.com' },
          { username: 'someone-else', email: ' Alice@EXAMPLE.com' },
        ]) {
          const err = await rejection(users.create({ tenantId: 'acme', ...dup }));
          expectDomainError(err, ConflictError);
        }
        expect(await users.count()).toBe(1);
        expect(await users.findByEmail('acme', 'other1@example.com')).toBeUndefined();
        expect(await users.findByEmail('acme', 'other2@example.com')).toBeUndefined();
        expect(await users.findByUsername('acme', 'someone-else')).toBeUndefined();

        // The same names in another tenant are a different user.
        const other = await users.create({ tenantId: 'globex', username: 'alice', email: 'ALICE@example.com' });
        expect(other.tenantId).toBe('globex');
        expect((await users.findByUsername('globex', 'Alice'))?.id).toBe(other.id);
        expect(await users.count()).toBe(2);
      });

      test('users without a username or email do not collide with each other', async () => {
        await users.create({ tenantId: 'acme', email: 'a@example.com' });
        await users.create({ tenantId: 'acme', email: 'b@example.com' });
        await users.create({ tenantId: 'acme', username: 'c' });
        await users.create({ tenantId: 'acme', username: 'd' });
        expect(await users.count()).toBe(4);
      });

      test('updateProfile patches only what it is given', async () => {
        const u = await users.create({ tenantId: 'acme', username: 'alice', email: 'alice@example.com', givenName: 'Alice' });
        await sleep(5);
        const updated = await users.updateProfile(u.id, { username: 'Alicia', emailVerified: true, status: 'locked' });
        expect(updated).toEqual({
          ...u, username: 'Alicia', emailVerified: true, status: 'locked', updatedAt: expect.any(Number), version: u.version + 1,
        });
        expect(updated.updatedAt).toBeGreaterThan(u.updatedAt);
        expect(await users.findById(u.id)).toEqual(updated);
        expect((await users.findByUsername('acme', ' ALICIA '))?.id).toBe(u.id);
        expect(await users.findByUsername('acme', 'alice')).toBeUndefined();

        const cleared = await users.updateProfile(u.id, { givenName: null, email: 'New@Example.com' });
        expect(cleared.givenName).toBeNull();
        expect(cleared.email).toBe('New@Example.com');
        expect((await users.findByEmail('acme', 'new@example.com'))?.id).toBe(u.id);
        expect(await users.findByEmail('acme', 'alice@example.com')).toBeUndefined();
      });

      test('updateProfile: NotFoundError for an unknown id, ConflictError on a clash, nothing written', async () => {
        expectDomainError(await rejection(users.updateProfile('no-such-user', { givenName: 'x' })), NotFoundError);

        const a = await users.create({ tenantId: 'acme', username: 'alice', email: 'alice@example.com' });
        const b = await users.create({ tenantId: 'acme', username: 'bob', email: 'bob@example.com' });
        expectDomainError(await rejection(users.updateProfile(b.id, { email: ' ALICE@example.com', givenName: 'Bob' })), ConflictError);
        expectDomainError(await rejection(users.updateProfile(b.id, { username: 'Ａｌｉｃｅ' })), ConflictError);
        expect(await users.findById(b.id)).toEqual(b);
        expect(await users.findById(a.id)).toEqual(a);

        // A clash only counts inside the tenant.
        const c = await users.create({ tenantId: 'globex', username: 'carol', email: 'carol@example.com' });
        const moved = await users.updateProfile(c.id, { email: 'alice@example.com' });
        expect(moved.email).toBe('alice@example.com');
      });

      test('updateProfile with an expected version: StaleWriteError when the user changed meanwhile', async () => {
        const u = await users.create({ tenantId: 'acme', username: 'alice', givenName: 'Alice', familyName: 'Liddell' });
        const first = await users.updateProfile(u.id, { givenName: 'Alicia' }, u.version);
        expect(first.version).toBe(u.version + 1);
        expectDomainError(await rejection(users.updateProfile(u.id, { givenName: 'Lost' }, u.version)), StaleWriteError);
        expectDomainError(await rejection(users.updateProfile('no-such-user', { givenName: 'x' }, 1)), NotFoundError);
        expect((await users.findById(u.id))!.givenName).toBe('Alicia');
        // The name-search keys follow the names (the one not in the patch is read from the row).
        await users.updateProfile(u.id, { familyName: 'Müller' });
        const row = await store.db.selectFrom('users').select(['name_family_first', 'name_given_first']).where('id', '=', u.id).executeTakeFirstOrThrow();
        expect(row).toEqual({ name_family_first: 'müller alicia', name_given_first: 'alicia müller' });
      });

      test('delete, removeMembership and rolesIn', async () => {
        const u = await users.create({ tenantId: 'acme', username: 'alice' });
        await users.addMembership(u.id, 'globex');
        await users.setRoles(u.id, 'globex', ['auditor', 'admin']);
        expect(await users.rolesIn(u.id, 'globex')).toEqual(['admin', 'auditor']);
        expect(await users.removeMembership(u.id, 'acme')).toBe(false); // the home tenant's stays
        expect(await users.removeMembership(u.id, 'globex')).toBe(true);
        expect(await users.removeMembership(u.id, 'globex')).toBe(false);
        expect(await users.rolesIn(u.id, 'globex')).toEqual([]);
        expect(await users.listMemberships(u.id)).toEqual(['acme']);
        expect(await users.delete(u.id)).toBe(true);
        expect(await users.delete(u.id)).toBe(false);
        expect(await users.findById(u.id)).toBeUndefined();
        expect(await store.db.selectFrom('memberships').selectAll().where('user_id', '=', u.id).execute()).toEqual([]);
      });

      test('findInTenant: the home view, a member\'s view with that tenant\'s roles, nothing for a non-member', async () => {
        const u = await users.create({ tenantId: 'acme', username: 'alice', email: 'alice@example.test' });
        await users.setRoles(u.id, 'acme', ['editor']);
        expect(await users.findInTenant(u.id, 'acme')).toEqual(await users.findById(u.id));
        expect((await users.findInTenant(u.id, 'acme'))!.memberOf).toBeUndefined();
        expect(await users.findInTenant(u.id, 'globex')).toBeUndefined();
        await users.addMembership(u.id, 'globex');
        expect(await users.findInTenant(u.id, 'globex')).toMatchObject({ id: u.id, tenantId: 'acme', memberOf: 'globex', roles: [] });
        await users.setRoles(u.id, 'globex', ['b-role', 'a-role']);
        expect(await users.findInTenant(u.id, 'globex')).toMatchObject({ tenantId: 'acme', memberOf: 'globex', roles: ['a-role', 'b-role'] });
        expect(await users.findInTenant('no-such-user', 'globex')).toBeUndefined();
        // Given the home read (`home`): the same answers.
        const home = (await users.findById(u.id))!;
        expect(await users.findInTenant(u.id, 'globex', home)).toEqual(await users.findInTenant(u.id, 'globex'));
        expect(await users.findInTenant(u.id, 'acme', home)).toEqual(home);
        // The one-statement read (user and roles joined) neither repeats nor mixes in another tenant's rows.
        expect(await users.findById(u.id)).toEqual(await users.findByUsername('acme', 'alice'));
        expect((await users.findById(u.id))!.roles).toEqual(['editor']);
        await users.removeMembership(u.id, 'globex');
        expect(await users.findInTenant(u.id, 'globex')).toBeUndefined();
        // Roles in a tenant without a membership there do not make a member.
        await users.setRoles(u.id, 'globex', ['stray']);
        expect(await users.findInTenant(u.id, 'globex')).toBeUndefined();
      });

      test('findMembersByLogin: members from other tenants by username or email, read for the tenant; never its own users', async () => {
        const a = await users.create({ tenantId: 'acme', username: 'Sam', email: 'sam@acme.test' });
        const own = await users.create({ tenantId: 'globex', username: 'sam', email: 'sam@globex.test' });
        expect(await users.findMembersByLogin('globex', 'username', 'sam')).toEqual([]);
        await users.addMembership(a.id, 'globex');
        await users.setRoles(a.id, 'globex', ['auditor']);
        expect(await users.findMembersByLogin('globex', 'username', 'SAM')).toEqual([await users.findInTenant(a.id, 'globex')]);
        expect((await users.findMembersByLogin('globex', 'email', 'Sam@Acme.test')).map((u) => [u.id, u.memberOf, u.roles])).toEqual([[a.id, 'globex', ['auditor']]]);
        expect(await users.findMembersByLogin('globex', 'email', 'sam@globex.test')).toEqual([]); // globex's own: not a member from elsewhere
        expect(own.tenantId).toBe('globex');
        expect(await users.findMembersByLogin('acme', 'username', 'sam')).toEqual([]);
      });

      test('setPasswordHash stores the hash; NotFoundError for an unknown id', async () => {
        const u = await users.create({ tenantId: 'acme', username: 'alice' });
        await users.setPasswordHash(u.id, '$argon2id$v=19$new');
        expect((await users.findById(u.id))!.passwordHash).toBe('$argon2id$v=19$new');
        expectDomainError(await rejection(users.setPasswordHash('no-such-user', 'h')), NotFoundError);
      });

      test('setRoles replaces the roles in one tenant and removes duplicates', async () => {
        const u = await users.create({ tenantId: 'acme', username: 'alice' });
        await users.setRoles(u.id, 'acme', ['writer', 'admin', 'writer', 'admin']);
        expect((await users.findById(u.id))!.roles).toEqual(['admin', 'writer']);
        expect((await users.findByUsername('acme', 'alice'))!.roles).toEqual(['admin', 'writer']);

        await users.setRoles(u.id, 'acme', ['reader']);
        expect((await users.findById(u.id))!.roles).toEqual(['reader']);

        // Roles held in another tenant neither show nor get replaced.
        await users.setRoles(u.id, 'globex', ['auditor']);
        expect((await users.findById(u.id))!.roles).toEqual(['reader']);
        await users.setRoles(u.id, 'acme', []);
        expect((await users.findById(u.id))!.roles).toEqual([]);
        const left = await store.db.selectFrom('user_roles').select(['tenant_id', 'role']).where('user_id', '=', u.id).execute();
        expect(left).toEqual([{ tenant_id: 'globex', role: 'auditor' }]);
      });

      test('roles read back in code-unit order on every engine', async () => {
        const u = await users.create({ tenantId: 'acme', username: 'alice' });
        const names = ['b', 'A', 'a', 'B', '_x'];
        await users.setRoles(u.id, 'acme', names);
        expect((await users.findById(u.id))!.roles).toEqual(codeUnitSort(names));
      });

      test('count counts every tenant', async () => {
        expect(await users.count()).toBe(0);
        await users.create({ tenantId: 'acme', username: 'a' });
        await users.create({ tenantId: 'globex', username: 'a' });
        await users.create({ tenantId: 'globex', username: 'b' });
        expect(await users.count()).toBe(3);
      });
    });

    describe('RoleRepository', () => {
      beforeEach(async () => {
        await tenants.upsert('acme', 'Acme');
        await tenants.upsert('globex', 'Globex');
      });

      test('upsert says created, unchanged, updated', async () => {
        expect(await roles.upsert('acme', 'admin', 'Administrators')).toBe('created');
        expect(await roles.upsert('acme', 'admin', 'Administrators')).toBe('unchanged');
        expect(await roles.upsert('acme', 'admin', 'Admins')).toBe('updated');
        expect(await roles.upsert('acme', 'admin', null)).toBe('updated');
        expect(await roles.upsert('acme', 'admin', null)).toBe('unchanged');
        expect(await roles.upsert('globex', 'admin', 'Globex admins')).toBe('created');
        expect(await roles.list('acme')).toEqual([{ name: 'admin', description: null }]);
      });

      test('list is per tenant, ordered by name in code-unit order', async () => {
        const names = ['writer', 'Admin', 'admin', 'reader', '_svc'];
        for (const n of names) await roles.upsert('acme', n, `${n} role`);
        await roles.upsert('globex', 'other', null);
        const listed = await roles.list('acme');
        expect(listed.map((r) => r.name)).toEqual(codeUnitSort(names));
        expect(listed.find((r) => r.name === 'reader')).toEqual({ name: 'reader', description: 'reader role' });
        expect(await roles.list('globex')).toEqual([{ name: 'other', description: null }]);
        expect(await roles.list('initech')).toEqual([]);
      });
    });

    describe('RoleRepository.delete', () => {
      test('deletes a role and takes it from its holders in that tenant only', async () => {
        await tenants.upsert('acme', 'Acme');
        await tenants.upsert('globex', 'Globex');
        await roles.upsert('acme', 'temp', null);
        const u = await users.create({ tenantId: 'acme', username: 'alice' });
        await users.setRoles(u.id, 'acme', ['temp', 'keep']);
        await users.addMembership(u.id, 'globex');
        await users.setRoles(u.id, 'globex', ['temp']);
        expect(await roles.delete('acme', 'temp')).toBe(true);
        expect(await roles.delete('acme', 'temp')).toBe(false);
        expect((await users.findById(u.id))!.roles).toEqual(['keep']);
        expect(await users.rolesIn(u.id, 'globex')).toEqual(['temp']);
      });
    });

    describe('ClientRepository', () => {
      const spa: ClientRecord = {
        clientId: 'spa',
        tenantId: 'acme',
        metadata: {
          client_name: 'SPA', redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code', 'refresh_token'], nested: { a: 1, b: [true, null] },
        },
        secretHash: null,
        firstParty: true,
      };
      const backend: ClientRecord = {
        clientId: 'backend', tenantId: 'acme', metadata: { client_name: 'Backend' }, secretHash: 'salt$hash', firstParty: false,
      };
      beforeEach(async () => {
        await tenants.upsert('acme', 'Acme');
        await tenants.upsert('globex', 'Globex');
      });
      /** What find returns for a record written without rotation state: the record plus version and times. */
      const read = (c: ClientRecord) => ({ ...c, previousSecret: null, version: expect.any(Number), createdAt: expect.any(Number), updatedAt: expect.any(Number) });

      test('upsert says created, unchanged, updated; find reads back the record', async () => {
        expect(await clients.upsert(spa)).toBe('created');
        expect(await clients.find('spa')).toEqual(read(spa));
        expect(await clients.upsert(structuredClone(spa))).toBe('unchanged');
        expect(await clients.upsert({ ...backend })).toBe('created');
        expect(await clients.upsert({ ...backend })).toBe('unchanged');

        const changes: Partial<ClientRecord>[] = [
          { metadata: { ...spa.metadata, client_name: 'SPA 2' } },
          { secretHash: 'salt$new' },
          { firstParty: false },
          { tenantId: 'globex' },
        ];
        let current = spa;
        for (const change of changes) {
          current = { ...current, ...change };
          expect(await clients.upsert(current), JSON.stringify(change)).toBe('updated');
          expect(await clients.find('spa')).toEqual(read(current));
          expect(await clients.upsert(current)).toBe('unchanged');
        }
        expect(await clients.find('SPA')).toBeUndefined();
      });

      test('list is ordered by client id; delete says whether it deleted', async () => {
        const ids = ['web', 'Mobile', 'cli', 'api-1', '_admin'];
        for (const id of ids) await clients.upsert({ ...backend, clientId: id });
        expect((await clients.list()).map((c) => c.clientId)).toEqual(codeUnitSort(ids));
        expect((await clients.list())[0]).toEqual(read({ ...backend, clientId: codeUnitSort(ids)[0]! }));

        expect(await clients.delete('cli')).toBe(true);
        expect(await clients.delete('cli')).toBe(false);
        expect(await clients.delete('never')).toBe(false);
        expect(await clients.find('cli')).toBeUndefined();
        expect((await clients.list()).map((c) => c.clientId)).toEqual(codeUnitSort(ids.filter((i) => i !== 'cli')));
        expect(await clients.upsert({ ...backend, clientId: 'cli' })).toBe('created');
      });

      test('create, replaceIfVersion (If-Match) and the previous secret of a rotation', async () => {
        const created = await clients.create(backend);
        expect(created).toEqual(read(backend));
        expectDomainError(await rejection(clients.create(backend)), ConflictError);
        expectDomainError(await rejection(clients.create({ ...backend, clientId: 'x', tenantId: 'nowhere' })), NotFoundError);
        const previousSecret = { hash: 'salt$hash', expiresAt: Date.now() + 60_000 };
        const rotated = await clients.replaceIfVersion({ ...created, secretHash: 'salt$new', previousSecret }, created.version!);
        expect(rotated).toMatchObject({ secretHash: 'salt$new', previousSecret, version: created.version! + 1 });
        expectDomainError(await rejection(clients.replaceIfVersion({ ...created, firstParty: true }, created.version!)), StaleWriteError);
        expectDomainError(await rejection(clients.replaceIfVersion({ ...created, clientId: 'never' }, 1)), NotFoundError);
        // An upsert that leaves previousSecret out keeps it; one with a new secret (the file, the CLI) ends it.
        expect(await clients.upsert({ ...backend, secretHash: 'salt$new', metadata: { client_name: 'Renamed' } })).toBe('updated');
        expect((await clients.find('backend'))!.previousSecret).toEqual(previousSecret);
        expect(await clients.upsert({ ...backend, secretHash: 'salt$newer' })).toBe('updated');
        expect((await clients.find('backend'))!.previousSecret).toBeNull();
      });
    });

    describe('ApiRepository', () => {
      const orders: ApiRecord = {
        identifier: 'https://api.example/orders', name: 'Orders', scopes: ['orders:read', 'orders:write'],
        signingAlg: 'RS256', accessTokenTtl: 900, accessTokenFormat: 'jwt',
      };

      const read = (a: ApiRecord) => ({ ...a, version: expect.any(Number), createdAt: expect.any(Number), updatedAt: expect.any(Number) });

      test('upsert says created, unchanged, updated; find reads back the record', async () => {
        expect(await apis.upsert(orders)).toBe('created');
        expect(await apis.find(orders.identifier)).toEqual(read(orders));
        expect(await apis.upsert(structuredClone(orders))).toBe('unchanged');

        const changes: Partial<ApiRecord>[] = [
          { name: 'Orders API' }, { scopes: ['orders:read'] }, { scopes: [] }, { signingAlg: 'ES256' }, { accessTokenTtl: 300 },
          { accessTokenFormat: 'opaque' }, { accessTokenFormat: 'jwt' },
        ];
        let current = orders;
        for (const change of changes) {
          current = { ...current, ...change };
          expect(await apis.upsert(current), JSON.stringify(change)).toBe('updated');
          expect(await apis.find(orders.identifier)).toEqual(read(current));
          expect(await apis.upsert(current)).toBe('unchanged');
        }
        expect(await apis.find('https://api.example/none')).toBeUndefined();
      });

      test('list is ordered by identifier', async () => {
        const ids = ['urn:b', 'https://z.example', 'https://A.example', 'urn:a', 'urn:B', 'urn:_x'];
        for (const id of ids) await apis.upsert({ ...orders, identifier: id });
        const listed = await apis.list();
        expect(listed.map((a) => a.identifier)).toEqual(codeUnitSort(ids));
        expect(listed[0]).toEqual(read({ ...orders, identifier: codeUnitSort(ids)[0]! }));
      });

      test('create, replaceIfVersion and delete', async () => {
        const created = await apis.create(orders);
        expect(created).toEqual(read(orders));
        expectDomainError(await rejection(apis.create(orders)), ConflictError);
        const changed = await apis.replaceIfVersion({ ...orders, scopes: ['orders:read'], accessTokenFormat: 'opaque' }, created.version!);
        expect(changed).toMatchObject({ scopes: ['orders:read'], accessTokenFormat: 'opaque', version: created.version! + 1 });
        expectDomainError(await rejection(apis.replaceIfVersion({ ...orders, name: 'Lost' }, created.version!)), StaleWriteError);
        expect(await apis.delete(orders.identifier)).toBe(true);
        expect(await apis.delete(orders.identifier)).toBe(false);
        expectDomainError(await rejection(apis.replaceIfVersion(orders, 1)), NotFoundError);
      });
    });

    describe('SigningKeyRepository', () => {
      const key = (kid: string, createdAt: number, status: SigningKeyRecord['status'] = 'active', retireAt: number | null = null): SigningKeyRecord => ({
        kid, alg: 'RS256', publicJwk: { kty: 'RSA', kid, n: `n-${kid}`, e: 'AQAB', use: 'sig' },
        privateJwk: `encrypted:${kid}`, status, createdAt, retireAt,
      });

      test('insert and read back; a duplicate kid is a ConflictError', async () => {
        const k = key('k1', 1_700_000_000_000);
        await keys.insert(k);
        expect(await keys.listAll()).toEqual([k]);
        expectDomainError(await rejection(keys.insert(key('k1', 1_700_000_000_001))), ConflictError);
        expect(await keys.listAll()).toEqual([k]);
      });

      test('listPublished leaves out retired keys, newest first; listAll includes them', async () => {
        const t0 = 1_700_000_000_000;
        const retired = key('k0', t0, 'retired', t0 + 1);
        const old = key('k1', t0 + 1000);
        const retiring = key('k3', t0 + 3000, 'retiring', t0 + 86_400_000);
        const mid = key('k2', t0 + 2000, 'active');
        for (const k of [old, retiring, retired, mid]) await keys.insert(k);
        expect(await keys.listPublished()).toEqual([retiring, mid, old]);
        expect(await keys.listAll()).toEqual([retiring, mid, old, retired]);
      });

      test('demoteActive moves active keys, except those kept, to retiring', async () => {
        const t0 = 1_700_000_000_000;
        await keys.insert(key('a', t0));
        await keys.insert(key('b', t0 + 1));
        await keys.insert(key('c', t0 + 2));
        await keys.insert(key('r', t0 + 3, 'retiring', t0 + 50));
        await keys.insert(key('x', t0 + 4, 'retired', t0 + 10));

        await keys.demoteActive(t0 + 100, ['c', 'b']);
        const byKid = Object.fromEntries((await keys.listAll()).map((k) => [k.kid, [k.status, k.retireAt]]));
        expect(byKid).toEqual({
          a: ['retiring', t0 + 100],
          b: ['active', null],
          c: ['active', null],
          r: ['retiring', t0 + 50],
          x: ['retired', t0 + 10],
        });

        await keys.demoteActive(t0 + 200, []);
        const after = Object.fromEntries((await keys.listAll()).map((k) => [k.kid, [k.status, k.retireAt]]));
        expect(after).toEqual({
          a: ['retiring', t0 + 100],
          b: ['retiring', t0 + 200],
          c: ['retiring', t0 + 200],
          r: ['retiring', t0 + 50],
          x: ['retired', t0 + 10],
        });
      });

      test('retireDue retires only retiring keys whose time has come', async () => {
        const now = 1_700_000_000_000;
        await keys.insert(key('past', now - 5000, 'retiring', now - 1));
        await keys.insert(key('edge', now - 4000, 'retiring', now));
        await keys.insert(key('future', now - 3000, 'retiring', now + 1));
        await keys.insert(key('active', now - 2000, 'active', null));
        await keys.insert(key('active-dated', now - 1000, 'active', now - 10));

        expect(await keys.retireDue(now)).toBe(2);
        expect((await keys.listPublished()).map((k) => k.kid)).toEqual(['active-dated', 'active', 'future']);
        const status = Object.fromEntries((await keys.listAll()).map((k) => [k.kid, k.status]));
        expect(status).toEqual({ past: 'retired', edge: 'retired', future: 'retiring', active: 'active', 'active-dated': 'active' });
        expect(await keys.retireDue(now)).toBe(0);
        expect(await keys.retireDue(now + 1)).toBe(1);
      });
    });

    describe('OidcPayloadStore', () => {
      test('upsert/find round trip, scoped by model', async () => {
        const payload = { accountId: 'u1', nested: { list: [1, 'two', null, true] }, exp: 1234567890, text: 'ünïcødé ✓' };
        await payloads.upsert('Session', 's1', payload, 3600);
        expect(await payloads.find('Session', 's1')).toEqual(payload);
        expect(await payloads.find('Session', 's2')).toBeUndefined();
        expect(await payloads.find('Interaction', 's1')).toBeUndefined();
      });

      test('upsert twice replaces the payload and its lookup keys', async () => {
        await payloads.upsert('Session', 's1', { uid: 'uid-old', grantId: 'g-old', v: 1 }, 3600);
        await payloads.upsert('Session', 's1', { uid: 'uid-new', grantId: 'g-new', v: 2 }, 3600);
        expect(await payloads.find('Session', 's1')).toEqual({ uid: 'uid-new', grantId: 'g-new', v: 2 });
        expect(await payloads.findByUid('Session', 'uid-old')).toBeUndefined();
        expect(await payloads.findByUid('Session', 'uid-new')).toEqual({ uid: 'uid-new', grantId: 'g-new', v: 2 });
        await payloads.revokeByGrantId('g-old');
        expect(await payloads.find('Session', 's1')).toBeDefined();
        const rows = await store.db.selectFrom('oidc_payloads').select('id').execute();
        expect(rows).toHaveLength(1);
      });

      test('upsertMany writes several artefacts in one statement, inserting or replacing, with their lookup keys', async () => {
        await payloads.upsert('RefreshToken', 'rt-old', { grantId: 'g-old', accountId: 'u1', v: 1 }, 3600);
        await payloads.upsertMany([
          { model: 'RefreshToken', id: 'rt-old', payload: { grantId: 'g1', accountId: 'u1', v: 2, jti: 'rt-old' }, expiresIn: 3600 },
          { model: 'RefreshToken', id: 'rt-new', payload: { grantId: 'g1', accountId: 'u1', jti: 'rt-new' }, expiresIn: 3600 },
          { model: 'AccessToken', id: 'at-1', payload: { grantId: 'g1', accountId: 'u1', jti: 'at-1' }, expiresIn: 1 },
          { model: 'Grant', id: 'g1', payload: { accountId: 'u1' } },
        ]);
        expect(await payloads.find('RefreshToken', 'rt-old')).toEqual({ grantId: 'g1', accountId: 'u1', v: 2, jti: 'rt-old' });
        expect(await payloads.find('RefreshToken', 'rt-new')).toEqual({ grantId: 'g1', accountId: 'u1', jti: 'rt-new' });
        expect(await payloads.find('Grant', 'g1')).toEqual({ accountId: 'u1' });
        expect((await payloads.listByAccount('RefreshToken', 'u1')).length).toBe(2);
        await payloads.upsertMany([]);
        // The old grant id no longer names the replaced token; the new one names all three artefacts under it.
        await payloads.revokeByGrantId('g-old');
        expect(await payloads.find('RefreshToken', 'rt-old')).toBeDefined();
        await sleep(1100);
        expect(await payloads.find('AccessToken', 'at-1')).toBeUndefined();
        await payloads.revokeByGrantId('g1');
        expect(await payloads.find('RefreshToken', 'rt-old')).toBeUndefined();
        expect(await payloads.find('RefreshToken', 'rt-new')).toBeUndefined();
        expect(await payloads.find('Grant', 'g1')).toEqual({ accountId: 'u1' });
      });

      test('expiry is honoured on read', async () => {
        await payloads.upsert('DeviceCode', 'short', { userCode: 'ABCD-EFGH', uid: 'u-short' }, 1);
        await payloads.upsert('DeviceCode', 'long', { userCode: 'WXYZ-1234', uid: 'u-long' }, 3600);
        await payloads.upsert('DeviceCode', 'forever', { userCode: 'NONE-0000', uid: 'u-forever' });
        expect(await payloads.find('DeviceCode', 'short')).toBeDefined();
        expect(await payloads.findByUserCode('DeviceCode', 'ABCD-EFGH')).toBeDefined();

        await sleep(1100);
        expect(await payloads.find('DeviceCode', 'short')).toBeUndefined();
        expect(await payloads.findByUid('DeviceCode', 'u-short')).toBeUndefined();
        expect(await payloads.findByUserCode('DeviceCode', 'ABCD-EFGH')).toBeUndefined();
        expect(await payloads.find('DeviceCode', 'long')).toEqual({ userCode: 'WXYZ-1234', uid: 'u-long' });
        expect(await payloads.find('DeviceCode', 'forever')).toEqual({ userCode: 'NONE-0000', uid: 'u-forever' });

        expect(await payloads.sweep()).toBe(1);
        expect(await payloads.find('DeviceCode', 'long')).toBeDefined();
      });

      test('consume marks the artefact with `consumed` in epoch seconds', async () => {
        await payloads.upsert('AuthorizationCode', 'c1', { grantId: 'g1', accountId: 'u1' }, 600);
        await payloads.upsert('AuthorizationCode', 'c2', { grantId: 'g1', accountId: 'u1' }, 600);
        expect(await payloads.find('AuthorizationCode', 'c1')).not.toHaveProperty('consumed');

        const before = Math.floor(Date.now() / 1000);
        await payloads.consume('AuthorizationCode', 'c1');
        const after = Math.floor(Date.now() / 1000);
        const found = await payloads.find('AuthorizationCode', 'c1');
        expect(found).toMatchObject({ grantId: 'g1', accountId: 'u1' });
        expect(Number.isInteger(found!.consumed)).toBe(true);
        expect(found!.consumed).toBeGreaterThanOrEqual(before);
        expect(found!.consumed).toBeLessThanOrEqual(after);
        expect(await payloads.find('AuthorizationCode', 'c2')).not.toHaveProperty('consumed');

        // Consuming something that does not exist is a no-op, not an error.
        await payloads.consume('AuthorizationCode', 'missing');
        expect(await payloads.find('AuthorizationCode', 'missing')).toBeUndefined();
      });

      test('consumeOnce: exactly one of several concurrent callers marks it used', async () => {
        await payloads.upsert('RefreshToken', 'r1', { grantId: 'g1', accountId: 'u1' }, 600);
        const outcomes = await Promise.all([1, 2, 3, 4].map(() => payloads.consumeOnce('RefreshToken', 'r1')));
        expect(outcomes.filter(Boolean)).toHaveLength(1);
        expect(await payloads.find('RefreshToken', 'r1')).toHaveProperty('consumed');
        expect(await payloads.consumeOnce('RefreshToken', 'r1')).toBe(false);
        expect(await payloads.consumeOnce('RefreshToken', 'missing')).toBe(false);
      });

      test('insertOnce: exactly one of several concurrent callers stores it; an expired one is taken over', async () => {
        const outcomes = await Promise.all([1, 2, 3, 4].map(() => payloads.insertOnce('ReplayDetection', 'p1', { iss: 'c1' }, 600)));
        expect(outcomes.filter(Boolean)).toHaveLength(1);
        expect(await payloads.find('ReplayDetection', 'p1')).toEqual({ iss: 'c1' });
        expect(await payloads.insertOnce('ReplayDetection', 'p1', { iss: 'c1' }, 600)).toBe(false);
        expect(await payloads.insertOnce('DeviceCode', 'p1', { iss: 'c1' }, 600)).toBe(true);
        await payloads.upsert('ReplayDetection', 'p2', { iss: 'old' }, 600);
        await store.db.updateTable('oidc_payloads').set({ expires_at: Date.now() - 1000 }).where('model', '=', 'ReplayDetection').execute();
        expect(await payloads.insertOnce('ReplayDetection', 'p2', { iss: 'new' }, 600)).toBe(true);
        expect(await payloads.find('ReplayDetection', 'p2')).toEqual({ iss: 'new' });
      });

      test('findByUid and findByUserCode, scoped by model', async () => {
        await payloads.upsert('Interaction', 'i1', { uid: 'uid-1', prompt: 'login' }, 600);
        await payloads.upsert('Session', 's1', { uid: 'uid-2', accountId: 'u1' }, 600);
        await payloads.upsert('DeviceCode', 'd1', { userCode: 'ABCD-EFGH', grantId: 'g' }, 600);
        expect(await payloads.findByUid('Session', 'uid-2')).toEqual({ uid: 'uid-2', accountId: 'u1' });
        expect(await payloads.findByUid('Session', 'uid-1')).toBeUndefined();
        expect(await payloads.findByUid('Interaction', 'uid-1')).toEqual({ uid: 'uid-1', prompt: 'login' });
        expect(await payloads.findByUserCode('DeviceCode', 'ABCD-EFGH')).toEqual({ userCode: 'ABCD-EFGH', grantId: 'g' });
        expect(await payloads.findByUserCode('DeviceCode', 'abcd-efgh')).toBeUndefined();
        expect(await payloads.findByUserCode('Session', 'ABCD-EFGH')).toBeUndefined();
      });

      test('destroy removes one artefact', async () => {
        await payloads.upsert('AccessToken', 'a1', { grantId: 'g1' }, 600);
        await payloads.upsert('AccessToken', 'a2', { grantId: 'g1' }, 600);
        await payloads.upsert('RefreshToken', 'a1', { grantId: 'g1' }, 600);
        await payloads.destroy('AccessToken', 'a1');
        expect(await payloads.find('AccessToken', 'a1')).toBeUndefined();
        expect(await payloads.find('AccessToken', 'a2')).toBeDefined();
        expect(await payloads.find('RefreshToken', 'a1')).toBeDefined();
        await payloads.destroy('AccessToken', 'a1');
      });

      test('destroyByUid removes the artefact with that uid in one model, and says whether it did', async () => {
        await payloads.upsert('Session', 'jti-1', { uid: 'uid-1', accountId: 'u1' }, 600);
        await payloads.upsert('Interaction', 'i1', { uid: 'uid-1' }, 600);
        expect(await payloads.destroyByUid('Session', 'uid-1')).toBe(true);
        expect(await payloads.findByUid('Session', 'uid-1')).toBeUndefined();
        expect(await payloads.findByUid('Interaction', 'uid-1')).toBeDefined();
        expect(await payloads.destroyByUid('Session', 'uid-1')).toBe(false);
      });

      test('revokeByGrantId deletes every model of that grant and nothing else', async () => {
        await payloads.upsert('AuthorizationCode', 'c1', { grantId: 'g1' }, 600);
        await payloads.upsert('AccessToken', 'at1', { grantId: 'g1' }, 600);
        await payloads.upsert('RefreshToken', 'rt1', { grantId: 'g1' });
        await payloads.upsert('Grant', 'g1', { accountId: 'u1' }, 600);
        await payloads.upsert('AccessToken', 'at2', { grantId: 'g2' }, 600);
        await payloads.upsert('Session', 's1', { accountId: 'u1' }, 600);
        // A sign-in under way that would reuse the grant is not issued under it.
        await payloads.upsert('Interaction', 'i1', { grantId: 'g1' }, 600);

        await payloads.revokeByGrantId('g1');
        expect(await payloads.find('Interaction', 'i1')).toEqual({ grantId: 'g1' });
        expect(await payloads.find('AuthorizationCode', 'c1')).toBeUndefined();
        expect(await payloads.find('AccessToken', 'at1')).toBeUndefined();
        expect(await payloads.find('RefreshToken', 'rt1')).toBeUndefined();
        expect(await payloads.find('AccessToken', 'at2')).toEqual({ grantId: 'g2' });
        expect(await payloads.find('Session', 's1')).toEqual({ accountId: 'u1' });
        // The Grant itself is keyed by id, not grantId: the caller destroys it explicitly.
        expect(await payloads.find('Grant', 'g1')).toEqual({ accountId: 'u1' });
      });

      test('sweep deletes only expired rows and returns the count', async () => {
        await payloads.upsert('AccessToken', 'soon-1', { grantId: 'g' }, 60);
        await payloads.upsert('AccessToken', 'soon-2', {}, 60);
        await payloads.upsert('Session', 'later', {}, 3600);
        await payloads.upsert('RefreshToken', 'never', {});

        expect(await payloads.sweep()).toBe(0);
        expect(await payloads.sweep(Date.now() + 120_000)).toBe(2);
        expect(await payloads.sweep(Date.now() + 120_000)).toBe(0);
        const left = await store.db.selectFrom('oidc_payloads').select('model').orderBy('model').execute();
        expect(left.map((r) => r.model)).toEqual(['RefreshToken', 'Session']);
        expect(await payloads.sweep(Date.now() + 10 * 365 * 86_400_000)).toBe(1);
        expect(await payloads.find('RefreshToken', 'never')).toEqual({});
      });
    });

    describe('ActionTokenRepository.recordFailure', () => {
      test('counts wrong guesses on the live code; the last allowed one voids it', async () => {
        await tenants.upsert('acme', 'Acme');
        const u = await users.create({ tenantId: 'acme', username: 'pat' });
        const tokens = createActionTokenRepository(store.db);
        expect(await tokens.recordFailure(u.id, 'phone_confirm', 3)).toBe(0);
        const code = await tokens.createCode({ userId: u.id, tenantId: 'acme', purpose: 'phone_confirm', target: '+4930123456', ttlSeconds: 600 });
        expect(await tokens.recordFailure(u.id, 'phone_confirm', 3)).toBe(2);
        expect(await tokens.recordFailure(u.id, 'email_change', 3)).toBe(0);
        expect(await tokens.recordFailure(u.id, 'phone_confirm', 3)).toBe(1);
        expect(await tokens.recordFailure(u.id, 'phone_confirm', 3)).toBe(0);
        expect(await tokens.consumeCode(u.id, code, 'phone_confirm')).toEqual({ ok: false, reason: 'used' });
        const fresh = await tokens.createCode({ userId: u.id, tenantId: 'acme', purpose: 'phone_confirm', target: '+4930123456', ttlSeconds: 600 });
        expect(await tokens.recordFailure(u.id, 'phone_confirm', 3)).toBe(2);
        expect(await tokens.consumeCode(u.id, fresh, 'phone_confirm')).toMatchObject({ ok: true, target: '+4930123456' });
      });
    });

    describe('SessionMetaRepository', () => {
      test('touch creates, then refreshes device details and last-seen; lists, prunes and deletes per account', async () => {
        const meta = createSessionMetaRepository(store.db);
        await meta.touch({ sid: 's1', accountId: 'u1', userAgent: 'A'.repeat(2000), ip: '10.0.0.1', signedInTenant: 'acme' }, 1000);
        // A later authorization without a sign-in in it keeps the session's sign-in tenant.
        await meta.touch({ sid: 's1', accountId: 'u1', userAgent: 'curl/8', ip: '10.0.0.2' }, 2000);
        await meta.touch({ sid: 's2', accountId: 'u1', userAgent: null, ip: null }, 3000);
        await meta.touch({ sid: 's3', accountId: 'u2', userAgent: null, ip: null }, 3000);
        const list = (await meta.listByAccount('u1')).sort((a, b) => a.sid.localeCompare(b.sid));
        expect(list).toEqual([
          { sid: 's1', accountId: 'u1', userAgent: 'curl/8', ip: '10.0.0.2', createdAt: 1000, lastSeenAt: 2000, signedInTenant: 'acme' },
          { sid: 's2', accountId: 'u1', userAgent: null, ip: null, createdAt: 3000, lastSeenAt: 3000, signedInTenant: null },
        ]);
        // A new sign-in in the session moves it; find reads one session.
        await meta.touch({ sid: 's1', accountId: 'u1', userAgent: 'curl/8', ip: '10.0.0.2', signedInTenant: 'default' }, 2500);
        expect(await meta.find('s1')).toMatchObject({ accountId: 'u1', signedInTenant: 'default', lastSeenAt: 2500 });
        expect(await meta.find('nope')).toBeUndefined();
        await meta.touch({ sid: 's4', accountId: 'u1', userAgent: 'x'.repeat(2000), ip: null }, 4000);
        expect((await meta.listByAccount('u1')).find((m) => m.sid === 's4')!.userAgent).toHaveLength(512);
        // Rows of ended sessions go, unless they are too recent to judge.
        await meta.prune('u1', ['s2'], 3500);
        expect((await meta.listByAccount('u1')).map((m) => m.sid).sort()).toEqual(['s2', 's4']);
        await meta.delete('s2');
        expect((await meta.listByAccount('u1')).map((m) => m.sid)).toEqual(['s4']);
        await meta.deleteByAccount('u1');
        expect(await meta.listByAccount('u1')).toEqual([]);
        expect(await meta.listByAccount('u2')).toHaveLength(1);
      });
    });

    describe('ExternalLinkRepository', () => {
      test('links, finds, lists, touches and unlinks; one user per provider subject and tenant; gone with the user', async () => {
        const links = createExternalLinkRepository(store.db);
        await tenants.upsert('acme', 'Acme');
        await tenants.upsert('globex', 'Globex');
        const ann = await users.create({ tenantId: 'acme', username: 'ann' });
        const ben = await users.create({ tenantId: 'acme', username: 'ben' });
        const gil = await users.create({ tenantId: 'globex', username: 'gil' });
        const made = await links.link({ tenantId: 'acme', provider: 'google', subject: '1001', userId: ann.id, email: 'ann@gmail.example' }, 1000);
        expect(made).toEqual({ tenantId: 'acme', provider: 'google', subject: '1001', userId: ann.id, email: 'ann@gmail.example', createdAt: 1000, lastUsedAt: null });
        await links.link({ tenantId: 'acme', provider: 'corp-adfs', subject: 'S-1-5-21', userId: ann.id }, 1100);
        // The same provider subject in another tenant is another person's business.
        await links.link({ tenantId: 'globex', provider: 'google', subject: '1001', userId: gil.id }, 1200);
        expectDomainError(await rejection(links.link({ tenantId: 'acme', provider: 'google', subject: '1001', userId: ben.id })), ConflictError);
        expectDomainError(await rejection(links.link({ tenantId: 'acme', provider: 'google', subject: '2', userId: 'no-such-user' })), NotFoundError);

        expect(await links.find('acme', 'google', '1001')).toEqual(made);
        expect(await links.find('acme', 'google', 'other')).toBeUndefined();
        expect((await links.listForUser(ann.id)).map((l) => l.provider)).toEqual(['corp-adfs', 'google']);
        await links.touch('acme', 'google', '1001', 5000);
        expect((await links.find('acme', 'google', '1001'))!.lastUsedAt).toBe(5000);

        expect(await links.unlink(ben.id, 'google', '1001')).toBe(false);
        expect(await links.unlink(ann.id, 'google', '1001')).toBe(true);
        expect(await links.unlink(ann.id, 'google', '1001')).toBe(false);
        expect(await links.find('globex', 'google', '1001')).toBeDefined();
        // Links of acme's members from other tenants (gil, once a member), never acme's own.
        expect(await links.findOfMembers('acme', 'google', '1001')).toEqual([]);
        await users.addMembership(gil.id, 'acme');
        expect(await links.findOfMembers('acme', 'google', '1001')).toEqual([await links.find('globex', 'google', '1001')]);
        expect(await links.findOfMembers('acme', 'corp-adfs', 'S-1-5-21')).toEqual([]);
        await users.delete(ann.id);
        expect(await links.listForUser(ann.id)).toEqual([]);
      });
    });

    describe('BrandingRepository', () => {
      test('put says created, unchanged, updated; images and texts round-trip; gone with the tenant', async () => {
        const branding = createBrandingRepository(store.db);
        await tenants.upsert('acme', 'Acme');
        const png = { type: 'image/png', data: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2, 255]) };
        const entry = {
          tenantId: 'acme', logo: png, favicon: null, stylesheet: '.x{color:red}',
          settings: { name: 'Acme ID', colors: { primary: '#123456' }, texts: { de: { 'login.title': 'Anmelden — ä' } } },
        };
        expect(await branding.put(entry, 1000)).toBe('created');
        // The same branding with keys in another order is the same branding.
        expect(await branding.put({ ...entry, settings: { texts: entry.settings.texts, colors: { primary: '#123456' }, name: 'Acme ID' } }, 2000)).toBe('unchanged');
        expect(await branding.find('acme')).toEqual({ ...entry, updatedAt: 1000 });
        expect(await branding.put({ ...entry, logo: null, settings: { name: 'Acme' } }, 3000)).toBe('updated');
        expect(await branding.find('acme')).toMatchObject({ logo: null, settings: { name: 'Acme' }, updatedAt: 3000 });
        expectDomainError(await rejection(branding.put({ ...entry, tenantId: 'no-such-tenant' })), NotFoundError);
        expect(await branding.delete('acme')).toBe(true);
        expect(await branding.delete('acme')).toBe(false);
        await branding.put(entry);
        await store.db.deleteFrom('tenants').where('id', '=', 'acme').execute();
        expect(await branding.find('acme')).toBeUndefined();
      });
    });

    describe('InstanceRepository', () => {
      test('the served issuer: none before the first serve, then the latest recorded', async () => {
        const instance = createInstanceRepository(store.db);
        expect(await instance.servedIssuer()).toBeUndefined();
        await instance.recordServedIssuer('https://id.example.com');
        await instance.recordServedIssuer('https://login.example.com');
        expect(await instance.servedIssuer()).toBe('https://login.example.com');
      });
    });

    describe('domain errors, never driver errors', () => {
      test('references to a missing tenant or user', async () => {
        expectDomainError(await rejection(users.create({ tenantId: 'no-such-tenant', username: 'x' })), NotFoundError);
        expectDomainError(await rejection(roles.upsert('no-such-tenant', 'admin', null)), NotFoundError);
        expectDomainError(await rejection(clients.upsert({
          clientId: 'c', tenantId: 'no-such-tenant', metadata: {}, secretHash: null, firstParty: false,
        })), NotFoundError);
        expectDomainError(await rejection(users.setRoles('no-such-user', 'acme', ['admin'])), NotFoundError);
        expect(await users.count()).toBe(0);
        expect(await clients.list()).toEqual([]);
      });
    });
  });
}
