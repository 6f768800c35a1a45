import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Platform } from '../platform.js';
import type { User } from '../identity/model.js';
import { isUsable } from '../identity/model.js';
import { DEFAULT_POLICY } from '../identity/policy.js';
import { ACR_MFA, ACR_PASSWORD } from '../oidc/acr.js';
import { AppError } from '../http/errors.js';
import { finishInteraction, loadInteraction } from '../interaction/details.js';
import type { InteractionDetails } from '../interaction/details.js';
import type { EventContext } from '../audit/events.js';
import { createMfaRepository } from './repository.js';
import type { LoginState, MfaRepository } from './repository.js';
import { clientMfaMode, combineAmr, decideMfa } from './policy.js';
import type { MfaAction } from './policy.js';
import { STEP_UP_REASONS, wantsMfa } from './step-up.js';
import { signInTenant } from '../interaction/tenant.js';

/**
 * The MFA step of the hosted sign-in, between the first factor and the
 * engine's interaction result. Contract for every factor kind (TOTP and
 * recovery codes in ./routes.ts, passkeys in ./passkeys/):
 *
 * - after a first factor, `afterFirstFactor` decides (./policy.ts) and either
 *   finishes at the password level or records "first factor done for account
 *   X" server-side, keyed by the engine interaction uid (bound to the browser
 *   by the engine's interaction cookie; never trusted from a form), and sends
 *   the browser to GET /interaction/:uid/mfa;
 * - a factor that verified a second factor calls `completeMfa(request, reply,
 *   { uid, accountId, amr })`: the account must be the one recorded, and the
 *   sign-in finishes with acr MFA and the amr of both factors;
 * - a passkey used as the first and only factor calls `completePasswordless`:
 *   with user verification (amr includes 'user' or 'pin') it is multi-factor
 *   on its own (possession + inherence/knowledge) and finishes at the MFA
 *   level; without, it counts as a first factor and policy decides as for a
 *   password.
 */

/** Pending first factors expire well before the engine's interaction (1 h). */
const STATE_TTL_MS = 15 * 60_000;
/** amr values that mean the authenticator verified the user (RFC 8176: biometric or PIN). */
const USER_VERIFIED = ['user', 'pin', 'fpt', 'face', 'iris', 'retina', 'vbm'];

export interface SecondFactorResult {
  /** The engine interaction uid (from the route). */
  uid: string;
  /** The account the factor was verified for; must match the recorded first factor. */
  accountId: string;
  /** RFC 8176 values of the second factor, e.g. ['otp'] or ['hwk', 'user']. */
  amr: string[];
}

export type PasswordlessResult = SecondFactorResult;

/** A sign-in waiting for its second factor, as a factor's routes need it. */
export interface PendingMfa {
  details: InteractionDetails;
  uid: string;
  state: LoginState;
  user: User;
}

export type LoginStepDeps = Pick<Platform, 'provider' | 'users' | 'clients' | 'tenants' | 'events' | 'mfa' | 'log'> & { repo?: MfaRepository; db: Platform['db'] };

export class LoginStep {
  readonly repo: MfaRepository;

  constructor(private readonly deps: LoginStepDeps) {
    this.repo = deps.repo ?? createMfaRepository(deps.db);
  }

  /** What policy asks of this user signing in to the interaction's client. */
  async decide(details: InteractionDetails, user: User): Promise<{ action: MfaAction; required: boolean }> {
    const client = await this.deps.clients.find(String(details.params.client_id));
    const tenant = (await this.deps.tenants.findById(user.tenantId))?.policy ?? DEFAULT_POLICY;
    return decideMfa({
      tenant: tenant.mfa,
      client: clientMfaMode(client?.metadata),
      roles: user.roles,
      acrRequested: wantsMfa(details.params),
      hasSecondFactor: await this.deps.mfa.hasSecondFactor(user.id),
    });
  }

  /**
   * Called once a first factor succeeded: finishes at the password level when
   * no second factor is due, otherwise records the first factor and sends the
   * browser to the MFA page.
   */
  async afterFirstFactor(request: FastifyRequest, reply: FastifyReply, details: InteractionDetails, user: User, amr: string[]): Promise<FastifyReply> {
    const { action } = await this.decide(details, user);
    if (action === 'skip') {
      return finishInteraction(this.deps.provider, request, reply, { login: { accountId: user.id, acr: ACR_PASSWORD, amr, remember: true } });
    }
    await this.record(details.uid, user.id, amr, false);
    return reply.redirect(`/interaction/${details.uid}/mfa`, 303);
  }

