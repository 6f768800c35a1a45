import type { NewUser, User } from './model.js';
import { actingTenant, isLocked } from './model.js';
import type { RoleRepository, TenantRepository, UserRepository } from './repository.js';
import { DEFAULT_POLICY } from './policy.js';
import type { TenantPolicy } from './policy.js';
import { dummyHash, hashPassword, needsRehash, verifyPassword } from './password.js';
import { isStorableText } from '../storage/text.js';
import type { DomainEvent, EventBus, EventContext } from '../audit/events.js';
import { SignInSources } from './sign-in-sources.js';
import type { KnownSource } from './sign-in-sources.js';
import { ACCOUNT } from './lockout-counters.js';

export interface IdentityDeps {
  users: UserRepository;
  tenants: TenantRepository;
  roles: RoleRepository;
  /** Sign-in and lockout events go here (the audit log listens); optional for CLI and config use. */
  events?: EventBus;
  /** Reports a failing event listener (the sign-in itself goes on). */
  onEventError?: (err: unknown) => void;
  /** Known sources with their own failure counts (the lockout per account and source); without it, one count per account. */
  sources?: SignInSources;
}

/**
 * Why a sign-in failed. For the audit log only: callers show every one of
 * these with the same message, so the answer never tells whether the account
 * exists, is locked or is disabled.
 */
export type LoginFailureReason = 'unknown_user' | 'no_password' | 'wrong_password' | 'locked' | 'disabled';

export type LoginOutcome =
  | { ok: true; user: User }
  | { ok: false; reason: 'invalid_credentials'; detail: LoginFailureReason }
  /** The password was right but the email is not confirmed yet; only reachable with the right password, so it leaks nothing. */
  | { ok: false; reason: 'pending'; user: User };

/**
 * Identity domain logic, free of HTTP. The login pipeline is a list of named
 * steps (find user → verify password → locked? → count failure and lock →
 * clear failures and upgrade hash → check status) so later features (MFA)
 * slot in as further steps.
 */
export class IdentityService {
  constructor(private readonly deps: IdentityDeps) {}

  get users(): UserRepository {
    return this.deps.users;
  }

  /** @throws ConflictError when username or email is taken in the tenant. */
  async createUser(input: Omit<NewUser, 'passwordHash'> & { password?: string; roles?: string[] }): Promise<User> {
    const { password, roles, ...rest } = input;
    const passwordHash = password ? await hashPassword(password) : null;
    const user = await this.deps.users.create({ ...rest, passwordHash });
    if (roles?.length) {
      await this.deps.users.setRoles(user.id, user.tenantId, roles);
      return { ...user, roles: [...new Set(roles)].sort() };
    }
    return user;
  }

  /**
   * Finds the user a login names in a tenant (docs/identity.md#memberships-in-other-tenants):
   * the tenant's own (home) users first, by username or, if the login
   * contains '@', by email; only when none has it, a member from another
   * tenant, read for this tenant (its roles). Usernames and emails are unique
   * per home tenant only, so two members from different tenants may share
   * one: then nobody is found (the caller's generic refusal), never a guess.
   */
  async findByLogin(tenantId: string, login: string): Promise<User | undefined> {
    if (!isStorableText(login)) return undefined; // typed into a form, so it may hold a NUL (see storage/text.ts)
    const byName = await this.deps.users.findByUsername(tenantId, login);
    if (byName) return byName;
    const byEmail = login.includes('@') ? await this.deps.users.findByEmail(tenantId, login) : undefined;
    if (byEmail) return byEmail;
    for (const by of login.includes('@') ? ['username', 'email'] as const : ['username'] as const) {
      const members = await this.deps.users.findMembersByLogin(tenantId, by, login);
      if (members.length === 1) return members[0];
      if (members.length > 1) return undefined; // ambiguous: refuse rather than pick one
    }
    return undefined;
  }

  /** The tenant's policy (defaults for an unknown tenant). */
  async policyFor(tenantId: string): Promise<TenantPolicy> {
    return (await this.deps.tenants.findById(tenantId))?.policy ?? DEFAULT_POLICY;
  }

