import type { User } from '../identity/model.js';
import { normalizeEmail } from '../identity/model.js';
import type { UserRepository } from '../identity/repository.js';
import type { IdentityService } from '../identity/service.js';
import type { ActionTokenRepository } from '../identity/tokens.js';
import type { TenantPolicy } from '../identity/policy.js';
import { checkPassword } from '../identity/password-policy.js';
import { hashPassword } from '../identity/password.js';
import type { DomainEventType, EventBus, EventContext } from '../audit/events.js';
import type { Mailer } from '../notify/senders.js';
import type { OidcPayloadStore } from '../oidc/payload-store.js';
import { negotiateLocale, translator } from '../i18n/index.js';
import type { Locale } from '../i18n/index.js';
import type { RecoveryTransaction } from './repository.js';
import { ACCOUNT } from '../identity/lockout-counters.js';
import type { LockoutCounters } from '../identity/lockout-counters.js';

export interface RecoveryDeps {
  users: UserRepository;
  identity: IdentityService;
  tokens: ActionTokenRepository;
  payloads: OidcPayloadStore;
  mailer: Mailer;
  events: EventBus;
  transaction: RecoveryTransaction;
  issuer: string;
  /** The built-in client of the account pages: its `sid` names the session a password change keeps. */
  accountClientId: string;
  log: { error(obj: object, msg: string): void };
  /** The lockout's counters when they are in Redis (identity/lockout-counters.ts): a reset or change forgets them there too. */
  lockout?: LockoutCounters;
}

/** Field name → stable code (`required`, `too_short`, `too_long`, `common_password`, `same_as_identifier`, `mismatch`, `invalid_password`). */
export type FieldErrors = Record<string, string>;

export type TokenProblem = 'invalid' | 'expired' | 'used';

export type ResetLinkCheck =
  | { ok: true; user: User; policy: TenantPolicy; interaction: string | null }
  | { ok: false; reason: TokenProblem };

export type ResetOutcome =
  | { status: 'done'; interaction: string | null }
  | { status: 'invalid_fields'; fields: FieldErrors; user: User; policy: TenantPolicy }
  | { status: 'bad_token'; reason: TokenProblem };

export type ChangeOutcome = { ok: true; sessionsRevoked: number } | { ok: false; fields: FieldErrors };

export interface NewPassword {
  password: string;
  confirmation: string;
}

/** What a reset link carries besides the user: the address it was sent to, and the sign-in to return to. */
interface ResetTarget { email: string; interaction: string | null }

const HOUR_MS = 3_600_000;

/**
 * Password reset (unauthenticated, by a single-use emailed link) and password
 * change (signed in, with the current password). Free of HTTP: routes pass
 * parsed input and the request context, and render what comes back.
 */
export class RecoveryService {
  constructor(private readonly deps: RecoveryDeps) {}

  /**
   * Handles "forgot password" for an email address in a tenant. Always
   * returns the same (nothing): whether a link was sent, and why not, is only
   * in the `password.reset_requested` event. The mail itself leaves in the
   * background, so SMTP latency cannot tell an existing account from an
   * unknown one.
   * @throws only what the store throws (never for an unknown or refused account).
   */
  async requestReset(input: { tenantId: string; email: string; interaction?: string | null; locale: Locale }, context: EventContext): Promise<void> {
    const user = await this.deps.users.findByEmail(input.tenantId, input.email);
    const outcome = await this.sendResetLink(user, input);
    await this.emit('password.reset_requested', input.tenantId, user?.id ?? null, context, { outcome });
  }

  private async sendResetLink(user: User | undefined, input: { interaction?: string | null; locale: Locale }): Promise<string> {
    if (!user?.email) return 'unknown_account';
    if (!mayRecover(user)) return 'not_allowed';
    const policy = await this.deps.identity.policyFor(user.tenantId);
    // Per account, counted in the store so every instance sees it: over the limit, nothing is sent (and nobody is told).
    const recent = await this.deps.tokens.countSince(user.id, 'password_reset', Date.now() - HOUR_MS);
    if (recent >= policy.password_reset_per_hour) return 'rate_limited';
    const target: ResetTarget = { email: normalizeEmail(user.email), interaction: input.interaction ?? null };
    const token = await this.deps.tokens.createLink({
      userId: user.id, tenantId: user.tenantId, purpose: 'password_reset', target: JSON.stringify(target), ttlSeconds: policy.password_reset_ttl_seconds,
    });
    const t = translator(this.localeFor(user, input.locale));
    const link = `${this.deps.issuer}/password/reset?token=${token}`;
    this.deliver(user.email, t('recovery.mail.reset.subject'), t('recovery.mail.reset.body', {
      account: user.username ?? user.email, link, minutes: Math.round(policy.password_reset_ttl_seconds / 60),
    }));
    return 'sent';
  }

