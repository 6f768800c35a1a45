import type { User } from '../identity/model.js';
import { actingTenant, isLocked } from '../identity/model.js';
import { SignInSources } from '../identity/sign-in-sources.js';
import type { KnownSource } from '../identity/sign-in-sources.js';
import { ACCOUNT, MFA } from '../identity/lockout-counters.js';
import { DEFAULT_POLICY } from '../identity/policy.js';
import type { TenantRepository, UserRepository } from '../identity/repository.js';
import type { KeyEncryptionKey } from '../oidc/kek.js';
import type { DomainEventType, EventBus, EventContext } from '../audit/events.js';
import type { EnrolledFactor, FactorKind, FactorProvider, MfaFactors } from './factors.js';
import type { MfaRepository } from './repository.js';
import { generateTotpSecret, groupSecret, matchTotp, totpCodeAlreadyUsed, qrDataUri, totpUri } from './totp.js';
import { generateRecoveryCodes, hashRecoveryCode, normalizeRecoveryCode } from './recovery-codes.js';
import { mfaRequired } from '../interaction/policy.js';
import type { MfaMode } from '../interaction/policy.js';
import type { SignInStateRepository } from '../interaction/state.js';

export interface MfaServiceDeps {
  repo: MfaRepository;
  /** Sign-ins waiting for a second factor (voided by an admin reset). */
  signInStates: Pick<SignInStateRepository, 'deleteOf'>;
  kek: KeyEncryptionKey;
  users: UserRepository;
  tenants: TenantRepository;
  events: EventBus;
  factors: MfaFactors;
  /** Shown as the issuer in authenticator apps. */
  issuerName: string;
  /** The tenant's own name for authenticator apps (its branding), when it has one. */
  issuerNameFor?: (tenantId: string) => Promise<string | undefined>;
  onEventError?: (err: unknown) => void;
  /** Known sources (identity/sign-in-sources.ts): wrong codes from a known device or address lock that source only. */
  sources?: SignInSources;
}

/** A TOTP enrollment waiting for its first code, as the setup page shows it. */
export interface TotpSetup {
  id: string;
  secret: string;
  groupedSecret: string;
  uri: string;
  qr: string;
}

/** `already_used`: the right code a second time (refused and counted like a wrong one; only the message differs). */
export type VerifyOutcome = { ok: true } | { ok: false; reason: 'invalid' | 'already_used' | 'locked' };
export type RecoveryOutcome = { ok: true; remaining: number } | { ok: false; reason: 'invalid' | 'locked' };
export type RemoveOutcome = 'removed' | 'not_found' | 'last_factor_required';

/** Pending TOTP enrollments live this long (time to find the phone and scan). */
const PENDING_TOTP_MS = 15 * 60_000;
/** With this many recovery codes left or fewer, the user is told to make new ones. */
export const RECOVERY_LOW = 3;

/**
 * MFA domain logic, free of HTTP: TOTP enrollment and verification, recovery
 * codes, factor removal under policy, admin reset, and the lockout count of
 * wrong codes. Emits `mfa.*` events (never with a secret or a code).
 */
export class MfaService {
  private readonly recoveryKey: string;

  constructor(private readonly deps: MfaServiceDeps) {
    this.recoveryKey = deps.kek.derive('mfa recovery codes');
  }

  /** The factor providers for TOTP and recovery codes (registered with `MfaFactors` by the feature). */
  providers(): FactorProvider[] {
    const { repo } = this.deps;
    return [
      {
        kind: 'totp',
        amr: ['otp'],
        list: async (userId) => (await repo.listTotp(userId)).map((t) => ({
          id: t.id, kind: 'totp' as const, label: t.label, createdAt: t.confirmedAt ?? t.createdAt, lastUsedAt: t.lastUsedAt,
        })),
        remove: (userId, id) => repo.deleteTotp(userId, id),
        removeAll: (userId) => repo.deleteAllTotp(userId),
      },
      {
        kind: 'recovery_code',
        // RFC 8176 has no value for recovery codes; a single-use pre-shared code is a one-time password (docs/mfa.md).
        amr: ['otp'],
        countsAsSecondFactor: false,
        list: async (userId) => {
          const s = await repo.recoveryStatus(userId);
          return s.remaining > 0 ? [{ id: 'recovery-codes', kind: 'recovery_code' as const, label: `${s.remaining}/${s.total}`, createdAt: s.createdAt ?? 0, lastUsedAt: null }] : [];
        },
        remove: async (userId) => (await repo.deleteRecoveryCodes(userId)) > 0,
        // The set of codes is one factor (as `list` shows it).
        removeAll: async (userId) => ((await repo.deleteRecoveryCodes(userId)) > 0 ? 1 : 0),
      },
    ];
  }