  /**
   * Password login, as named steps. Every path costs one argon2 verification
   * (a dummy hash for unknown users; a locked account is verified too), and
   * every failure reaches the caller as `invalid_credentials`, so neither the
   * answer nor its timing says whether the account exists or is locked. The
   * detail goes to the `login.failed` event (audit log) only.
   * @throws only what the store throws; every refusal is an outcome.
   */
  async verifyLogin(tenantId: string, login: string, password: string, context: EventContext = {}): Promise<LoginOutcome> {
    const now = Date.now();
    const fail = async (detail: LoginFailureReason, user?: User): Promise<LoginOutcome> => {
      await this.emit({ type: 'login.failed', tenantId, subjectId: user?.id ?? null, context, data: { reason: detail, login: login.slice(0, 256) } });
      return { ok: false, reason: 'invalid_credentials', detail };
    };

    // 1. find the user in the client's tenant
    const user = await this.findByLogin(tenantId, login);
    // 2. verify the password (always exactly one argon2 verification: equal timing)
    const passwordOk = await verifyPassword(user?.passwordHash ?? (await dummyHash()), password);
    if (!user) return fail('unknown_user');
    // 3. which bucket the attempt counts on: a device or address this account signed in from before, or the unknown sources
    const source = await this.deps.sources?.resolve(user.id, context, now);
    // 4. locked: an administrator's lock for everyone; a lock from failures only for the bucket that counted them,
    //    so failures from elsewhere never lock the owner out of a known device (docs/security.md#lockout-and-throttling)
    if (this.lockedFor(user, source, now)) return fail('locked', user);
    if (!user.passwordHash) return fail('no_password', user);
    // 5. a wrong password counts toward that bucket's lockout (within the policy's window)
    if (!passwordOk) {
      await this.countFailure(user, context, now, source, tenantId);
      return fail('wrong_password', user);
    }
    // 6. the right password: forget the bucket's earlier failures (and an expired lock), upgrade an old hash
    const current = await this.afterCorrectPassword(user, password, source);
    // 7. status: disabled is refused like any failure; pending gets its own answer
    if (current.status === 'disabled') return fail('disabled', current);
    if (current.status === 'pending') {
      await this.emit({ type: 'login.failed', tenantId, subjectId: user.id, context, data: { reason: 'pending', login: login.slice(0, 256) } });
      return { ok: false, reason: 'pending', user: current };
    }
    // (The device and address become known sources once the whole sign-in succeeds, second factor included: signInCompleted.)
    await this.emit({ type: 'login.succeeded', tenantId, subjectId: user.id, context, data: { method: 'pwd' } });
    return { ok: true, user: current };
  }

  /**
   * Whether a sign-in attempt of this account from this source is refused as
   * locked: an administrator's lock always; the temporary lock on the users
   * row (failures from unknown sources) only for unknown sources; a known
   * source's own lock for that source.
   */
  lockedFor(user: User, source: KnownSource | undefined, now = Date.now()): boolean {
    if (!source) return isLocked(user, now);
    return (user.status === 'locked' && user.lockedUntil === null) || SignInSources.locked(source, now);
  }

  /**
   * A sign-in finished with every factor it needed: its device and address
   * become (or stay) known sources of the account. Not after the password
   * alone: someone who has the password but not the second factor must stay
   * an unknown source, whose wrong codes lock only unknown sources.
   */
  async signInCompleted(userId: string, context: EventContext): Promise<void> {
    await this.deps.sources?.succeeded(userId, context);
  }

  /** Whether an attempt of this account in this context is refused as locked (lockedFor, with its source resolved). */
  async lockedOut(user: User, context: EventContext): Promise<boolean> {
    return this.lockedFor(user, await this.sourceOf(user, context));
  }

  /** The known source a sign-in attempt in this context counts on (undefined: the account's bucket for unknown sources). */
  async sourceOf(user: User, context: EventContext): Promise<KnownSource | undefined> {
    return this.deps.sources?.resolve(user.id, context);
  }

