import type { EventContext } from '../../audit/events.js';
import type { RoleRepository, TenantRepository, UserRepository } from '../../identity/repository.js';
import type { IdentityService } from '../../identity/service.js';
import type { User, UserProfilePatch, UserStatus } from '../../identity/model.js';
import { isLocked, normalizeEmail, normalizeUsername } from '../../identity/model.js';
import { checkPassword } from '../../identity/password-policy.js';
import type { OidcPayloadStore } from '../../oidc/payload-store.js';
import type { AccessService, SessionView } from '../../account/access.js';
import type { SessionMetaRepository } from '../../account/session-meta.js';
import { NotFoundError } from '../../storage/errors.js';
import { isStorableText } from '../../storage/text.js';
import { ADMIN_ROLE } from '../access.js';
import type { AdminPrincipal } from '../access.js';
import type { AdminEmit } from '../audit.js';
import { AdminConflict, AdminInvalid } from '../errors.js';
import { administers, visible, visibleTenant } from '../tenancy.js';
import type { SearchCursor, UserSearch, UserSearchPage } from './search.js';
import type { UserDataService } from '../../userdata/service.js';
import type { UserData } from '../../userdata/repository.js';
import { callerOf, dataChange, withDataErrors } from './data.js';
import type { DataInput } from './data.js';
import { hashPassword } from '../../identity/password.js';
import type { SignInSources } from '../../identity/sign-in-sources.js';

export interface UserAdminDeps {
  users: UserRepository;
  tenants: TenantRepository;
  roles: RoleRepository;
  identity: IdentityService;
  search: { search(q: UserSearch): Promise<UserSearchPage> };
  /** The account pages' session service: the same sign-out (grants, back-channel logout) as the user's own. */
  sessions: AccessService;
  payloads: OidcPayloadStore;
  sessionMeta: SessionMetaRepository;
  emit: AdminEmit;
  /** Attributes and external ids (userdata/): shown with every user, written with create and PATCH. */
  userData: UserDataService;
  /** Erases a user's personal data from earlier audit entries (audit/erasure.ts); called when the user is deleted. */
  eraseAudit?: (userId: string) => Promise<number>;
  /** The lockout's counts and known sources' locks (identity/sign-in-sources.ts): an unlock ends them too. */
  sources?: Pick<SignInSources, 'hasFailures' | 'clear' | 'counters'>;
}

/** A user as the admin API answers it: with its attributes and external ids. */
export type AdminUser = User & { data: UserData };

/** Demands a recent multi-factor sign-in of the caller (RFC 9470); the HTTP layer supplies it. */
export type StepUp = () => void;

export interface NewUserInput extends DataInput {
  tenant?: string;
  username?: string;
  email?: string;
  email_verified: boolean;
  given_name?: string;
  family_name?: string;
  phone_number?: string;
  password?: string;
  status: 'active' | 'pending' | 'disabled';
  roles: string[];
  locale?: 'en' | 'de';
}

/** A PATCH: absent fields stay, `null` clears an optional one. */
export interface UserPatchInput extends DataInput {
  username?: string | null;
  email?: string | null;
  email_verified?: boolean;
  given_name?: string | null;
  family_name?: string | null;
  phone_number?: string | null;
  phone_number_verified?: boolean;
  locale?: 'en' | 'de' | null;
}

export interface MembershipView {
  tenant: string;
  home: boolean;
  roles: string[];
}

/**
 * User administration, tenant by tenant (see tenancy.ts): find, create,
 * edit, disable/enable/unlock, delete, roles, memberships and sessions.
 * Every write is audited with the acting principal.
 */
export class UserAdminService {
  constructor(private readonly deps: UserAdminDeps) {}

  /** @throws NotFoundError for an unknown user or one in another tenant. */
  async get(principal: AdminPrincipal, id: string): Promise<AdminUser> {
    const user = isStorableText(id) ? await this.deps.users.findById(id) : undefined;
    return this.withData(visible(principal, user, 'user', id));
  }