  // ---- TOTP -------------------------------------------------------------

  /** Starts an enrollment: a new secret, stored encrypted until a first code confirms it. */
  async startTotp(user: User): Promise<TotpSetup> {
    // Enrollments nobody confirmed expire; their rows go here (one per user at most in any case).
    await this.deps.repo.sweep();
    const secret = generateTotpSecret();
    const id = await this.deps.repo.createPendingTotp(user.id, this.deps.kek.encrypt(secret), PENDING_TOTP_MS);
    return this.setupView(user, id, secret);
  }

  /** The setup page of a pending enrollment again (after a wrong first code), or undefined when it expired. */
  async pendingTotp(user: User, id: string): Promise<TotpSetup | undefined> {
    const pending = await this.deps.repo.findPendingTotp(user.id, id);
    return pending ? this.setupView(user, id, this.deps.kek.decrypt(pending.encryptedSecret)) : undefined;
  }

  /**
   * Enables a pending enrollment once the user proves the app has the secret.
   * The first code's time step is recorded, so it cannot be used to sign in.
   * The first second factor comes with recovery codes (returned to show once).
   */
  async confirmTotp(user: User, id: string, code: string, label: string, context: EventContext = {}):
    Promise<{ ok: true; factorId: string; recoveryCodes?: string[] } | { ok: false; reason: 'expired' | 'invalid' }> {
    const pending = await this.deps.repo.findPendingTotp(user.id, id);
    if (!pending) return { ok: false, reason: 'expired' };
    const step = matchTotp(this.deps.kek.decrypt(pending.encryptedSecret), code, null);
    if (step === null) return { ok: false, reason: 'invalid' };
    const hadSecondFactor = await this.deps.factors.hasSecondFactor(user.id);
    if (!(await this.deps.repo.confirmTotp(user.id, id, label, step))) return { ok: false, reason: 'expired' };
    await this.emit('mfa.enrolled', user, context, { kind: 'totp', factorId: id, label });
    const recoveryCodes = await this.codesForFirstFactor(user, hadSecondFactor, context);
    return recoveryCodes ? { ok: true, factorId: id, recoveryCodes } : { ok: true, factorId: id };
  }

  /**
   * Recovery codes for a user who just enrolled their first second factor of
   * any kind (an authenticator app, a passkey) and has none yet: returned once,
   * to show. Undefined when the user had a factor before or still has codes.
   */
  async codesForFirstFactor(user: User, hadSecondFactor: boolean, context: EventContext = {}): Promise<string[] | undefined> {
    if (hadSecondFactor) return undefined;
    const { remaining } = await this.deps.repo.recoveryStatus(user.id);
    if (remaining > 0) return undefined;
    return this.regenerateRecoveryCodes(user, context, 'first_factor');
  }

  /**
   * Verifies a TOTP code against the user's authenticators. A matching code
   * is accepted only if its time step is newer than the last one used (one
   * conditional UPDATE): a code works once. Wrong and replayed codes count
   * toward the lockout; a locked account is refused without looking.
   */
  async verifyTotp(user: User, code: string, context: EventContext = {}): Promise<VerifyOutcome> {
    const current = await this.deps.users.findById(user.id);
    const source = current ? await this.deps.sources?.resolve(current.id, context) : undefined;
    if (!current || lockedFor(current, source)) return { ok: false, reason: 'locked' };
    let alreadyUsed = false;
    for (const t of await this.deps.repo.listTotp(user.id)) {
      const secret = this.deps.kek.decrypt(t.encryptedSecret);
      const step = matchTotp(secret, code, t.lastStep);
      if (step !== null && (await this.deps.repo.advanceTotpStep(t.id, step))) {
        await this.afterSuccess(user.id);
        return { ok: true };
      }
      alreadyUsed ||= totpCodeAlreadyUsed(secret, code, t.lastStep);
    }
    if (await this.recordFailure(current, 'totp', context, source)) return { ok: false, reason: 'locked' };
    return { ok: false, reason: alreadyUsed ? 'already_used' : 'invalid' };
  }

  // ---- recovery codes ---------------------------------------------------

