import type { NewUser, User } from './model.js';
import { isLocked } from './model.js';
import type { RoleRepository, TenantRepository, UserRepository } from './repository.js';
import { DEFAULT_POLICY } from './policy.js';
import type { TenantPolicy } from './policy.js';
import { dummyHash, hashPassword, needsRehash, verifyPassword } from './password.js';
import { isStorableText } from '../storage/text.js';
import type { DomainEvent, EventBus, EventContext } from '../audit/events.js';

export interface IdentityDeps {
  users: UserRepository;
  tenants: TenantRepository;
  roles: RoleRepository;
  /** Sign-in and lockout events go here (the audit log listens); optional for CLI and config use. */
  events?: EventBus;
  /** Reports a failing event listener (the sign-in itself goes on). */
  onEventError?: (err: unknown) => void;
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

  /** Finds a user by username or, if the login contains '@', by email as well. */
  async findByLogin(tenantId: string, login: string): Promise<User | undefined> {
    if (!isStorableText(login)) return undefined; // typed into a form, so it may hold a NUL (see storage/text.ts)
    const byName = await this.deps.users.findByUsername(tenantId, login);
    if (byName || !login.includes('@')) return byName;
    return this.deps.users.findByEmail(tenantId, login);
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
    // 3. a locked account is refused, even with the right password, until its unlock time
    if (isLocked(user, now)) return fail('locked', user);
    if (!user.passwordHash) return fail('no_password', user);
    // 4. a wrong password counts toward the lockout (per account, within the policy's window)
    if (!passwordOk) {
      await this.countFailure(user, context, now);
      return fail('wrong_password', user);
    }
    // 5. the right password: forget earlier failures (and an expired lock), upgrade an old hash
    const current = await this.afterCorrectPassword(user, password);
    // 6. status: disabled is refused like any failure; pending gets its own answer
    if (current.status === 'disabled') return fail('disabled', current);
    if (current.status === 'pending') {
      await this.emit({ type: 'login.failed', tenantId, subjectId: user.id, context, data: { reason: 'pending', login: login.slice(0, 256) } });
      return { ok: false, reason: 'pending', user: current };
    }
    await this.emit({ type: 'login.succeeded', tenantId, subjectId: user.id, context, data: { method: 'pwd' } });
    return { ok: true, user: current };
  }

  /**
   * Checks a signed-in user's current password (e.g. before changing it). A
   * wrong one counts toward the lockout like a failed sign-in: a stolen
   * session must not become a way to guess the password without limit.
   */
  async verifyCurrentPassword(user: User, password: string, context: EventContext = {}): Promise<boolean> {
    const ok = (await verifyPassword(user.passwordHash ?? (await dummyHash()), password)) && user.passwordHash !== null;
    if (ok) return true;
    if (user.passwordHash) await this.countFailure(user, context, Date.now());
    await this.emit({ type: 'login.failed', tenantId: user.tenantId, subjectId: user.id, context, data: { reason: 'wrong_password', via: 'change_password' } });
    return false;
  }

  /**
   * Counts a wrong password checked elsewhere (a directory bind) toward the
   * account's lockout, exactly as a wrong local password counts.
   */
  async recordLoginFailure(user: User, context: EventContext = {}): Promise<void> {
    await this.countFailure(user, context, Date.now());
  }

  /** Counts one failed password; reaching the policy's limit within its window locks the account for its duration. */
  private async countFailure(user: User, context: EventContext, now: number): Promise<void> {
    const { lockout } = await this.policyFor(user.tenantId);
    const failures = await this.deps.users.incrementLoginFailures(user.id, now, now - lockout.window_seconds * 1000);
    if (failures < lockout.max_failures) return;
    const until = now + lockout.duration_seconds * 1000;
    await this.deps.users.lock(user.id, until);
    await this.emit({ type: 'user.locked', tenantId: user.tenantId, subjectId: user.id, context, data: { until, failures, reason: 'failed_logins' } });
  }

  /** Clears the failure count and an expired lock, upgrades the hash; returns the user as it now is. */
  private async afterCorrectPassword(user: User, password: string): Promise<User> {
    let current = user;
    if (user.failedLogins > 0 || user.lockedUntil !== null) {
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