  /**
   * Checks a signed-in user's current password (e.g. before changing it). A
   * wrong one counts toward the lockout like a failed sign-in: a stolen
   * session must not become a way to guess the password without limit.
   */
  async verifyCurrentPassword(user: User, password: string, context: EventContext = {}): Promise<boolean> {
    const ok = (await verifyPassword(user.passwordHash ?? (await dummyHash()), password)) && user.passwordHash !== null;
    if (ok) return true;
    if (user.passwordHash) await this.countFailure(user, context, Date.now(), await this.sourceOf(user, context));
    await this.emit({ type: 'login.failed', tenantId: user.tenantId, subjectId: user.id, context, data: { reason: 'wrong_password', via: 'change_password' } });
    return false;
  }

  /**
   * Counts a wrong password checked elsewhere (a directory bind) toward the
   * account's lockout, exactly as a wrong local password counts.
   */
  async recordLoginFailure(user: User, context: EventContext = {}): Promise<void> {
    await this.countFailure(user, context, Date.now(), await this.sourceOf(user, context));
  }

  /**
   * Counts one failed password on its bucket; reaching the policy's limit
   * within its window locks the bucket for its duration: a known source on
   * its own, or the account for every unknown source.
   */
  private async countFailure(user: User, context: EventContext, now: number, source: KnownSource | undefined, signInTenant = actingTenant(user)): Promise<void> {
    // The policy of the tenant signed in to (a member's sign-in to another tenant counts on that tenant's rules).
    const { lockout } = await this.policyFor(signInTenant);
    if (this.deps.sources) {
      const { failures, until } = await this.deps.sources.recordFailure(user.id, source, lockout, now);
      if (until) await this.emit({ type: 'user.locked', tenantId: user.tenantId, subjectId: user.id, context, data: { until, failures, reason: 'failed_logins', scope: source ? `known_${source.kind}` : 'unknown_sources' } });
      return;
    }
    const failures = await this.deps.users.incrementLoginFailures(user.id, now, now - lockout.window_seconds * 1000);
    if (failures < lockout.max_failures) return;
    const until = now + lockout.duration_seconds * 1000;
    await this.deps.users.lock(user.id, until);
    await this.emit({ type: 'user.locked', tenantId: user.tenantId, subjectId: user.id, context, data: { until, failures, reason: 'failed_logins', scope: 'unknown_sources' } });
  }

  /**
   * Clears the failure count and an expired lock of the unknown sources'
   * bucket (a known source's own count starts over in `succeeded`: the
   * owner signing in from a known device must not reset the count of the
   * guesses from elsewhere), upgrades the hash; returns the user as it now is.
   */
  private async afterCorrectPassword(user: User, password: string, source: KnownSource | undefined): Promise<User> {
    let current = user;
    // With the counts in Redis the row's count stays 0: the count there is forgotten (one HDEL), the row's expired lock as before.
    if (!source && this.deps.sources?.counters.kind === 'redis') await this.deps.sources.counters.resetFailures(user.id, ACCOUNT);
    if (!source && (user.failedLogins > 0 || user.lockedUntil !== null)) {
      await this.deps.users.clearLoginFailures(user.id);
      // The lock has run out (step 3 let us through): a temporary `locked` status is `active` again.
      current = { ...user, failedLogins: 0, failedWindowStart: null, lockedUntil: null, status: user.status === 'locked' ? 'active' : user.status };
    }
    if (user.passwordHash && needsRehash(user.passwordHash)) {
      await this.deps.users.setPasswordHash(user.id, await hashPassword(password));
    }
    return current;
  }

  private async emit(event: Omit<DomainEvent, 'at'>): Promise<void> {
    await this.deps.events?.emit(event, this.deps.onEventError);
  }

  /** True when `password` matches the user's stored hash (used to keep config apply idempotent). */
  async passwordMatches(user: User, password: string): Promise<boolean> {
    return user.passwordHash ? verifyPassword(user.passwordHash, password) : false;
  }

  async setPassword(userId: string, password: string): Promise<void> {
    await this.deps.users.setPasswordHash(userId, await hashPassword(password));
  }
}
