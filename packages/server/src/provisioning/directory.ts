import type { Kysely } from 'kysely';
import type { EventContext } from '../audit/events.js';
import type { User } from '../identity/model.js';
import { normalizeEmail } from '../identity/model.js';
import type { TenantPolicy } from '../identity/policy.js';
import type { Mailer } from '../notify/senders.js';
import { checkPassword } from '../identity/password-policy.js';
import { hashPassword } from '../identity/password.js';
import { negotiateLocale, translator } from '../i18n/index.js';
import type { RoleRepository, UserRepository } from '../identity/repository.js';
import { toUser } from '../identity/repository.js';
import type { UserDataService } from '../userdata/service.js';
import type { ActionTokenRepository } from '../identity/tokens.js';
import type { Database } from '../storage/schema.js';
import { NotFoundError } from '../storage/errors.js';
import { isStorableText } from '../storage/text.js';
import { AdminConflict, AdminInvalid } from '../admin/errors.js';
import { ADMIN_ROLE } from '../admin/access.js';
import type { AdminUser, NewUserInput, UserAdminService, UserPatchInput } from '../admin/users/service.js';
import type { AdminEmit } from '../admin/audit.js';
import type { ProvisioningPrincipal } from './access.js';
import { lifecycleOf, queryUsers } from './query.js';
import type { Lifecycle, ProvisioningStatesTable, UserQuery } from './query.js';

/**
 * The directory both provisioning APIs work on (docs/provisioning.md):
 * Tessera's users and roles, seen through Okta's lifecycle and SCIM's
 * resources. Writes go through the admin services (the same checks,
 * uniqueness, audit entries and session revocation as the admin API); this
 * adds the lifecycle states Okta has beyond Tessera's statuses, logins
 * (a username, or the email of a user without one), groups (roles, except
 * `admin`: no provisioning credential can make an administrator), and the
 * links sent by mail.
 */

/** A user with what the provisioning APIs show besides the admin view. */
export interface DirectoryUser {
  user: AdminUser;
  lifecycle: Lifecycle;
  /** When the lifecycle last changed (Okta's `statusChanged`). */
  lifecycleChangedAt: number;
}

/** The mail that lets a user without a password set one (userdata/activation.ts). */
export interface ActivationMail {
  refusal(user: User): string | undefined;
  send(user: User, context?: EventContext): Promise<void>;
}

export interface DirectoryDeps {
  db: Kysely<Database>;
  users: UserRepository;
  roles: RoleRepository;
  admin: UserAdminService;
  tokens: ActionTokenRepository;
  emit: AdminEmit;
  issuer: string;
  /** The activation mail (userdata/activation.ts); without it, activation answers a link instead of mailing. */
  activation?: ActivationMail;
  mailer: Mailer;
  policyFor(tenantId: string): Promise<TenantPolicy>;
  userData: UserDataService;
}

type StatesDb = Kysely<Database & { provisioning_states: ProvisioningStatesTable }>;

/** A login names a user by username, or by email (logins with "@" are emails: usernames cannot contain one). */
export const loginOf = (u: Pick<User, 'username' | 'email'>): string => u.username ?? u.email ?? '';

/** Link lifetimes for activation and reset links handed to the API caller (not mailed). */
const LINK_TTL_SECONDS = 7 * 86_400;

export class Directory {
  constructor(private readonly deps: DirectoryDeps) {}

  private get states(): StatesDb {
    return this.deps.db as unknown as StatesDb;
  }

  /** @throws NotFoundError (unknown, or another tenant's: the same answer). */
  async get(principal: ProvisioningPrincipal, id: string): Promise<DirectoryUser> {
    return this.view(await this.deps.admin.get(principal, id));
  }

  /** By id, or by login (username or email), as Okta's `GET /users/{idOrLogin}`. */
  async find(principal: ProvisioningPrincipal, idOrLogin: string): Promise<DirectoryUser | undefined> {
    if (!isStorableText(idOrLogin) || idOrLogin.length > 512) return undefined;
    const byId = await this.deps.users.findById(idOrLogin);
    const user = byId?.tenantId === principal.tenantId ? byId
      : idOrLogin.includes('@') ? await this.deps.users.findByEmail(principal.tenantId, idOrLogin)
        : await this.deps.users.findByUsername(principal.tenantId, idOrLogin);
    if (!user || user.tenantId !== principal.tenantId) return undefined;
    return this.get(principal, user.id);
  }