  /**
   * The search, or with `externalId` (`source:id`) / `attribute` (`name:value`
   * of a unique attribute) the one user they name, still filtered by the
   * other criteria: one index probe at any number of users.
   */
  async search(principal: AdminPrincipal, q: Omit<UserSearch, 'tenantId'> & { tenant?: string; externalId?: { source: string; id: string }; attribute?: { name: string; value: string } }):
    Promise<{ users: AdminUser[]; next?: SearchCursor }> {
    const tenantId = visibleTenant(principal, q.tenant);
    if (q.externalId || q.attribute) {
      const byId = q.externalId ? await this.deps.userData.findByExternalId(tenantId, q.externalId.source, q.externalId.id) : undefined;
      const byAttr = q.attribute ? await this.deps.userData.findByAttribute(tenantId, q.attribute.name, q.attribute.value) : undefined;
      const found = q.externalId && q.attribute ? (byId && byAttr && byId.id === byAttr.id ? byId : undefined) : byId ?? byAttr;
      const matches = found && (q.email === undefined || normalizeEmail(found.email ?? '') === normalizeEmail(q.email))
        && (q.username === undefined || normalizeUsername(found.username ?? '') === normalizeUsername(q.username))
        && (q.status === undefined || found.status === q.status) && !q.after;
      return { users: matches ? [await this.withData(found)] : [] };
    }
    const page = await this.deps.search.search({ ...q, tenantId });
    const data = await this.deps.userData.dataOfMany(page.users.map((u) => u.id));
    return { users: page.users.map((u) => ({ ...u, data: data.get(u.id)! })), next: page.next };
  }

  /**
   * @throws AdminInvalid (fields), AdminConflict (`fields.email|username: taken`), NotFoundError;
   * the step-up answer when the new user would be an administrator.
   */
  async create(principal: AdminPrincipal, input: NewUserInput, ctx: EventContext, stepUp: StepUp): Promise<AdminUser> {
    const tenantId = input.tenant ?? principal.tenantId;
    const tenant = administers(principal, tenantId) ? await this.deps.tenants.findById(tenantId) : undefined;
    if (!tenant) throw new AdminInvalid({ tenant: 'unknown_tenant' });
    if (!input.username && !input.email) throw new AdminInvalid({ username: 'required', email: 'required' }, 'A user needs a username or an email address.');
    await this.checkRoles(tenantId, input.roles);
    if (input.password !== undefined) {
      const violations = checkPassword(input.password, tenant.policy.password, { username: input.username, email: input.email });
      if (violations.length) throw new AdminInvalid({ password: violations[0]! });
    }
    await this.checkUnique(tenantId, null, input.email, input.username);
    const caller = callerOf(principal);
    const write = await withDataErrors(async () => {
      const planned = await this.deps.userData.plan(tenantId, caller, dataChange(input), null);
      const taken = await this.deps.userData.conflicts(tenantId, null, planned);
      if (Object.keys(taken).length) throw new AdminConflict('Already used by another user in the tenant.', taken);
      return planned;
    });
    if (input.roles.includes(ADMIN_ROLE)) stepUp();
    const passwordHash = input.password !== undefined ? await hashPassword(input.password) : null;
    // The user, its roles and its data in one transaction: a unique value lost to a race leaves no user behind.
    const user = await withDataErrors(() => this.deps.userData.transaction(async (tx) => {
      const created = await tx.users.create({
        tenantId, username: input.username ?? null, email: input.email ?? null, emailVerified: input.email_verified,
        givenName: input.given_name ?? null, familyName: input.family_name ?? null, phoneNumber: input.phone_number ?? null,
        status: input.status, locale: input.locale ?? null, passwordHash,
      });
      if (input.roles.length) await tx.users.setRoles(created.id, tenantId, input.roles);
      await tx.data.write(created.id, tenantId, write);
      return created;
    }));
    await this.deps.emit('user.created', principal, { tenantId, subjectId: user.id }, ctx,
      { status: input.status, roles: [...new Set(input.roles)].sort(), has_password: input.password !== undefined,
        attributes: write.set?.map((v) => v.name) ?? [], external_ids: Object.keys(write.externalIds ?? {}) });
    return this.withData((await this.deps.users.findById(user.id))!);
  }

