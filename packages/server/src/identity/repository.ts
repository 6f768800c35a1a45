import { randomUUID } from 'node:crypto';
import { SqliteAdapter, sql } from 'kysely';
import type { Kysely, RawBuilder, Selectable, Updateable } from 'kysely';
import type { Database, UsersTable } from '../storage/schema.js';
import { ConflictError, NotFoundError, StaleWriteError, inTransaction, mapConflict, mapMissingReference } from '../storage/errors.js';
import { sortBinary } from '../storage/order.js';
import { shape } from '../storage/compiled.js';
import { ReadCache } from '../storage/read-cache.js';
import { nameKeys, normalizeEmail, normalizeUsername } from './model.js';
import type { NewUser, Tenant, User, UserProfilePatch, UserStatus } from './model.js';
import { parseStoredPolicy } from './policy.js';
import type { TenantPolicy } from './policy.js';

export type UpsertOutcome = 'created' | 'updated' | 'unchanged';

export interface TenantRepository {
  findById(id: string): Promise<Tenant | undefined>;
  list(): Promise<Tenant[]>;
  /** Creates or updates a tenant (its policy too, when given); says which happened. */
  upsert(id: string, name: string, policy?: TenantPolicy): Promise<UpsertOutcome>;
  /**
   * Changes a tenant only while it is still at `version` (If-Match), bumping it.
   * @throws NotFoundError for an unknown tenant; StaleWriteError when it changed meanwhile.
   */
  updateIfVersion(id: string, version: number, patch: { name?: string; policy?: TenantPolicy }): Promise<Tenant>;
}

export interface UserRepository {
  /** @throws ConflictError when the username or email is taken in the tenant; NotFoundError for an unknown tenant. */
  create(input: NewUser): Promise<User>;
  findById(id: string): Promise<User | undefined>;
  /**
   * The user as `tenantId` sees them: in their home tenant, the same as
   * `findById`; in another tenant they are a member of, with that tenant's
   * roles and `memberOf` set; otherwise undefined (not a user of that
   * tenant). Two statements either way, as `findById`; one fewer when the
   * caller has just read the user with `findById` and passes it as `home`.
   */
  findInTenant(id: string, tenantId: string, home?: User): Promise<User | undefined>;
  /**
   * Members of `tenantId` from other tenants whose username (or email) is
   * `login`, read for that tenant (at most two: one is a match, two are
   * ambiguous). Home users of the tenant are not among them.
   */
  findMembersByLogin(tenantId: string, by: 'username' | 'email', login: string): Promise<User[]>;
  findByUsername(tenantId: string, username: string): Promise<User | undefined>;
  findByEmail(tenantId: string, email: string): Promise<User | undefined>;
  /**
   * Writes the given fields (and bumps the version). With `expectedVersion`,
   * only while the user is still at that version (an admin If-Match edit).
   * @throws NotFoundError, ConflictError, StaleWriteError
   */
  updateProfile(id: string, patch: UserProfilePatch, expectedVersion?: number): Promise<User>;
  /** Deletes the user (roles, memberships, tokens and factors go with it). Says whether it existed. */
  delete(id: string): Promise<boolean>;
  /** @throws NotFoundError */
  setPasswordHash(id: string, hash: string): Promise<void>;
  /**
   * Marks the email verified, only while the account's address is still
   * `email` (a link sent to an old address must not verify a new one), and
   * activates a `pending` account, in one UPDATE. Any other status (locked,
   * disabled) stays. Returns the updated user, or undefined when the user or
   * address no longer matches. With `requirePhone` (the tenant requires a
   * confirmed phone number), a `pending` account is activated only when its
   * phone number is confirmed too.
   */
  markEmailVerified(id: string, email: string, opts?: { requirePhone?: boolean }): Promise<User | undefined>;
  /**
   * Marks the phone number verified, only while the account's number is
   * still `phone`, and activates a `pending` account unless `requireEmail`
   * (the tenant requires a confirmed address) and the address is not
   * confirmed yet, in one UPDATE. Returns the updated user, or undefined
   * when the user or number no longer matches.
   */
  markPhoneVerified(id: string, phone: string, opts: { requireEmail: boolean }): Promise<User | undefined>;
  /** Replaces the user's roles in a tenant. @throws NotFoundError for an unknown user. */
  setRoles(id: string, tenantId: string, roles: string[]): Promise<void>;
  /** The user's roles in a tenant (sorted); `User.roles` holds those of the home tenant. */
  rolesIn(id: string, tenantId: string): Promise<string[]>;
  count(): Promise<number>;
  /**
   * Counts one failed sign-in atomically; a window older than `windowStart`
   * restarts at 1. Returns the count in the current window.
   */
  incrementLoginFailures(id: string, now: number, windowStart: number): Promise<number>;
  /** Clears the failure count (and an expired temporary lock). */
  clearLoginFailures(id: string): Promise<void>;
  /**
   * Locks the account until `until` (null: until an administrator unlocks it).
   * A temporary lock restarts the failure count (the user gets the full
   * allowance after it ends) and keeps a `pending` or `disabled` status, so
   * unlocking can never activate an unconfirmed or disabled account.
   */
  lock(id: string, until: number | null): Promise<void>;
  /** Ends a temporary lock and the failure count now (a completed password reset); an administrator's lock stays. */
  clearLockout(id: string): Promise<void>;
  /** Tenants the user belongs to (the home tenant first). */
  listMemberships(id: string): Promise<string[]>;
  /** @throws NotFoundError for an unknown user or tenant. */
  addMembership(id: string, tenantId: string): Promise<void>;
  /** Removes a membership and the user's roles in that tenant; the home tenant's cannot go. Says whether it existed. */
  removeMembership(id: string, tenantId: string): Promise<boolean>;
}