  /** New recovery codes (the old ones stop working); returned once, stored as digests. */
  async regenerateRecoveryCodes(user: User, context: EventContext = {}, reason = 'regenerated'): Promise<string[]> {
    const codes = generateRecoveryCodes();
    const hashes = codes.map((c) => hashRecoveryCode(this.recoveryKey, user.id, normalizeRecoveryCode(c)!));
    await this.deps.repo.replaceRecoveryCodes(user.id, hashes);
    await this.emit('mfa.recovery_codes_regenerated', user, context, { count: codes.length, reason });
    return codes;
  }

  /**
   * Uses a recovery code (once). Malformed input is refused by the caller's
   * schema before it gets here; a well-formed wrong code counts toward the lockout.
   */
  async useRecoveryCode(user: User, input: string, context: EventContext = {}): Promise<RecoveryOutcome> {
    const current = await this.deps.users.findById(user.id);
    const source = current ? await this.deps.sources?.resolve(current.id, context) : undefined;
    if (!current || lockedFor(current, source)) return { ok: false, reason: 'locked' };
    const canonical = normalizeRecoveryCode(input);
    const used = canonical !== undefined
      && (await this.deps.repo.useRecoveryCode(user.id, hashRecoveryCode(this.recoveryKey, user.id, canonical)));
    if (!used) {
      return (await this.recordFailure(current, 'recovery_code', context, source)) ? { ok: false, reason: 'locked' } : { ok: false, reason: 'invalid' };
    }
    await this.afterSuccess(user.id);
    const { remaining } = await this.deps.repo.recoveryStatus(user.id);
    await this.emit('mfa.recovery_code_used', user, context, { remaining, low: remaining <= RECOVERY_LOW });
    return { ok: true, remaining };
  }

  /** True when the user has a confirmed authenticator app. */
  async hasTotp(userId: string): Promise<boolean> {
    return (await this.deps.repo.listTotp(userId)).length > 0;
  }

  async recoveryStatus(userId: string): Promise<{ total: number; remaining: number }> {
    return this.deps.repo.recoveryStatus(userId);
  }

  // ---- factors and policy -----------------------------------------------

  /** True when policy makes MFA mandatory for this user (tenant mode or role; `client`: a client's setting). */
  async requiredFor(user: User, client?: MfaMode): Promise<boolean> {
    const policy = (await this.deps.tenants.findById(user.tenantId))?.policy ?? DEFAULT_POLICY;
    return mfaRequired({ tenant: policy.mfa, client, roles: user.roles });
  }

  /** The user's second factors (every kind that counts; recovery codes do not). */
  async secondFactors(userId: string): Promise<EnrolledFactor[]> {
    return (await this.deps.factors.forUser(userId)).filter((f) => this.deps.factors.provider(f.kind)?.countsAsSecondFactor !== false);
  }

  /**
   * Removes one factor of any registered kind. The last second factor cannot
   * go while policy requires MFA for the user (they would be locked into
   * re-enrolling at the next sign-in, or locked out). When the last one goes,
   * the recovery codes go with it: they only stand in for a second factor.
   */
  async removeFactor(user: User, kind: FactorKind, factorId: string, context: EventContext = {}): Promise<RemoveOutcome> {
    const provider = this.deps.factors.provider(kind);
    if (!provider) return 'not_found';
    const own = await provider.list(user.id);
    if (!own.some((f) => f.id === factorId)) return 'not_found';
    const counts = provider.countsAsSecondFactor !== false;
    const others = (await this.secondFactors(user.id)).filter((f) => !(f.kind === kind && f.id === factorId));
    if (counts && others.length === 0 && (await this.requiredFor(user))) return 'last_factor_required';
    if (!(await provider.remove(user.id, factorId))) return 'not_found';
    await this.emit('mfa.removed', user, context, { kind, factorId });
    if (counts && others.length === 0 && (await this.deps.repo.deleteRecoveryCodes(user.id)) > 0) {
      await this.emit('mfa.removed', user, context, { kind: 'recovery_code', reason: 'last_second_factor_removed' });
    }
    return 'removed';
  }

  /**
   * An administrator's reset: every factor of every kind goes, and sign-ins
   * waiting for a second factor are voided. At the next sign-in policy
   * decides again (enrollment if MFA is required). `context.actorId` names the
   * admin; `audit` (the actor's kind and the channel) joins the entry's details.
   */
  async reset(user: User, context: EventContext, audit: Record<string, unknown> = {}): Promise<number> {
    const removed = await this.deps.factors.removeAll(user.id);
    await this.deps.repo.deleteAllTotp(user.id); // pending enrollments too
    await this.deps.signInStates.deleteOf(user.id);
    await this.clearMfaFailures(user.id);
    await this.emit('mfa.reset', user, context, { ...audit, removed });
    return removed;
  }