  /**
   * Writes the given profile fields, only while the user is still as the
   * caller read it (`current.version`). A new email or phone number is
   * unverified unless the patch says otherwise.
   * @throws AdminInvalid, AdminConflict, StaleWriteError, NotFoundError
   */
  async update(principal: AdminPrincipal, current: AdminUser, input: UserPatchInput, ctx: EventContext): Promise<AdminUser> {
    const next = {
      username: input.username === undefined ? current.username : input.username,
      email: input.email === undefined ? current.email : input.email,
    };
    if (!next.username && !next.email) throw new AdminInvalid({ username: 'required' }, 'A user needs a username or an email address.');
    const emailChanged = input.email !== undefined && (input.email === null ? current.email !== null : normalizeEmail(input.email) !== normalizeEmail(current.email ?? ''));
    const usernameChanged = input.username !== undefined && (input.username === null ? current.username !== null
      : normalizeUsername(input.username) !== normalizeUsername(current.username ?? ''));
    await this.checkUnique(current.tenantId, current.id, emailChanged ? input.email : undefined, usernameChanged ? input.username : undefined);

    const patch: UserProfilePatch = {};
    if (input.username !== undefined) patch.username = input.username;
    if (input.email !== undefined) patch.email = input.email;
    if (input.email_verified !== undefined) patch.emailVerified = input.email_verified;
    else if (emailChanged) patch.emailVerified = false;
    if (input.given_name !== undefined) patch.givenName = input.given_name;
    if (input.family_name !== undefined) patch.familyName = input.family_name;
    if (input.phone_number !== undefined) patch.phoneNumber = input.phone_number;
    if (input.phone_number_verified !== undefined) patch.phoneNumberVerified = input.phone_number_verified;
    else if (input.phone_number !== undefined && input.phone_number !== current.phoneNumber) patch.phoneNumberVerified = false;
    if (input.locale !== undefined) patch.locale = input.locale;
    const change = dataChange(input);
    const write = await withDataErrors(async () => {
      const planned = await this.deps.userData.plan(current.tenantId, callerOf(principal), change, current.data);
      const taken = await this.deps.userData.conflicts(current.tenantId, current.id, planned);
      if (Object.keys(taken).length) throw new AdminConflict('Already used by another user in the tenant.', taken);
      return planned;
    });
    // Profile and data in one transaction, conditional on the version the caller read.
    await withDataErrors(() => this.deps.userData.transaction(async (tx) => {
      await tx.users.updateProfile(current.id, patch, current.version);
      await tx.data.write(current.id, current.tenantId, write);
    }));
    await this.deps.emit('user.updated', principal, { tenantId: current.tenantId, subjectId: current.id }, ctx, {
      fields: Object.keys(input).filter((k) => k !== 'attributes' && k !== 'external_ids').sort(),
      ...(write.set?.length || write.remove?.length ? { attributes: [...(write.set ?? []).map((v) => v.name), ...(write.remove ?? [])].sort() } : {}),
      ...(Object.keys(write.externalIds ?? {}).length ? { external_ids: Object.keys(write.externalIds!).sort() } : {}),
    });
    await this.emitLinks(principal, current, write.externalIds ?? {}, ctx);
    return this.withData((await this.deps.users.findById(current.id))!);
  }

  /** `user.linked` / `user.unlinked` for each external id set or removed (docs/webhooks.md#events). */
  private async emitLinks(principal: AdminPrincipal, user: User, externalIds: Record<string, string | null>, ctx: EventContext): Promise<void> {
    for (const [source, id] of Object.entries(externalIds).sort()) {
      await this.deps.emit(id === null ? 'user.unlinked' : 'user.linked', principal, { tenantId: user.tenantId, subjectId: user.id }, ctx, { target: 'user', source });
    }
  }

  /** Disables the account and signs it out everywhere (its sessions, grants and tokens end now). Idempotent. */
  async disable(principal: AdminPrincipal, current: AdminUser, ctx: EventContext): Promise<AdminUser> {
    if (current.status === 'disabled') return current;
    const updated = await this.deps.users.updateProfile(current.id, { status: 'disabled' }, current.version);
    await this.signOutEverywhere(current, ctx);
    await this.deps.emit('user.disabled', principal, { tenantId: current.tenantId, subjectId: current.id }, ctx, { previous_status: current.status });
    return { ...updated, data: current.data };
  }