  /**
   * Step-up (RFC 9470 style): the login prompt came back only because the
   * session's acr is too weak for the request. The session already proves
   * the first factor, so only the missing one is asked (as Keycloak does).
   * Returns undefined when this interaction is not such a step-up (the
   * normal sign-in page is shown).
   */
  async stepUp(request: FastifyRequest, reply: FastifyReply, details: InteractionDetails): Promise<FastifyReply | undefined> {
    const session = details.session;
    const reasons = (details.prompt.reasons ?? []) as string[];
    if (details.prompt.name !== 'login' || !session?.accountId || !reasons.length || !reasons.every((r) => STEP_UP_REASONS.has(r))) return undefined;
    const user = await this.deps.users.findById(session.accountId);
    if (!user || !isUsable(user)) return undefined;
    const amr = Array.isArray(session.amr) && session.amr.length ? session.amr.filter((v) => v !== 'mfa') : ['pwd'];
    await this.record(details.uid, user.id, amr, true);
    return reply.redirect(`/interaction/${details.uid}/mfa`, 303);
  }

  /**
   * The sign-in waiting for a second factor in this request's interaction.
   * @throws AppError 400 `session_expired` when the interaction or its first factor is missing or expired,
   *   or the session's account changed since a step-up began.
   */
  async pending(request: FastifyRequest, reply: FastifyReply): Promise<PendingMfa> {
    const { details, uid } = await loadInteraction(this.deps.provider, request, reply);
    const expired = () => new AppError('session_expired', 400, 'This sign-in session has expired. Go back to the application and start again.');
    if (details.prompt.name !== 'login') throw expired();
    const state = await this.repo.findLoginState(uid);
    if (!state) throw expired();
    // A step-up stands on the session: it must still be the same account's.
    if (state.stepUp && details.session?.accountId !== state.userId) throw expired();
    const user = await this.deps.users.findById(state.userId);
    if (!user) throw expired();
    return { details, uid, state, user };
  }

  /**
   * Finishes a sign-in whose second factor was verified: acr MFA, amr of both factors, fresh auth_time.
   * @throws AppError 400 `session_expired` (see `pending`), or when `accountId` is not the recorded account.
   */
  async complete(request: FastifyRequest, reply: FastifyReply, result: SecondFactorResult): Promise<FastifyReply> {
    const pending = await this.pending(request, reply);
    if (pending.uid !== result.uid || pending.user.id !== result.accountId) {
      throw new AppError('session_expired', 400, 'This sign-in session has expired. Go back to the application and start again.');
    }
    return this.finishMfa(request, reply, pending, result.amr);
  }

  /** Finishes with a second factor already verified (the pending state and user were loaded by the caller). */
  async finishMfa(request: FastifyRequest, reply: FastifyReply, pending: PendingMfa, secondAmr: string[]): Promise<FastifyReply> {
    // Locked (e.g. by wrong codes) or disabled since the first factor: no factor of any kind finishes the sign-in.
    const current = await this.deps.users.findById(pending.user.id);
    if (!current || !isUsable(current)) throw new AppError('access_denied', 403, 'This account cannot sign in right now.');
    const amr = combineAmr(pending.state.amr, secondAmr, true);
    await this.repo.deleteLoginState(pending.uid);
    // A second factor succeeded: both failure counts start over (wrong codes before it no longer count).
    await this.repo.clearFailures(current.id);
    if (current.failedLogins > 0) await this.deps.users.clearLoginFailures(current.id);
    await this.emit('mfa.verified', pending.user, request, { amr, stepUp: pending.state.stepUp });
    return finishInteraction(this.deps.provider, request, reply, { login: { accountId: pending.user.id, acr: ACR_MFA, amr, remember: true } });
  }

  /** Finishes at the password level (the policy no longer asks for a second factor, e.g. after an admin reset). */
  async finishFirstFactorOnly(request: FastifyRequest, reply: FastifyReply, pending: PendingMfa): Promise<FastifyReply> {
    await this.repo.deleteLoginState(pending.uid);
    if (pending.state.stepUp) throw new AppError('access_denied', 403, 'A second factor is required for this application.');
    return finishInteraction(this.deps.provider, request, reply, {
      login: { accountId: pending.user.id, acr: ACR_PASSWORD, amr: pending.state.amr, remember: true },
    });
  }