  /**
   * Many users in the given order, in four queries whatever their number
   * (users, roles, data, states): a page of 200 must not cost 1 000 queries.
   * Ids of other tenants' users are left out.
   */
  async views(principal: ProvisioningPrincipal, ids: string[]): Promise<DirectoryUser[]> {
    if (ids.length === 0) return [];
    const db = this.deps.db;
    const [rows, roles, data, states] = await Promise.all([
      db.selectFrom('users').selectAll().where('id', 'in', ids).where('tenant_id', '=', principal.tenantId).execute(),
      db.selectFrom('user_roles').select(['user_id', 'role']).where('user_id', 'in', ids).where('tenant_id', '=', principal.tenantId).execute(),
      this.deps.userData.dataOfMany(ids),
      this.states.selectFrom('provisioning_states').select(['user_id', 'state', 'changed_at']).where('user_id', 'in', ids).execute(),
    ]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const stateOf = new Map(states.map((r) => [r.user_id, r]));
    return ids.flatMap((id) => {
      const row = byId.get(id);
      if (!row) return [];
      const user = { ...toUser(row, roles.filter((r) => r.user_id === id).map((r) => r.role).sort()), data: data.get(id)! };
      const st = stateOf.get(id);
      return [{ user, lifecycle: lifecycleOf(user.status, st?.state), lifecycleChangedAt: st ? Number(st.changed_at) : user.updatedAt }];
    });
  }

  async query(principal: ProvisioningPrincipal, q: Omit<UserQuery, 'tenantId'>, withTotal: boolean): Promise<{ users: DirectoryUser[]; total?: number }> {
    const { ids, total } = await queryUsers(this.deps.db, { ...q, tenantId: principal.tenantId }, withTotal);
    return { users: await this.views(principal, ids), ...(total !== undefined ? { total } : {}) };
  }

  /**
   * Creates a user. `lifecycle`: STAGED (exists, cannot sign in, no mail),
   * PROVISIONED (awaits activation: the activation mail goes out when asked),
   * ACTIVE (signs in with the given password), SUSPENDED (SCIM `active: false`).
   * @throws AdminInvalid, AdminConflict
   */
  async create(principal: ProvisioningPrincipal, input: Omit<NewUserInput, 'status' | 'tenant'>, lifecycle: 'STAGED' | 'PROVISIONED' | 'ACTIVE' | 'SUSPENDED',
    ctx: EventContext): Promise<DirectoryUser> {
    if (input.roles.includes(ADMIN_ROLE)) throw new AdminInvalid({ groups: 'admin_not_allowed' }, 'Provisioning cannot grant the admin role.');
    const status = lifecycle === 'ACTIVE' ? 'active' : lifecycle === 'SUSPENDED' ? 'disabled' : 'pending';
    const created = await this.deps.admin.create(principal, { ...input, tenant: principal.tenantId, status }, ctx, () => undefined);
    if (lifecycle !== 'ACTIVE') await this.setState(created, lifecycle);
    return this.view(created);
  }

  /** @throws AdminInvalid, AdminConflict, StaleWriteError */
  async update(principal: ProvisioningPrincipal, current: DirectoryUser, patch: UserPatchInput, ctx: EventContext): Promise<DirectoryUser> {
    if (Object.keys(patch).length === 0) return current;
    return this.view(await this.deps.admin.update(principal, current.user, patch, ctx));
  }

  /**
   * Moves a user through Okta's lifecycle (docs/provisioning.md#lifecycle).
   * Returns the links handed to the caller instead of mailed, if any.
   * @throws AdminConflict for a transition the lifecycle does not allow (Okta's E0000001 / SCIM 409)
   */
  async transition(principal: ProvisioningPrincipal, current: DirectoryUser, action: 'activate' | 'reactivate' | 'deactivate' | 'suspend' | 'unsuspend' | 'unlock' | 'reset_password' | 'enable',
    opts: { sendEmail: boolean }, ctx: EventContext): Promise<{ user: DirectoryUser; link?: string }> {
    const { user } = current;
    const now = current.lifecycle;
    switch (action) {
      case 'activate':
      case 'reactivate': {
        if (action === 'activate' && !['STAGED', 'DEPROVISIONED'].includes(now) && !(now === 'PROVISIONED')) {
          throw new AdminConflict(`Activation failed because the user is already active (${now}).`);
        }
        if (action === 'reactivate' && now !== 'PROVISIONED') throw new AdminConflict('Only a user in PROVISIONED status can be reactivated.');
        let updated = user;
        if (user.passwordHash) {
          // With a password the user can sign in at once.
          updated = { ...(await this.deps.admin.enable(principal, user, ctx)) };
          await this.setState(updated, null);
          return { user: await this.view(updated) };
        }
        if (user.status !== 'pending') updated = { ...(await this.deps.users.updateProfile(user.id, { status: 'pending' })), data: user.data };
        await this.setState(updated, 'PROVISIONED');
        const link = await this.activationLink(updated, opts.sendEmail, ctx);
        return { user: await this.view(updated), ...(link ? { link } : {}) };
      }
      case 'deactivate': {
        if (now === 'DEPROVISIONED') return { user: current };
        const updated = await this.deps.admin.disable(principal, user, ctx);
        await this.setState(updated, 'DEPROVISIONED');
        return { user: await this.view(updated) };
      }
      case 'suspend': {
        if (now !== 'ACTIVE') throw new AdminConflict('Only an ACTIVE user can be suspended.');
        const updated = await this.deps.admin.disable(principal, user, ctx);
        await this.setState(updated, 'SUSPENDED');
        return { user: await this.view(updated) };
      }
      case 'unsuspend': {
        if (now !== 'SUSPENDED') throw new AdminConflict('Only a SUSPENDED user can be unsuspended.');
        const updated = await this.deps.admin.enable(principal, user, ctx);
        await this.setState(updated, null);
        return { user: await this.view(updated) };
      }
      case 'enable': {
        // SCIM `active: true`: whatever disabled the account, it may sign in again.
        const updated = await this.deps.admin.enable(principal, user, ctx);
        await this.setState(updated, null);
        return { user: await this.view(updated) };
      }
      case 'unlock': {
        if (now !== 'LOCKED_OUT' && user.failedLogins === 0) throw new AdminConflict('The user is not locked out.');
        return { user: await this.view(await this.deps.admin.unlock(principal, user, ctx)) };
      }
      case 'reset_password': {
        if (!['ACTIVE', 'RECOVERY', 'LOCKED_OUT'].includes(now)) throw new AdminConflict(`A user in ${now} status cannot reset the password.`);
        if (!user.email && opts.sendEmail) throw new AdminInvalid({ email: 'required' }, 'The user has no email address to send the link to.');
        // The same single-use link the hosted "forgot password" sends (recovery/), valid as long as the tenant says.
        const policy = await this.deps.policyFor(user.tenantId);
        const link = await this.createLink(user, 'password_reset', JSON.stringify({ email: normalizeEmail(user.email ?? ''), interaction: null }),
          `${this.deps.issuer}/password/reset?token=`, policy.password_reset_ttl_seconds);
        if (opts.sendEmail) {
          const t = translator(negotiateLocale(user.locale ?? undefined, 'en'));
          await this.deps.mailer.send({ to: user.email!, subject: t('recovery.mail.reset.subject'), text: t('recovery.mail.reset.body', {
            account: loginOf(user), link, minutes: Math.round(policy.password_reset_ttl_seconds / 60),
          }) });
        }
        await this.setState(user, 'RECOVERY');
        return { user: await this.view(user), ...(opts.sendEmail ? {} : { link }) };
      }
    }
  }

  /**
   * Sets the user's password (Okta's `credentials.password.value`), under the
   * tenant's password policy; the user's other sessions end, as after a reset.
   * @throws AdminInvalid (policy)
   */
  async setPassword(principal: ProvisioningPrincipal, current: DirectoryUser, password: string, ctx: EventContext): Promise<DirectoryUser> {
    const { user } = current;
    const policy = await this.deps.policyFor(user.tenantId);
    const violations = checkPassword(password, policy.password, { username: user.username ?? undefined, email: user.email ?? undefined });
    if (violations.length) throw new AdminInvalid({ password: violations[0]! }, 'The password does not meet the tenant\'s password policy.');
    await this.deps.users.setPasswordHash(user.id, await hashPassword(password));
    await this.deps.admin.revokeAllSessions(user, ctx);
    await this.deps.emit('user.password_set', principal, { tenantId: user.tenantId, subjectId: user.id }, ctx, {});
    // A staged or provisioned user with a password is still not active: activation decides.
    return this.get(principal, user.id);
  }

  /** Deletes the user (sessions and tokens end first). */
  async delete(principal: ProvisioningPrincipal, current: DirectoryUser, ctx: EventContext): Promise<void> {
    await this.deps.admin.delete(principal, current.user, ctx);
  }

  // --- groups (roles) -------------------------------------------------------

  /** The tenant's roles a provisioning client may see and grant: every role but `admin`. */
  async groups(principal: ProvisioningPrincipal): Promise<Array<{ name: string; description: string | null }>> {
    return (await this.deps.roles.list(principal.tenantId)).filter((r) => r.name !== ADMIN_ROLE)
      .map((r) => ({ name: r.name, description: r.description }));
  }

  async group(principal: ProvisioningPrincipal, name: string): Promise<{ name: string; description: string | null }> {
    const found = (await this.groups(principal)).find((g) => g.name === name);
    if (!found) throw new NotFoundError('group', name);
    return found;
  }

  async createGroup(principal: ProvisioningPrincipal, name: string, description: string | null, ctx: EventContext): Promise<{ name: string; description: string | null }> {
    if (name === ADMIN_ROLE) throw new AdminConflict('A group with this name already exists.');
    if ((await this.deps.roles.list(principal.tenantId)).some((r) => r.name === name)) throw new AdminConflict('A group with this name already exists.');
    await this.deps.roles.upsert(principal.tenantId, name, description);
    await this.deps.emit('role.saved', principal, { tenantId: principal.tenantId, subjectId: null }, ctx, { target: 'role', role: name });
    return { name, description };
  }

  async updateGroup(principal: ProvisioningPrincipal, name: string, description: string | null, ctx: EventContext): Promise<void> {
    await this.group(principal, name);
    await this.deps.roles.upsert(principal.tenantId, name, description);
    await this.deps.emit('role.saved', principal, { tenantId: principal.tenantId, subjectId: null }, ctx, { target: 'role', role: name });
  }

  async deleteGroup(principal: ProvisioningPrincipal, name: string, ctx: EventContext): Promise<void> {
    await this.group(principal, name);
    await this.deps.roles.delete(principal.tenantId, name);
    await this.deps.emit('role.deleted', principal, { tenantId: principal.tenantId, subjectId: null }, ctx, { target: 'role', role: name });
  }

  /** Ids of the group's members in this tenant, ordered. */
  async members(principal: ProvisioningPrincipal, name: string): Promise<string[]> {
    await this.group(principal, name);
    const rows = await this.deps.db.selectFrom('user_roles').select('user_id')
      .where('tenant_id', '=', principal.tenantId).where('role', '=', name).orderBy('user_id').execute();
    return rows.map((r) => r.user_id);
  }

  /** Sets (or adds/removes) a user's membership of groups; `admin` is neither shown nor changed. */
  async changeMembership(principal: ProvisioningPrincipal, userId: string, change: { add?: string[]; remove?: string[] }, ctx: EventContext): Promise<void> {
    const current = await this.deps.admin.get(principal, userId);
    if ([...(change.add ?? []), ...(change.remove ?? [])].includes(ADMIN_ROLE)) throw new NotFoundError('group', ADMIN_ROLE);
    const roles = new Set(current.roles);
    for (const r of change.add ?? []) roles.add(r);
    for (const r of change.remove ?? []) roles.delete(r);
    await this.deps.admin.setRoles(principal, current, { roles: [...roles] }, ctx, () => undefined);
  }

  // --- internals --------------------------------------------------------------

  private async view(user: AdminUser): Promise<DirectoryUser> {
    const row = await this.states.selectFrom('provisioning_states').select(['state', 'changed_at']).where('user_id', '=', user.id).executeTakeFirst();
    return { user, lifecycle: lifecycleOf(user.status, row?.state), lifecycleChangedAt: row ? Number(row.changed_at) : user.updatedAt };
  }

  private async setState(user: User, state: Lifecycle | null): Promise<void> {
    await this.states.deleteFrom('provisioning_states').where('user_id', '=', user.id).execute();
    if (state) {
      await this.states.insertInto('provisioning_states').values({ user_id: user.id, tenant_id: user.tenantId, state, changed_at: Date.now() }).execute();
    }
  }

  private async activationLink(user: User, sendEmail: boolean, ctx: EventContext): Promise<string | undefined> {
    if (sendEmail && this.deps.activation && user.email && !this.deps.activation.refusal(user)) {
      await this.deps.activation.send(user, ctx);
      return undefined;
    }
    return this.createLink(user, 'activation', user.email ?? '', `${this.deps.issuer}/activate?token=`);
  }

  private async createLink(user: User, purpose: string, target: string, base: string, ttlSeconds = LINK_TTL_SECONDS): Promise<string> {
    const token = await this.deps.tokens.createLink({ userId: user.id, tenantId: user.tenantId, purpose: purpose as never, target, ttlSeconds });
    return `${base}${token}`;
  }
}