  /**
   * Makes a disabled or pending account active (for a pending one: the
   * administrator vouches for it instead of the confirmation link). A locked
   * account is unlocked with `unlock` instead. Idempotent for active accounts.
   * @throws AdminConflict for a locked account.
   */
  async enable(principal: AdminPrincipal, current: AdminUser, ctx: EventContext): Promise<AdminUser> {
    if (current.status === 'active') return current;
    if (current.status === 'locked') throw new AdminConflict('The account is locked; unlock it instead.');
    const updated = await this.deps.users.updateProfile(current.id, { status: 'active' }, current.version);
    await this.deps.emit('user.enabled', principal, { tenantId: current.tenantId, subjectId: current.id }, ctx, { previous_status: current.status });
    return { ...updated, data: current.data };
  }

  /** Ends a temporary lock and an administrator's lock, and forgets failed sign-ins. A disabled or pending status stays. */
  async unlock(principal: AdminPrincipal, current: AdminUser, ctx: EventContext): Promise<AdminUser> {
    // Failures from a known device or address lock only that source (docs/security.md#lockout-and-throttling): an unlock ends those too.
    const sources = await this.deps.sources?.hasFailures(current.id);
    const locked = isLocked(current) || current.status === 'locked' || sources?.locked === true;
    if (!locked && current.failedLogins === 0 && !sources?.failures) return current;
    await this.deps.users.clearLockout(current.id);
    // In the database, clearLockout ended the counts with the lock; in Redis they are forgotten there.
    if (this.deps.sources?.counters.kind === 'redis') await this.deps.sources.clear(current.id);
    let updated = (await this.deps.users.findById(current.id))!;
    if (updated.status === 'locked') updated = await this.deps.users.updateProfile(current.id, { status: 'active' });
    await this.deps.emit('user.unlocked', principal, { tenantId: current.tenantId, subjectId: current.id }, ctx, { was_locked: locked });
    return { ...updated, data: current.data };
  }

  /** Deletes the user after ending every session, grant and token. The audit log keeps its entries. */
  async delete(principal: AdminPrincipal, current: User, ctx: EventContext): Promise<void> {
    await this.signOutEverywhere(current, ctx);
    if (!(await this.deps.users.delete(current.id))) throw new NotFoundError('user', current.id);
    // Personal data that can be erased (docs/webhooks.md#personal-data-that-can-be-erased): the deletion's own
    // entry names no personal data, and earlier entries about or by the user lose theirs; the trail stays.
    await this.deps.emit('user.deleted', principal, { tenantId: current.tenantId, subjectId: current.id }, ctx, {});
    await this.deps.eraseAudit?.(current.id);
  }

  /**
   * Replaces the user's roles in one tenant (the home tenant by default; any
   * other must be one the user is a member of). Granting `admin` is a role
   * elevation: it needs the caller's step-up.
   * @throws AdminInvalid (unknown role, not a member), NotFoundError, StaleWriteError
   */
  async setRoles(principal: AdminPrincipal, current: AdminUser, input: { tenant?: string; roles: string[] }, ctx: EventContext, stepUp: StepUp): Promise<AdminUser> {
    const tenantId = input.tenant ?? current.tenantId;
    if (!administers(principal, tenantId)) throw new AdminInvalid({ tenant: 'unknown_tenant' });
    if (!(await this.deps.users.listMemberships(current.id)).includes(tenantId)) throw new AdminInvalid({ tenant: 'not_a_member' });
    await this.checkRoles(tenantId, input.roles);
    const before = await this.rolesIn(current.id, tenantId);
    const wanted = [...new Set(input.roles)].sort();
    const added = wanted.filter((r) => !before.includes(r));
    const removed = before.filter((r) => !wanted.includes(r));
    if (!added.length && !removed.length) return current;
    if (added.includes(ADMIN_ROLE)) stepUp();
    // Re-checked inside the version guard: a concurrent edit since the caller's read loses with 412.
    await this.deps.users.updateProfile(current.id, {}, current.version);
    await this.deps.users.setRoles(current.id, tenantId, wanted);
    await this.deps.emit('user.roles_changed', principal, { tenantId, subjectId: current.id }, ctx, { added, removed });
    return { ...(await this.deps.users.findById(current.id))!, data: current.data };
  }

  async memberships(current: User): Promise<MembershipView[]> {
    const tenants = await this.deps.users.listMemberships(current.id);
    return Promise.all(tenants.map(async (tenant) => ({ tenant, home: tenant === current.tenantId, roles: await this.rolesIn(current.id, tenant) })));
  }