  /**
   * A passkey as the first and only factor (the passkeys feature verified it
   * for `accountId`, in the interaction's tenant).
   * @throws AppError 400 `session_expired` when the interaction is gone or not at the login prompt;
   *   403 `access_denied` when the account may not sign in.
   */
  async completePasswordless(request: FastifyRequest, reply: FastifyReply, result: PasswordlessResult): Promise<FastifyReply> {
    const { details, uid } = await loadInteraction(this.deps.provider, request, reply);
    if (uid !== result.uid || details.prompt.name !== 'login') {
      throw new AppError('session_expired', 400, 'This sign-in session has expired. Go back to the application and start again.');
    }
    const user = await this.deps.users.findById(result.accountId);
    if (!user || !isUsable(user) || user.tenantId !== (await signInTenant(this.deps.clients, details.params))) {
      throw new AppError('access_denied', 403, 'This passkey cannot be used to sign in here.');
    }
    await this.deps.users.clearLoginFailures(user.id);
    await this.emit('login.succeeded', user, request, { method: 'passkey', amr: result.amr });
    const multiFactor = result.amr.some((v) => USER_VERIFIED.includes(v));
    if (multiFactor) {
      return finishInteraction(this.deps.provider, request, reply, {
        login: { accountId: user.id, acr: ACR_MFA, amr: combineAmr(result.amr, [], true), remember: true },
      });
    }
    return this.afterFirstFactor(request, reply, details, user, result.amr);
  }

  private async record(uid: string, userId: string, amr: string[], stepUp: boolean): Promise<void> {
    await this.repo.sweep().catch((err) => this.deps.log.warn({ err }, 'mfa sweep failed'));
    await this.repo.putLoginState({ uid, userId, amr, stepUp, expiresAt: Date.now() + STATE_TTL_MS });
  }

  private async emit(type: 'mfa.verified' | 'login.succeeded', user: User, request: FastifyRequest, data: Record<string, unknown>): Promise<void> {
    const context: EventContext = { ip: request.ip, userAgent: request.headers['user-agent'] ?? null };
    await this.deps.events.emit({ type, tenantId: user.tenantId, subjectId: user.id, context, data },
      (err) => this.deps.log.error({ err }, 'event listener failed'));
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The MFA login step (mfa/login-step.ts); set by `installLoginStep`. */
    tesseraLoginStep: LoginStep;
  }
}

/** Creates the login step for the app and makes it reachable from every request (`loginStepOf`). */
export function installLoginStep(app: FastifyInstance, platform: LoginStepDeps): LoginStep {
  const step = new LoginStep(platform);
  app.decorate('tesseraLoginStep', step);
  return step;
}

/** @throws Error when the MFA login step was not installed (a wiring mistake). */
export function loginStepOf(request: FastifyRequest): LoginStep {
  const step = request.server.tesseraLoginStep;
  if (!step) throw new Error('the MFA login step is not installed');
  return step;
}

/**
 * Finishes a sign-in after a successful second factor of any kind (see the
 * contract above). Redirects (303) back to the engine.
 * @throws AppError 400 `session_expired` when the interaction, its recorded first factor or the account do not match.
 */
export function completeMfa(request: FastifyRequest, reply: FastifyReply, result: SecondFactorResult): Promise<FastifyReply> {
  return loginStepOf(request).complete(request, reply, result);
}

/**
 * Finishes a passwordless sign-in (a passkey as the first factor): acr MFA
 * and amr e.g. ['hwk', 'user', 'mfa'] with user verification; otherwise the
 * MFA policy applies as after a password.
 * @throws AppError 400 `session_expired`, 403 `access_denied`.
 */
export function completePasswordless(request: FastifyRequest, reply: FastifyReply, result: PasswordlessResult): Promise<FastifyReply> {
  return loginStepOf(request).completePasswordless(request, reply, result);
}

/**
 * The sign-in waiting for its second factor in this request's interaction
 * (its user, whether it is a step-up): what a factor's challenge endpoint
 * needs before it verifies anything.
 * @throws AppError 400 `session_expired`.
 */
export function pendingSecondFactor(request: FastifyRequest, reply: FastifyReply): Promise<PendingMfa> {
  return loginStepOf(request).pending(request, reply);
}