  /**
   * Checks a reset link without using it (the form is shown first; mail scanners may open links).
   * @throws only what the store throws; a bad link is a result, not an error.
   */
  async checkResetLink(token: string): Promise<ResetLinkCheck> {
    const found = await this.deps.tokens.inspectLink(token, 'password_reset');
    if (!found.ok) return found;
    const user = await this.deps.users.findById(found.userId);
    if (!user || !mayRecover(user)) return { ok: false, reason: 'invalid' };
    return { ok: true, user, policy: await this.deps.identity.policyFor(user.tenantId), interaction: parseTarget(found.target).interaction };
  }

  /**
   * Sets a new password through a reset link. The policy is checked before
   * the link is used (a refused password leaves it valid); then, in one
   * transaction, the link is consumed, the password set, the user's other
   * reset links voided, a temporary lockout ended, and every session, grant
   * and token of the user deleted (whoever knew the old password is signed
   * out everywhere). The link proves the mailbox, so an unconfirmed address
   * counts as confirmed from here on.
   * @throws only what the store throws (the transaction is then rolled back: nothing changed).
   */
  async completeReset(token: string, input: NewPassword, context: EventContext, locale: Locale): Promise<ResetOutcome> {
    // 1. the link is live and its account may still recover
    const check = await this.checkResetLink(token);
    if (!check.ok) return { status: 'bad_token', reason: check.reason };
    const { user, policy } = check;
    // 2. the new password meets the tenant's policy (the link stays usable if not)
    const fields = newPasswordProblems(input, policy, user);
    if (fields) return { status: 'invalid_fields', fields, user, policy };
    // 3. hash outside the transaction (argon2 takes a while)
    const hash = await hashPassword(input.password);
    // 4. consume and apply, all or nothing
    const applied = await this.deps.transaction(async (tx) => {
      const consumed = await tx.tokens.consumeLink(token, 'password_reset');
      if (!consumed.ok) return { ok: false as const, reason: consumed.reason };
      const fresh = await tx.users.findById(consumed.userId);
      if (!fresh || !mayRecover(fresh)) return { ok: false as const, reason: 'invalid' as const };
      await tx.users.setPasswordHash(fresh.id, hash);
      await tx.tokens.invalidate(fresh.id, 'password_reset');
      await tx.users.clearLockout(fresh.id);
      const target = parseTarget(consumed.target);
      // Only while the account still has the address the link went to (an email change may have happened since).
      const confirmed = target.email
        ? await tx.users.markEmailVerified(fresh.id, target.email, { requirePhone: policy.required_fields.includes('phone_number') }) : undefined;
      const activated = fresh.status === 'pending' && confirmed?.status === 'active';
      const revoked = await tx.payloads.revokeByAccount(fresh.id);
      await tx.sessionDetails.deleteByAccount(fresh.id);
      return { ok: true as const, user: fresh, revoked, activated, interaction: target.interaction };
    });
    if (!applied.ok) return { status: 'bad_token', reason: applied.reason };
    // The database's counts ended in the transaction (clearLockout); Redis's are forgotten once it committed.
    await this.afterCommit(applied.user.id, (lockout, id) => lockout.clear(id));
    // 5. tell the owner, and the audit log
    this.notifyChanged(applied.user, locale);
    await this.emit('password.reset', applied.user.tenantId, applied.user.id, context, { artefacts_revoked: applied.revoked });
    if (applied.activated) await this.emit('user.confirmed', applied.user.tenantId, applied.user.id, context, { via: 'password_reset' });
    return { status: 'done', interaction: applied.interaction };
  }

  /**
   * Changes a signed-in user's password. The current password is required
   * (a wrong one counts toward the lockout, see IdentityService). On
   * success, every other session of the user ends, with every grant and token
   * not issued in this browser's session: refresh tokens held by other
   * devices stop working, while this session and its applications stay.
   * @throws only what the store throws (the transaction is then rolled back: nothing changed).
   */
  async changePassword(account: { user: User; sid: string }, input: NewPassword & { current: string }, context: EventContext, locale: Locale): Promise<ChangeOutcome> {
    const { user } = account;
    const policy = await this.deps.identity.policyFor(user.tenantId);
    // 1. the form: current password given, new password acceptable and confirmed
    const fields: FieldErrors = { ...newPasswordProblems(input, policy, user) };
    if (!input.current) fields.current_password = 'required';
    else if (input.current.length > 1024) fields.current_password = 'invalid_password';
    // 2. the current password (only checked when given; a wrong one counts as a failed sign-in)
    else if (!(await this.deps.identity.verifyCurrentPassword(user, input.current, context))) fields.current_password = 'invalid_password';
    if (Object.keys(fields).length) return { ok: false, fields };
    // 3. hash, then apply and sign out the other sessions in one transaction
    const hash = await hashPassword(input.password);
    const keep = await this.currentSession(user.id, account.sid);
    const revoked = await this.deps.transaction(async (tx) => {
      await tx.users.setPasswordHash(user.id, hash);
      await tx.users.clearLoginFailures(user.id);
      // A reset link requested earlier would undo this change: it goes.
      await tx.tokens.invalidate(user.id, 'password_reset');
      if (!keep) {
        // This browser's session is already gone (signed out meanwhile): nothing to keep.
        await tx.sessionDetails.deleteByAccount(user.id);
        return tx.payloads.revokeByAccount(user.id);
      }
      await tx.sessionDetails.deleteByAccountExcept(user.id, keep.sessionUid);
      return tx.payloads.revokeByAccountExcept(user.id, keep);
    });
    await this.afterCommit(user.id, (lockout, id) => lockout.resetFailures(id, ACCOUNT));
    // 4. tell the owner, and the audit log
    this.notifyChanged(user, locale);
    await this.emit('password.changed', user.tenantId, user.id, { ...context, actorId: user.id }, { artefacts_revoked: revoked, kept_session: Boolean(keep) });
    return { ok: true, sessionsRevoked: revoked };
  }