  /** Adds a membership in a tenant the caller administers. Idempotent. @throws NotFoundError for an unknown tenant. */
  async addMembership(principal: AdminPrincipal, current: User, tenantId: string, ctx: EventContext): Promise<MembershipView[]> {
    visibleTenant(principal, tenantId);
    if (!(await this.deps.tenants.findById(tenantId))) throw new NotFoundError('tenant', tenantId);
    if (!(await this.deps.users.listMemberships(current.id)).includes(tenantId)) {
      await this.deps.users.addMembership(current.id, tenantId);
      await this.deps.emit('membership.added', principal, { tenantId, subjectId: current.id }, ctx, { tenant: tenantId });
    }
    return this.memberships(current);
  }

  /** Removes a membership (and the roles in that tenant). @throws AdminConflict for the home tenant; NotFoundError when there is none. */
  async removeMembership(principal: AdminPrincipal, current: User, tenantId: string, ctx: EventContext): Promise<void> {
    visibleTenant(principal, tenantId, 'membership');
    if (tenantId === current.tenantId) throw new AdminConflict('The home tenant\'s membership cannot be removed; delete the user instead.');
    if (!(await this.deps.users.removeMembership(current.id, tenantId))) throw new NotFoundError('membership', tenantId);
    await this.deps.emit('membership.removed', principal, { tenantId, subjectId: current.id }, ctx, { tenant: tenantId });
  }

  listSessions(current: User): Promise<SessionView[]> {
    return this.deps.sessions.listSessions(current.id, null);
  }

  /** @throws NotFoundError when the user has no such session. */
  async revokeSession(current: User, sessionId: string, ctx: EventContext): Promise<void> {
    if (!isStorableText(sessionId) || !(await this.deps.sessions.revokeSession(current.id, current.tenantId, sessionId, ctx))) {
      throw new NotFoundError('session', sessionId);
    }
  }

  revokeAllSessions(current: User, ctx: EventContext): Promise<number> {
    return this.deps.sessions.revokeAllSessions(current.id, current.tenantId, ctx);
  }

  /** Sessions with back-channel logout, then everything else issued to the account (offline grants too). */
  private async signOutEverywhere(user: User, ctx: EventContext): Promise<void> {
    await this.deps.sessions.revokeAllSessions(user.id, user.tenantId, ctx);
    await this.deps.payloads.revokeByAccount(user.id);
    await this.deps.sessionMeta.deleteByAccount(user.id);
  }

  private async withData(user: User): Promise<AdminUser> {
    return { ...user, data: await this.deps.userData.dataOf(user.id) };
  }

  private async rolesIn(userId: string, tenantId: string): Promise<string[]> {
    const user = await this.deps.users.findById(userId);
    if (user?.tenantId === tenantId) return user.roles;
    return this.deps.users.rolesIn(userId, tenantId);
  }

  /** Roles must be declared in the tenant; `admin` always exists. */
  private async checkRoles(tenantId: string, roles: string[]): Promise<void> {
    const known = new Set([ADMIN_ROLE, ...(await this.deps.roles.list(tenantId)).map((r) => r.name)]);
    const fields: Record<string, string> = {};
    roles.forEach((r, i) => {
      if (!known.has(r)) fields[`roles.${i}`] = 'unknown_role';
    });
    if (Object.keys(fields).length) throw new AdminInvalid(fields, 'Unknown role in the tenant (declare it first).');
  }

  /** A friendly 409 naming the field; the unique index still decides races (then a plain 409). */
  private async checkUnique(tenantId: string, selfId: string | null, email: string | null | undefined, username: string | null | undefined): Promise<void> {
    const fields: Record<string, string> = {};
    if (email) {
      const other = await this.deps.users.findByEmail(tenantId, email);
      if (other && other.id !== selfId) fields.email = 'taken';
    }
    if (username) {
      const other = await this.deps.users.findByUsername(tenantId, username);
      if (other && other.id !== selfId) fields.username = 'taken';
    }
    if (Object.keys(fields).length) throw new AdminConflict('Already used by another user in the tenant.', fields);
  }
}

export type { SearchCursor, UserStatus };