export interface RoleRepository {
  /** @throws NotFoundError for an unknown tenant. */
  upsert(tenantId: string, name: string, description: string | null): Promise<UpsertOutcome>;
  list(tenantId: string): Promise<{ name: string; description: string | null }[]>;
  /** Deletes a role and takes it from every user who had it in the tenant. Says whether it existed. */
  delete(tenantId: string, name: string): Promise<boolean>;
}

export function createTenantRepository(db: Kysely<Database>): TenantRepository {
  const toTenant = (r: Selectable<Database['tenants']>): Tenant => ({
    id: r.id, name: r.name, policy: parseStoredPolicy(r.policy), createdAt: Number(r.created_at), updatedAt: Number(r.updated_at),
    version: Number(r.version ?? 1),
  });
  return {
    async findById(id) {
      const r = await db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
      return r && toTenant(r);
    },
    async list() {
      return sortBinary(await db.selectFrom('tenants').selectAll().execute(), (r) => r.id).map(toTenant);
    },
    async upsert(id, name, policy) {
      const now = Date.now();
      const policyText = policy ? JSON.stringify(policy) : undefined;
      const existing = await db.selectFrom('tenants').select(['name', 'policy']).where('id', '=', id).executeTakeFirst();
      if (!existing) {
        await mapConflict('tenant', id, () =>
          db.insertInto('tenants').values({ id, name, policy: policyText ?? '{}', created_at: now, updated_at: now }).execute());
        return 'created';
      }
      if (existing.name === name && (policyText === undefined || existing.policy === policyText)) return 'unchanged';
      await db.updateTable('tenants').set((eb) => ({
        name, ...(policyText !== undefined ? { policy: policyText } : {}), updated_at: now, version: eb('version', '+', 1),
      })).where('id', '=', id).execute();
      return 'updated';
    },
    async updateIfVersion(id, version, patch) {
      const res = await db.updateTable('tenants').set((eb) => ({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.policy !== undefined ? { policy: JSON.stringify(patch.policy) } : {}),
        updated_at: Date.now(), version: eb('version', '+', 1),
      })).where('id', '=', id).where('version', '=', version).executeTakeFirst();
      const current = await db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
      if (!current) throw new NotFoundError('tenant', id);
      if (Number(res.numUpdatedRows) === 0) throw new StaleWriteError('tenant', id);
      return toTenant(current);
    },
  };
}