  /**
   * Ends lockout counts in Redis after the password changed (committed).
   * Best effort: the change is done and the answer says so; with Redis away
   * the counts and known sources' locks end with their TTL (a log line).
   */
  private async afterCommit(userId: string, fn: (lockout: LockoutCounters, userId: string) => Promise<void>): Promise<void> {
    const lockout = this.deps.lockout;
    if (lockout?.kind !== 'redis') return;
    try {
      await fn(lockout, userId);
    } catch (err) {
      this.deps.log.error({ err: { message: (err as Error).message }, userId }, 'lockout counts in Redis not cleared after a password change');
    }
  }

  /** The engine session behind the account pages' `sid`, and the grants issued in it. */
  private async currentSession(userId: string, sid: string): Promise<{ sessionUid: string; grantIds: string[] } | undefined> {
    const sessions = await this.deps.payloads.listByAccount('Session', userId);
    for (const session of sessions) {
      const authorizations = (session.authorizations ?? {}) as Record<string, { sid?: string; grantId?: string }>;
      if (authorizations[this.deps.accountClientId]?.sid !== sid || typeof session.uid !== 'string') continue;
      const grantIds = Object.values(authorizations).map((a) => a.grantId).filter((g): g is string => typeof g === 'string');
      return { sessionUid: session.uid, grantIds };
    }
    return undefined;
  }

  private notifyChanged(user: User, locale: Locale): void {
    if (!user.email) return;
    const t = translator(this.localeFor(user, locale));
    this.deliver(user.email, t('recovery.mail.changed.subject'), t('recovery.mail.changed.body', {
      account: user.username ?? user.email,
      time: new Date().toISOString().replace('T', ' ').slice(0, 16),
      link: `${this.deps.issuer}/password/forgot?tenant=${encodeURIComponent(user.tenantId)}`,
    }));
  }

  /** The user's own language when known, else the one of the page that caused the mail. */
  private localeFor(user: User, fallback: Locale): Locale {
    return negotiateLocale(user.locale, fallback);
  }

  /** Sends without waiting: the answer must not depend on the mail server (timing), nor fail with it. */
  private deliver(to: string, subject: string, text: string): void {
    this.deps.mailer.send({ to, subject, text }).catch((err: unknown) => this.deps.log.error({ err }, 'sending mail failed'));
  }

  private async emit(type: DomainEventType, tenantId: string, subjectId: string | null, context: EventContext, data: Record<string, unknown>): Promise<void> {
    await this.deps.events.emit({ type, tenantId, subjectId, context, data }, (err) => this.deps.log.error({ err, event: type }, 'event listener failed'));
  }
}

/**
 * Who may recover a password: not a disabled account, nor one an
 * administrator locked (a reset must not undo a suspension). A temporary
 * lockout after failed sign-ins does not stop a reset; the reset ends it.
 */
function mayRecover(user: User): boolean {
  if (user.status === 'disabled') return false;
  return !(user.status === 'locked' && user.lockedUntil === null);
}

/** Field errors for a new password and its confirmation, or undefined when both are fine. */
export function newPasswordProblems(input: NewPassword, policy: TenantPolicy, user: Pick<User, 'username' | 'email'>): FieldErrors | undefined {
  const fields: FieldErrors = {};
  if (!input.password) fields.password = 'required';
  else {
    const violation = checkPassword(input.password, policy.password, { username: user.username, email: user.email })[0];
    if (violation) fields.password = violation;
  }
  if (!input.confirmation) fields.password_confirm = 'required';
  else if (input.password && input.confirmation !== input.password) fields.password_confirm = 'mismatch';
  return Object.keys(fields).length ? fields : undefined;
}

function parseTarget(target: string | null): ResetTarget {
  try {
    const parsed = JSON.parse(target ?? '') as Partial<ResetTarget>;
    return {
      email: typeof parsed.email === 'string' ? parsed.email : '',
      interaction: typeof parsed.interaction === 'string' ? parsed.interaction : null,
    };
  } catch {
    return { email: '', interaction: null };
  }
}