  private async setupView(user: User, id: string, secret: string): Promise<TotpSetup> {
    const account = user.email ?? user.username ?? user.id;
    const uri = totpUri(secret, (await this.deps.issuerNameFor?.(user.tenantId)) ?? this.deps.issuerName, account);
    return { id, secret, groupedSecret: groupSecret(secret), uri, qr: await qrDataUri(uri) };
  }

  /** A correct second factor clears both failure counts (the account's and the MFA one). */
  private async afterSuccess(userId: string): Promise<void> {
    await this.clearMfaFailures(userId);
    await this.deps.users.clearLoginFailures(userId);
    // With the counts in Redis, the account's count is there (the row's clear above ends an expired lock).
    const counters = this.deps.sources?.counters;
    if (counters?.kind === 'redis') await counters.resetFailures(userId, ACCOUNT);
  }

  /** Forgets the count of wrong codes: in the lockout counters (database or Redis), or the MFA table without them. */
  private async clearMfaFailures(userId: string): Promise<void> {
    if (this.deps.sources) await this.deps.sources.counters.resetFailures(userId, MFA);
    else await this.deps.repo.clearFailures(userId);
  }

  /**
   * Counts a wrong code toward the account lockout, on two counters: the
   * account's (shared with passwords) and the MFA one, which a correct
   * password does not reset; otherwise someone holding the password could
   * interleave password sign-ins to guess codes without ever locking.
   * From a known source (a device or address that finished a sign-in of
   * the account before), the source's own count is used: reaching the limit
   * locks that source only, not the account for everyone else.
   * Returns true when this failure locked the account (or the source).
   */
  private async recordFailure(user: User, kind: FactorKind, context: EventContext, source?: KnownSource): Promise<boolean> {
    // The thresholds of the tenant signed in to (a member's other tenant: user.memberOf).
    const { lockout } = (await this.deps.tenants.findById(actingTenant(user)))?.policy ?? DEFAULT_POLICY;
    const now = Date.now();
    const windowStart = now - lockout.window_seconds * 1000;
    const mfaFailures = this.deps.sources
      ? await this.deps.sources.counters.countFailure(user.id, MFA, now, lockout.window_seconds * 1000)
      : await this.deps.repo.incrementFailures(user.id, now, windowStart);
    if (source && this.deps.sources) {
      // A known source finished a whole sign-in before (second factor included): its count is its own, and
      // only a correct second factor there starts it over, so interleaved passwords buy no guesses either.
      const { failures, until } = await this.deps.sources.recordFailure(user.id, source, lockout, now);
      await this.emit('mfa.challenge_failed', user, context, { kind, failures });
      if (!until) return false;
      await this.emit('user.locked', user, context, { until, failures, reason: 'failed_mfa', scope: `known_${source.kind}` });
      return true;
    }
    let failures: number;
    let until: number | undefined;
    if (this.deps.sources) {
      // The account's bucket for unknown sources, with the count of wrong codes as its floor.
      ({ failures, until } = await this.deps.sources.recordFailure(user.id, undefined, lockout, now, mfaFailures));
      await this.emit('mfa.challenge_failed', user, context, { kind, failures });
      if (!until) return false;
    } else {
      failures = Math.max(mfaFailures, await this.deps.users.incrementLoginFailures(user.id, now, windowStart));
      await this.emit('mfa.challenge_failed', user, context, { kind, failures });
      if (failures < lockout.max_failures) return false;
      until = now + lockout.duration_seconds * 1000;
      await this.deps.users.lock(user.id, until);
    }
    await this.clearMfaFailures(user.id);
    await this.emit('user.locked', user, context, { until, failures, reason: 'failed_mfa', scope: 'unknown_sources' });
    return true;
  }

  private async emit(type: DomainEventType, user: User, context: EventContext, data: Record<string, unknown>): Promise<void> {
    await this.deps.events.emit({ type, tenantId: user.tenantId, subjectId: user.id, context, data }, this.deps.onEventError);
  }
}

/** As IdentityService.lockedFor: an administrator's lock always; a temporary lock for the bucket that counted its failures. */
function lockedFor(user: User, source: KnownSource | undefined): boolean {
  if (!source) return isLocked(user);
  return (user.status === 'locked' && user.lockedUntil === null) || SignInSources.locked(source);
}