/**
 * The tenant repository with `findById` served from a short read cache
 * (storage/read-cache.ts), as clients and APIs are: a tenant's policy is read
 * several times per sign-in (lockout, local sign-in, MFA: issue 20). Writes
 * through it drop the entry at once; another process's change arrives on the
 * change bus (`invalidateAll`, storage/changes.ts), within `ttlMs` at worst.
 */
export function withTenantCache(inner: TenantRepository, ttlMs: number): TenantRepository & { invalidateAll(): void } {
  const cache = new ReadCache<Tenant>(ttlMs, 1_000);
  const dropping = async <T>(id: string, write: () => Promise<T>): Promise<T> => {
    try {
      return await write();
    } finally {
      cache.invalidate(id);
    }
  };
  return {
    invalidateAll: () => cache.invalidate(),
    findById: (id) => cache.get(id, () => inner.findById(id)),
    list: () => inner.list(),
    upsert: (id, name, policy) => dropping(id, () => inner.upsert(id, name, policy)),
    updateIfVersion: (id, version, patch) => dropping(id, () => inner.updateIfVersion(id, version, patch)),
  };
}

/** The user's columns and one of its home roles (or null), as `userBy*` read them. */
type UserWithRoleRow = UserFields & { joined_role: string | null };

/**
 * A user and its home roles from the rows of the join `userBy*` run (a row
 * per role, or one row with a null role); undefined for no rows.
 */
function userFromRows(rows: readonly UserWithRoleRow[]): User | undefined {
  const first = rows[0];
  if (!first) return undefined;
  const roles = rows.filter((r) => r.id === first.id && r.joined_role !== null).map((r) => r.joined_role as string);
  return toUser(first, sortBinary(roles, (r) => r));
}

/**
 * The user `accountId` names and its home roles as one JSON array (an
 * element per role, each with the columns `toUser` reads and `joined_role`),
 * for a statement that reads a user along with something else: a token's
 * account in the token's statement (oidc/payload-finds.ts; issue 20). Its
 * value, as the driver returns it, goes to `userFromJoinedJson`. SQL for the
 * dialect of `db`; no parameters.
 */
export function userJoinedJson(db: Kysely<Database>, accountId: string): RawBuilder<unknown> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  const fields = sql.raw([...USER_FIELDS.map((f) => `'${f}', u.${f}`), "'joined_role', r.role"].join(', '));
  const object = sqlite ? sql`json_object(${fields})` : sql`json_build_object(${fields})`;
  const rows = sqlite ? sql`json_group_array(${object})` : sql`json_agg(${object})`;
  return sql`(select ${rows} from users u left join user_roles r on r.user_id = u.id and r.tenant_id = u.tenant_id where u.id = ${sql.ref(accountId)})`;
}

/**
 * The user read by `userJoinedJson` (its column's value: JSON text on
 * SQLite, parsed on PostgreSQL, null or an empty array when there is no such
 * user): what `findById` returns for it, read in that statement.
 */
export function userFromJoinedJson(value: unknown): User | undefined {
  const rows = typeof value === 'string' ? JSON.parse(value) as unknown : value;
  return Array.isArray(rows) ? userFromRows(rows as UserWithRoleRow[]) : undefined;
}

const userWithRoles = (db: Kysely<Database>) => db.selectFrom('users')
  .leftJoin('user_roles', (j) => j.onRef('user_roles.user_id', '=', 'users.id').onRef('user_roles.tenant_id', '=', 'users.tenant_id'))
  .selectAll('users').select('user_roles.role as joined_role');
const userById = shape((db: Kysely<Database>, id: string) => userWithRoles(db).where('users.id', '=', id));
const userByUsername = shape((db: Kysely<Database>, tenantId: string, username: string) =>
  userWithRoles(db).where('users.username_normalized', '=', username).where('users.tenant_id', '=', tenantId));
const userByEmail = shape((db: Kysely<Database>, tenantId: string, email: string) =>
  userWithRoles(db).where('users.email_normalized', '=', email).where('users.tenant_id', '=', tenantId));

export function createUserRepository(db: Kysely<Database>): UserRepository {
  /**
   * One user and its roles in one statement (a join: a row per role, or one
   * row with no role), where a lookup plus a roles query took two; the user
   * is read on every token and several times per sign-in (issue 20). The
   * statement is compiled once per lookup (`userBy*`, storage/compiled.ts).
   */
  const withRoles = userFromRows;
  const conflictDetail = 'username or email already in use';
  /** Ends a temporary lock that ran out before `before` (any, when null); a `locked` status goes back to `active`. */
  const endTemporaryLock = async (id: string, before: number | null) => {
    let q = db.updateTable('users').set((eb) => ({
      status: eb.case().when('status', '=', 'locked').then('active').else(eb.ref('status')).end(),
      locked_until: null, updated_at: Date.now(),
    })).where('id', '=', id).where('locked_until', 'is not', null);
    if (before !== null) q = q.where('locked_until', '<=', before);
    await q.execute();
  };

  const repo: UserRepository = {
    async create(input) {
      const now = Date.now();
      const names = nameKeys(input.givenName, input.familyName);
      const row: Selectable<UsersTable> = {
        id: randomUUID(),
        tenant_id: input.tenantId,
        username: input.username ?? null,
        username_normalized: input.username ? normalizeUsername(input.username) : null,
        email: input.email ?? null,
        email_normalized: input.email ? normalizeEmail(input.email) : null,
        email_verified: input.emailVerified ? 1 : 0,
        given_name: input.givenName ?? null,
        family_name: input.familyName ?? null,
        phone_number: input.phoneNumber ?? null,
        phone_number_verified: 0,
        password_hash: input.passwordHash ?? null,
        status: input.status ?? 'active',
        created_at: now,
        updated_at: now,
        failed_logins: 0,
        failed_window_start: null,
        locked_until: null,
        password_changed_at: input.passwordHash ? now : null,
        locale: input.locale ?? null,
        version: 1,
        name_family_first: names.familyFirst,
        name_given_first: names.givenFirst,
        activated_at: null,
      };
      await mapMissingReference('tenant', input.tenantId, () =>
        mapConflict('user', conflictDetail, () => inTransaction(db, async (trx) => {
          await trx.insertInto('users').values(row).execute();
          await trx.insertInto('memberships').values({ user_id: row.id, tenant_id: row.tenant_id, created_at: now }).execute();
        })));
      return toUser(row, []);
    },
    async findById(id) {
      return withRoles(await userById.execute(db, id));
    },
    async findInTenant(id, tenantId, known) {
      // The user and its home roles in one statement: at home (the common case) that is the answer.
      const home = known?.id === id ? known : await repo.findById(id);
      if (!home || home.tenantId === tenantId) return home;
      // One statement answers both: no row, not a member; a row with a null role, a member without roles.
      const rows = await db.selectFrom('memberships as m')
        .leftJoin('user_roles as r', (j) => j.onRef('r.user_id', '=', 'm.user_id').onRef('r.tenant_id', '=', 'm.tenant_id'))
        .select('r.role').where('m.user_id', '=', id).where('m.tenant_id', '=', tenantId).execute();
      if (!rows.length) return undefined;
      const roles = rows.map((r) => r.role).filter((r): r is string => r !== null);
      return { ...home, roles: sortBinary(roles, (r) => r), memberOf: tenantId };
    },
    async findMembersByLogin(tenantId, by, login) {
      const column = by === 'username' ? 'u.username_normalized' : 'u.email_normalized';
      const value = by === 'username' ? normalizeUsername(login) : normalizeEmail(login);
      const rows = await db.selectFrom('users as u').innerJoin('memberships as m', 'm.user_id', 'u.id').select('u.id')
        .where('m.tenant_id', '=', tenantId).where('u.tenant_id', '<>', tenantId).where(column, '=', value).limit(2).execute();
      const found = await Promise.all(rows.map((r) => repo.findInTenant(r.id, tenantId)));
      return found.filter((u): u is User => u !== undefined);
    },
    async findByUsername(tenantId, username) {
      return withRoles(await userByUsername.execute(db, tenantId, normalizeUsername(username)));
    },
    async findByEmail(tenantId, email) {
      return withRoles(await userByEmail.execute(db, tenantId, normalizeEmail(email)));
    },
    async updateProfile(id, patch, expectedVersion) {
      const set: Updateable<UsersTable> = { updated_at: Date.now() };
      if (patch.username !== undefined) {
        set.username = patch.username;
        set.username_normalized = patch.username ? normalizeUsername(patch.username) : null;
      }
      if (patch.email !== undefined) {
        set.email = patch.email;
        set.email_normalized = patch.email ? normalizeEmail(patch.email) : null;
      }
      if (patch.emailVerified !== undefined) set.email_verified = patch.emailVerified ? 1 : 0;
      if (patch.givenName !== undefined) set.given_name = patch.givenName;
      if (patch.familyName !== undefined) set.family_name = patch.familyName;
      if (patch.givenName !== undefined || patch.familyName !== undefined) {
        // The search keys need both names; the one not being changed is read first.
        const current = await db.selectFrom('users').select(['given_name', 'family_name']).where('id', '=', id).executeTakeFirst();
        if (!current) throw new NotFoundError('user', id);
        const keys = nameKeys(patch.givenName !== undefined ? patch.givenName : current.given_name,
          patch.familyName !== undefined ? patch.familyName : current.family_name);
        set.name_family_first = keys.familyFirst;
        set.name_given_first = keys.givenFirst;
      }
      if (patch.phoneNumber !== undefined) set.phone_number = patch.phoneNumber;
      if (patch.phoneNumberVerified !== undefined) set.phone_number_verified = patch.phoneNumberVerified ? 1 : 0;
      if (patch.locale !== undefined) set.locale = patch.locale;
      if (patch.status !== undefined) {
        set.status = patch.status;
        if (patch.status !== 'locked') set.locked_until = null;
      }
      let q = db.updateTable('users').set((eb) => ({ ...set, version: eb('version', '+', 1) })).where('id', '=', id);
      if (expectedVersion !== undefined) q = q.where('version', '=', expectedVersion);
      const res = await mapConflict('user', conflictDetail, () => q.executeTakeFirst());
      if (Number(res.numUpdatedRows) === 0) {
        if (expectedVersion !== undefined && (await repo.findById(id))) throw new StaleWriteError('user', id);
        throw new NotFoundError('user', id);
      }
      return (await repo.findById(id))!;
    },
    async delete(id) {
      const res = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
    async setPasswordHash(id, hash) {
      const now = Date.now();
      const res = await db.updateTable('users').set({ password_hash: hash, password_changed_at: now, updated_at: now })
        .where('id', '=', id).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) throw new NotFoundError('user', id);
    },
    async markEmailVerified(id, email, opts = {}) {
      const res = await db.updateTable('users')
        .set((eb) => ({
          email_verified: 1,
          // One UPDATE reads the phone flag it activates on: a phone confirmation racing it cannot be lost.
          status: eb.case()
            .when(opts.requirePhone ? eb.and([eb('status', '=', 'pending'), eb('phone_number_verified', '=', 1)]) : eb('status', '=', 'pending'))
            .then('active').else(eb.ref('status')).end(),
          updated_at: Date.now(),
        }))
        .where('id', '=', id).where('email_normalized', '=', normalizeEmail(email)).executeTakeFirst();
      return Number(res.numUpdatedRows) === 0 ? undefined : repo.findById(id);
    },
    async markPhoneVerified(id, phone, opts) {
      const res = await db.updateTable('users')
        .set((eb) => ({
          phone_number_verified: 1,
          status: eb.case()
            .when(opts.requireEmail ? eb.and([eb('status', '=', 'pending'), eb('email_verified', '=', 1)]) : eb('status', '=', 'pending'))
            .then('active').else(eb.ref('status')).end(),
          updated_at: Date.now(),
          version: eb('version', '+', 1),
        }))
        .where('id', '=', id).where('phone_number', '=', phone).executeTakeFirst();
      return Number(res.numUpdatedRows) === 0 ? undefined : repo.findById(id);
    },
    async setRoles(id, tenantId, roles) {
      await mapMissingReference('user', id, () => inTransaction(db, async (trx) => {
        await trx.deleteFrom('user_roles').where('user_id', '=', id).where('tenant_id', '=', tenantId).execute();
        const unique = [...new Set(roles)];
        if (unique.length) {
          await trx.insertInto('user_roles').values(unique.map((role) => ({ user_id: id, tenant_id: tenantId, role }))).execute();
        }
        // Roles are part of the user as the admin API shows it (its ETag).
        await trx.updateTable('users').set((eb) => ({ version: eb('version', '+', 1) })).where('id', '=', id).execute();
      }));
    },
    async rolesIn(id, tenantId) {
      const rows = await db.selectFrom('user_roles').select('role').where('user_id', '=', id).where('tenant_id', '=', tenantId).execute();
      return sortBinary(rows.map((r) => r.role), (r) => r);
    },
    async incrementLoginFailures(id, now, windowStart) {
      const row = await db.updateTable('users')
        .set((eb) => ({
          failed_logins: eb.case().when('failed_window_start', 'is', null).then(1)
            .when('failed_window_start', '<', windowStart).then(1)
            .else(eb('failed_logins', '+', 1)).end(),
          failed_window_start: eb.case().when('failed_window_start', 'is', null).then(now)
            .when('failed_window_start', '<', windowStart).then(now)
            .else(eb.ref('failed_window_start')).end(),
        }))
        .where('id', '=', id)
        .returning('failed_logins')
        .executeTakeFirst();
      if (!row) throw new NotFoundError('user', id);
      return Number(row.failed_logins);
    },
    async clearLoginFailures(id) {
      const now = Date.now();
      await db.updateTable('users').set({ failed_logins: 0, failed_window_start: null }).where('id', '=', id).execute();
      await endTemporaryLock(id, now);
    },
    async clearLockout(id) {
      await db.updateTable('users').set({ failed_logins: 0, failed_window_start: null }).where('id', '=', id).execute();
      // The locks of the account's known sources end too (identity/sign-in-sources.ts).
      await db.updateTable('sign_in_sources').set({ failures: 0, window_start: null, locked_until: null }).where('user_id', '=', id).execute();
      await endTemporaryLock(id, null);
    },
    async lock(id, until) {
      const now = Date.now();
      const res = until === null
        ? await db.updateTable('users').set({ status: 'locked', locked_until: null, updated_at: now }).where('id', '=', id).executeTakeFirst()
        : await db.updateTable('users').set((eb) => ({
          status: eb.case().when('status', '=', 'active').then('locked').else(eb.ref('status')).end(),
          locked_until: until, failed_logins: 0, failed_window_start: null, updated_at: now,
        })).where('id', '=', id).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) throw new NotFoundError('user', id);
    },
    async listMemberships(id) {
      const home = await db.selectFrom('users').select('tenant_id').where('id', '=', id).executeTakeFirst();
      if (!home) return [];
      const rows = await db.selectFrom('memberships').select('tenant_id').where('user_id', '=', id).execute();
      const others = sortBinary(rows.map((r) => r.tenant_id).filter((t) => t !== home.tenant_id), (t) => t);
      return [home.tenant_id, ...others];
    },
    async addMembership(id, tenantId) {
      const exists = await db.selectFrom('memberships').select('user_id').where('user_id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
      if (exists) return;
      await mapMissingReference('user or tenant', `${id}/${tenantId}`, () =>
        db.insertInto('memberships').values({ user_id: id, tenant_id: tenantId, created_at: Date.now() }).execute());
    },
    async removeMembership(id, tenantId) {
      return inTransaction(db, async (trx) => {
        const home = await trx.selectFrom('users').select('tenant_id').where('id', '=', id).executeTakeFirst();
        if (!home || home.tenant_id === tenantId) return false;
        const res = await trx.deleteFrom('memberships').where('user_id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
        await trx.deleteFrom('user_roles').where('user_id', '=', id).where('tenant_id', '=', tenantId).execute();
        return Number(res.numDeletedRows) > 0;
      });
    },
    async count() {
      const r = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      return Number(r.n);
    },
  };
  return repo;
}

export function createRoleRepository(db: Kysely<Database>): RoleRepository {
  return {
    async upsert(tenantId, name, description) {
      const existing = await db.selectFrom('roles').select('description')
        .where('tenant_id', '=', tenantId).where('name', '=', name).executeTakeFirst();
      if (!existing) {
        await mapMissingReference('tenant', tenantId, () => mapConflict('role', name, () => db.insertInto('roles')
          .values({ tenant_id: tenantId, name, description, created_at: Date.now() }).execute()));
        return 'created';
      }
      if (existing.description === description) return 'unchanged';
      await db.updateTable('roles').set({ description })
        .where('tenant_id', '=', tenantId).where('name', '=', name).execute();
      return 'updated';
    },
    async list(tenantId) {
      return sortBinary(await db.selectFrom('roles').select(['name', 'description']).where('tenant_id', '=', tenantId).execute(), (r) => r.name);
    },
    async delete(tenantId, name) {
      return inTransaction(db, async (trx) => {
        // user_roles has no foreign key to roles (roles are names), so the holders are cleared here.
        await trx.deleteFrom('user_roles').where('tenant_id', '=', tenantId).where('role', '=', name).execute();
        const res = await trx.deleteFrom('roles').where('tenant_id', '=', tenantId).where('name', '=', name).executeTakeFirst();
        return Number(res.numDeletedRows) > 0;
      });
    },
  };
}

/**
 * The columns `toUser` reads (its parameter's type is limited to them, so
 * reading another one there fails to compile until it is listed here):
 * what `userJoinedJson` carries.
 */
export const USER_FIELDS = [
  'id', 'tenant_id', 'username', 'email', 'email_verified', 'given_name', 'family_name', 'phone_number', 'phone_number_verified',
  'password_hash', 'status', 'created_at', 'updated_at', 'failed_logins', 'failed_window_start', 'locked_until', 'password_changed_at',
  'locale', 'activated_at', 'version',
] as const satisfies readonly (keyof UsersTable)[];
type UserFields = Pick<Selectable<UsersTable>, (typeof USER_FIELDS)[number]>;

/** A users row as the domain sees it (also used by the admin search, which reads rows in pages). */
export function toUser(r: UserFields, roles: string[]): User {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    username: r.username,
    email: r.email,
    emailVerified: r.email_verified === 1,
    givenName: r.given_name,
    familyName: r.family_name,
    phoneNumber: r.phone_number,
    phoneNumberVerified: r.phone_number_verified === 1,
    passwordHash: r.password_hash,
    status: r.status as UserStatus,
    roles,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    failedLogins: Number(r.failed_logins ?? 0),
    failedWindowStart: r.failed_window_start === null ? null : Number(r.failed_window_start),
    lockedUntil: r.locked_until === null ? null : Number(r.locked_until),
    passwordChangedAt: r.password_changed_at === null ? null : Number(r.password_changed_at),
    locale: r.locale,
    activatedAt: r.activated_at === null || r.activated_at === undefined ? null : Number(r.activated_at),
    version: Number(r.version ?? 1),
  };
}

export { ConflictError, NotFoundError, StaleWriteError };
