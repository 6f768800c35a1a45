import type { FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { User } from '../identity/model.js';
import { actingTenant, isUsable } from '../identity/model.js';
import { attemptDevice, issueDevice, throttleKey } from '../http/device-cookie.js';
import type { SignInSources } from '../identity/sign-in-sources.js';
import { ACCOUNT } from '../identity/lockout-counters.js';
import type { TenantRepository, UserRepository } from '../identity/repository.js';
import { DEFAULT_POLICY } from '../identity/policy.js';
import type { ClientRepository } from '../oidc/repository.js';
import { ACR_MFA, ACR_PASSWORD } from '../oidc/acr.js';
import { AppError } from '../http/errors.js';
import type { FailureThrottle } from '../http/throttle.js';
import type { EventBus, EventContext } from '../audit/events.js';
import { finishInteraction, interactionPageContext, interactionPageHeaders, loadInteraction } from './details.js';
import { layout } from '../web/layout.js';
import type { InteractionDetails } from './details.js';
import type { MethodResult, SignInMethods } from './methods.js';
import { stepsFor } from './pipeline.js';
import type { Entry } from './pipeline.js';
import type { CompletedMethod, SignInState, SignInStateRepository } from './state.js';
import { achievedAcr, achievedAmr } from './assurance.js';
import { clientMfaMode, decideMfa } from './policy.js';
import type { MfaAction } from './policy.js';
import { STEP_UP_REASONS, wantsMfa } from './step-up.js';
import { membersSignIn, signInTenant } from './tenant.js';
import { assigned } from '../oidc/app-assignment.js';
import type { SignInPageExtra } from './sign-in-page.js';
import { createSecondFactorPages } from './second-factor.js';
import type { SecondFactorDeps, SecondFactorError, SecondFactorPages } from './second-factor.js';

/** A sign-in at its login prompt, as a method's route loads it. */
export interface SignInContext {
  details: InteractionDetails;
  uid: string;
  tenantId: string;
}

/** A sign-in waiting for a second factor, as a second-factor method's route loads it. */
export interface PendingSignIn {
  details: InteractionDetails;
  uid: string;
  state: SignInState;
  user: User;
}

/**
 * The only interaction module a method needs: load the sign-in, hand over
 * what was verified, report failures. Every completion goes through
 * `complete`, so acr/amr, MFA policy and account checks live in one place.
 */
export interface SignInFlow {
  /**
   * The interaction at its login prompt.
   * @throws AppError 400 `session_expired` (missing, expired or another browser's); 400 `invalid_request` past the login prompt.
   */
  load(request: FastifyRequest, reply: FastifyReply): Promise<SignInContext>;
  /**
   * The sign-in waiting for a second factor in this request's interaction.
   * @throws AppError 400 `session_expired` when the interaction or its first factor is missing or expired,
   *   or the session's account changed since a step-up began.
   */
  pending(request: FastifyRequest, reply: FastifyReply): Promise<PendingSignIn>;
  /**
   * The one completion: runs the pipeline's method steps (account, checks,
   * level, second factor, interstitial, finish).
   * @throws AppError 400 `session_expired`, 403 `access_denied`.
   */
  complete(request: FastifyRequest, reply: FastifyReply, result: MethodResult): Promise<FastifyReply>;
  /** A failed attempt of a method: counts toward the per-address throttle and is logged. */
  failed(request: FastifyRequest, method: string, reason: string): void;
  /** @throws AppError 429 `too_many_requests` while this address has used up its failed-attempt allowance. */
  guard(request: FastifyRequest): void;
  /** What policy asks of this user signing in to the interaction's client. */
  decide(details: InteractionDetails, user: User): Promise<{ action: MfaAction; required: boolean }>;
  /** Stores a method's scratch value with the pending sign-in. */
  setData(uid: string, key: string, value: unknown): Promise<void>;
  /** The second-factor challenge again, e.g. with an error after a wrong code (set the status on `reply`). */
  challengePage(request: FastifyRequest, reply: FastifyReply, pending: PendingSignIn, error?: SecondFactorError): Promise<FastifyReply>;
  /** The enrollment page again (MFA required, no factor yet), e.g. with an error. */
  enrollPage(request: FastifyRequest, reply: FastifyReply, pending: PendingSignIn, error?: SecondFactorError): Promise<FastifyReply>;
  /** The sign-in page again, e.g. with an error after a wrong password (set the status on `reply`). */
  signInPage(request: FastifyRequest, reply: FastifyReply, signIn: SignInContext, extra?: SignInPageExtra): Promise<FastifyReply>;
}

/** Renders the page of first factors (sign-in page). */
export type ChoicePage = (request: FastifyRequest, reply: FastifyReply, ctx: SignInContext, extra?: SignInPageExtra) => Promise<FastifyReply>;

export interface PipelineDeps {
  provider: () => Provider;
  users: Pick<UserRepository, 'findById' | 'findInTenant' | 'clearLoginFailures'>;
  clients: Pick<ClientRepository, 'find'>;
  tenants: Pick<TenantRepository, 'findById'>;
  events: EventBus;
  log: Logger;
  throttle: FailureThrottle;
  /** Known sign-in sources: a finished sign-in records its device and address. */
  sources?: Pick<SignInSources, 'succeeded' | 'counters'>;
  states: SignInStateRepository;
  methods: SignInMethods;
  /** True when the user has a factor that can stand as a second factor (the factor registry). */
  hasSecondFactor(userId: string): Promise<boolean>;
  /** The sign-in page (sign-in-page.ts). */
  choicePage: ChoicePage;
  /** What the second-factor pages compose (second-factor.ts). */
  secondFactor: SecondFactorDeps;
}

/** Pending sign-ins expire well before the engine's interaction (1 h). */
const STATE_TTL_MS = 15 * 60_000;

/** One pass through the pipeline. */
interface Run {
  entry: Entry;
  request: FastifyRequest;
  reply: FastifyReply;
  details?: InteractionDetails;
  uid?: string;
  tenantId?: string;
  state?: SignInState;
  result?: MethodResult;
  user?: User;
  completed?: CompletedMethod[];
  /** What MFA policy asks of this sign-in (assurance). */
  action?: MfaAction;
}

/** What a step returns once it has replied (a page, a redirect): the pipeline stops. */
const STOP = Symbol('stop');
type StepOut = typeof STOP | undefined;

const expired = () => new AppError('session_expired', 400, 'This sign-in session has expired. Go back to the application and start again.');

/** The pipeline's steps (named in pipeline.ts) and the flow methods use. */
export class SignInPipeline implements SignInFlow {
  readonly pages: SecondFactorPages;

  constructor(private readonly deps: PipelineDeps) {
    this.pages = createSecondFactorPages(deps.secondFactor, this);
  }

  /** GET /interaction/:uid at the login prompt. */
  page(request: FastifyRequest, reply: FastifyReply, loaded?: { details: InteractionDetails; uid: string }): Promise<FastifyReply> {
    return this.run({ entry: 'page', request, reply, ...loaded });
  }

  complete(request: FastifyRequest, reply: FastifyReply, result: MethodResult): Promise<FastifyReply> {
    return this.run({ entry: 'method', request, reply, result });
  }

  async load(request: FastifyRequest, reply: FastifyReply): Promise<SignInContext> {
    const { details, uid } = await loadInteraction(this.deps.provider, request, reply);
    if (details.prompt.name !== 'login') throw new AppError('invalid_request', 400, 'This sign-in step has already been completed.');
    return { details, uid, tenantId: await signInTenant(this.deps.clients, details.params) };
  }

  async pending(request: FastifyRequest, reply: FastifyReply): Promise<PendingSignIn> {
    const { details, uid } = await loadInteraction(this.deps.provider, request, reply);
    if (details.prompt.name !== 'login') throw expired();
    const state = await this.deps.states.find(uid);
    if (!state) throw expired();
    // A step-up stands on the session: it must still be the same account's.
    if (state.stepUp && details.session?.accountId !== state.userId) throw expired();
    const user = await this.userFor(state.userId, details);
    if (!user) throw expired();
    return { details, uid, state, user };
  }

  failed(request: FastifyRequest, method: string, reason: string): void {
    // Per device when the browser has a device cookie, else per address: others behind the same NAT are not blocked with it.
    this.deps.throttle.recordFailure(throttleKey(request));
    request.log.info({ event: 'signin.method_failed', method, reason }, 'sign-in method failed');
  }

  guard(request: FastifyRequest): void {
    if (this.deps.throttle.isBlocked(throttleKey(request))) {
      throw new AppError('too_many_requests', 429, 'Too many failed sign-in attempts. Wait a minute and try again.');
    }
  }

  async decide(details: InteractionDetails, user: User): Promise<{ action: MfaAction; required: boolean }> {
    const client = await this.deps.clients.find(String(details.params.client_id));
    // The policy of the tenant signed in to: a member's (user.memberOf) or the home tenant's; roles are that tenant's too.
    const tenant = (await this.deps.tenants.findById(actingTenant(user)))?.policy ?? DEFAULT_POLICY;
    return decideMfa({
      tenant: tenant.mfa,
      client: clientMfaMode(client?.metadata),
      roles: user.roles,
      acrRequested: wantsMfa(details.params),
      hasSecondFactor: await this.deps.hasSecondFactor(user.id),
    });
  }

  setData(uid: string, key: string, value: unknown): Promise<void> {
    return this.deps.states.setData(uid, key, value);
  }

  challengePage(request: FastifyRequest, reply: FastifyReply, pending: PendingSignIn, error?: SecondFactorError): Promise<FastifyReply> {
    return this.pages.challenge(request, reply, pending, error);
  }

  enrollPage(request: FastifyRequest, reply: FastifyReply, pending: PendingSignIn, error?: SecondFactorError): Promise<FastifyReply> {
    return this.pages.enroll(request, reply, pending, error);
  }

  signInPage(request: FastifyRequest, reply: FastifyReply, signIn: SignInContext, extra?: SignInPageExtra): Promise<FastifyReply> {
    return this.deps.choicePage(request, reply, signIn, extra);
  }

  /**
   * Finishes a pending sign-in with what it completed (the second-factor
   * page, after an interstitial, or when policy no longer asks for more).
   * @throws AppError 403 `access_denied` on a step-up that policy no longer completes, or an account that may not sign in.
   */
  async finishPending(request: FastifyRequest, reply: FastifyReply, pending: PendingSignIn): Promise<FastifyReply> {
    const { action } = await this.decide(pending.details, pending.user);
    const achieved = achievedAcr(pending.state.completed);
    if (pending.state.stepUp && action === 'skip' && achieved !== ACR_MFA) {
      await this.deps.states.delete(pending.uid);
      throw new AppError('access_denied', 403, 'A second factor is required for this application.');
    }
    const current = await this.userFor(pending.user.id, pending.details);
    if (!current || !isUsable(current)) throw new AppError('access_denied', 403, 'This account cannot sign in right now.');
    await this.finish({
      entry: 'method', request, reply, details: pending.details, uid: pending.uid, state: pending.state, user: current,
      completed: pending.state.completed,
    });
    return reply;
  }

  private async run(run: Run): Promise<FastifyReply> {
    for (const name of stepsFor(run.entry)) {
      // A step that replied says STOP (a Fastify reply is thenable, so it cannot be returned through a promise).
      if ((await this[name](run)) === STOP) return run.reply;
    }
    throw new Error(`the sign-in pipeline ended without a reply (${run.entry})`);
  }

  // ---- steps (pipeline.ts) ----------------------------------------------

  private async loadInteraction(run: Run): Promise<StepOut> {
    if (run.details) return undefined; // loaded by the route already
    const { details, uid } = await loadInteraction(this.deps.provider, run.request, run.reply);
    if (details.prompt.name !== 'login') {
      if (run.entry === 'page') throw new AppError('invalid_request', 400, 'This sign-in step is not supported.');
      throw expired();
    }
    run.details = details;
    run.uid = uid;
    return undefined;
  }

  private async resolveTenant(run: Run): Promise<StepOut> {
    run.tenantId = await signInTenant(this.deps.clients, run.details!.params);
    return undefined;
  }

  private async loadState(run: Run): Promise<StepOut> {
    if (run.entry === 'page') return undefined;
    run.state = await this.deps.states.find(run.uid!);
    if (run.result?.kind !== 'second') return undefined;
    // A second factor needs the recorded first factor; a step-up stands on the same session.
    if (!run.state) throw expired();
    if (run.state.stepUp && run.details!.session?.accountId !== run.state.userId) throw expired();
    return undefined;
  }

  /**
   * Step-up (RFC 9470 style): the login prompt came back only because the
   * session's acr is too weak for the request. The session already proves
   * the first factor, so only the missing one is asked (as Keycloak does).
   */
  private async stepUp(run: Run): Promise<StepOut> {
    const { details, uid } = run;
    const session = details!.session;
    const reasons = (details!.prompt.reasons ?? []) as string[];
    if (!session?.accountId || !reasons.length || !reasons.every((r) => STEP_UP_REASONS.has(r))) return undefined;
    const user = await this.userFor(session.accountId, details!);
    if (!user || !isUsable(user)) return undefined;
    const amr = Array.isArray(session.amr) && session.amr.length ? session.amr.filter((v) => v !== 'mfa') : ['pwd'];
    await this.record(uid!, user.id, [{ method: 'session', amr, at: Date.now() }], true);
    run.reply.redirect(`/interaction/${uid}/mfa`, 303);
    return STOP;
  }

  private async choose(run: Run): Promise<StepOut> {
    await this.deps.choicePage(run.request, run.reply, { details: run.details!, uid: run.uid!, tenantId: run.tenantId! });
    return STOP;
  }

  private async resolveAccount(run: Run): Promise<StepOut> {
    const subject = run.result!.subject;
    if ('userId' in subject) {
      // The account as the method just read it when that is what userFor reads: a user of the sign-in's own
      // tenant (a member from elsewhere gets this tenant's roles from userFor), or any user where members do not sign in.
      const read = subject.user?.id === subject.userId ? subject.user : undefined;
      run.user = read && (read.tenantId === run.tenantId || !membersSignIn(run.details!.params)) ? read : await this.userFor(subject.userId, run.details!, run.tenantId);
      return undefined;
    }
    const step = this.deps.methods.account();
    if (!step) throw new AppError('access_denied', 403, 'This sign-in method is not available.');
    const out = await step({
      request: run.request, reply: run.reply, details: run.details!, uid: run.uid!, tenantId: run.tenantId!,
      result: run.result as MethodResult & { subject: typeof subject },
    });
    if ('paused' in out) return STOP;
    run.user = await this.userFor(out.userId, run.details!, run.tenantId);
    return undefined;
  }

  private async checkUsable(run: Run): Promise<StepOut> {
    const { user, result, state } = run;
    if (result!.kind === 'second') {
      // The factor was verified for the recorded account, or nothing is finished.
      if (!user || user.id !== state!.userId) throw expired();
      if (!isUsable(user)) throw new AppError('access_denied', 403, 'This account cannot sign in right now.');
      return undefined;
    }
    // A user of the client's tenant: its home user, or a member from another tenant (userFor read them for it;
    // a non-member is not found). Either way the same refusal.
    if (!user || !isUsable(user) || actingTenant(user) !== run.tenantId) {
      throw new AppError('access_denied', 403, 'This account cannot sign in here.');
    }
    // App assignment (oidc/app-assignment.ts): a user the client does not list goes back to it with
    // access_denied (RFC 6749 §4.1.2.1), before any second factor is asked for.
    const client = await this.deps.clients.find(String(run.details!.params.client_id));
    if (!assigned(client?.metadata, user)) {
      run.request.log.info({ event: 'signin.not_assigned', client_id: client?.clientId, user_id: user.id }, 'user not assigned to the client');
      await finishInteraction(this.deps.provider, run.request, run.reply, { error: 'access_denied', error_description: 'the user is not assigned to this application' });
      return STOP;
    }
    return undefined;
  }

  private async recordMethod(run: Run): Promise<StepOut> {
    const r = run.result!;
    const entry: CompletedMethod = {
      method: r.method, amr: [...r.amr], at: Date.now(),
      ...(r.provider ? { provider: r.provider } : {}), ...(r.upstreamMfa ? { upstreamMfa: true } : {}),
    };
    // A first factor starts the sign-in over (another account may have been tried before); a second adds to it.
    run.completed = r.kind === 'second' ? [...run.state!.completed, entry] : [entry];
    if (r.kind === 'first') {
      await this.clearAccountFailures(run.user!);
      if (!r.audited) await this.emit('login.succeeded', run.user!, run.request, { method: r.method, amr: r.amr, ...(r.provider ? { provider: r.provider } : {}) });
    }
    return undefined;
  }

  /** Forgets the account's failure count: on the users row when it shows one; in Redis, where the row's count stays 0, always. */
  private async clearAccountFailures(user: User): Promise<void> {
    if (user.failedLogins > 0) await this.deps.users.clearLoginFailures(user.id);
    const counters = this.deps.sources?.counters;
    if (counters?.kind === 'redis') await counters.resetFailures(user.id, ACCOUNT);
  }

  private async assurance(run: Run): Promise<StepOut> {
    run.action = (await this.decide(run.details!, run.user!)).action;
    return undefined;
  }

  private async secondFactor(run: Run): Promise<StepOut> {
    const short = run.action !== 'skip' && achievedAcr(run.completed!) !== ACR_MFA;
    if (!short) return undefined;
    await this.record(run.uid!, run.user!.id, run.completed!, this.keepsStepUp(run));
    run.reply.redirect(`/interaction/${run.uid}/mfa`, 303);
    return STOP;
  }

  private async interstitial(run: Run): Promise<StepOut> {
    const page = run.result!.interstitial;
    if (!page) return undefined;
    await this.record(run.uid!, run.user!.id, run.completed!, this.keepsStepUp(run));
    await this.deps.states.setDone(run.uid!);
    const ctx = interactionPageContext(run.request, run.details!);
    // Interstitials show new recovery codes, whose copy button is a script file (mfa/recovery-script.ts).
    interactionPageHeaders(run.reply, run.details!, { scripts: true }).send(layout(ctx, page.title, page.body(`/interaction/${run.uid}/mfa/continue`)));
    return STOP;
  }

  private async finish(run: Run): Promise<StepOut> {
    const user = run.user!;
    const completed = run.completed!;
    const acr = achievedAcr(completed) ?? ACR_PASSWORD;
    const amr = achievedAmr(completed);
    if (run.state) await this.deps.states.delete(run.uid!);
    if (completed.length > 1 || run.state?.stepUp) {
      await this.clearAccountFailures(user);
      await this.emit('mfa.verified', user, run.request, { amr, stepUp: run.state?.stepUp === true });
    }
    // Every factor is done: this browser (its device cookie, set now if it has none) and address are known
    // sources of the account from now on; failures from elsewhere no longer lock them out (identity/sign-in-sources.ts).
    if (this.deps.sources) {
      const device = attemptDevice(run.request);
      issueDevice(run.request, run.reply, device);
      await this.deps.sources.succeeded(user.id, { ip: run.request.ip, device });
    }
    for (const hook of this.deps.methods.finishing()) {
      if ((await hook({ request: run.request, reply: run.reply, uid: run.uid!, user, amr, acr, completed })) === true) return STOP;
    }
    await finishInteraction(this.deps.provider, run.request, run.reply, { login: { accountId: user.id, acr, amr, remember: true } });
    return STOP;
  }

  /**
   * The user as the sign-in's tenant sees them (docs/identity.md#memberships-in-other-tenants):
   * a member from another tenant with that tenant's roles, undefined for a
   * user who is not a member. The built-in apps serve every tenant but
   * issue home-tenant tokens, so only home users sign in to them.
   */
  private async userFor(id: string, details: InteractionDetails, tenantId?: string): Promise<User | undefined> {
    if (!membersSignIn(details.params)) return this.deps.users.findById(id);
    return this.deps.users.findInTenant(id, tenantId ?? await signInTenant(this.deps.clients, details.params));
  }

  /** A second factor keeps the step-up flag of the sign-in it completes; a first factor starts a plain sign-in. */
  private keepsStepUp(run: Run): boolean {
    return run.result!.kind === 'second' && run.state?.stepUp === true;
  }

  private async record(uid: string, userId: string, completed: CompletedMethod[], stepUp: boolean): Promise<void> {
    await this.deps.states.sweep().catch((err) => this.deps.log.warn({ err }, 'sign-in state sweep failed'));
    await this.deps.states.put({ uid, userId, completed, stepUp, expiresAt: Date.now() + STATE_TTL_MS });
  }

  private async emit(type: 'mfa.verified' | 'login.succeeded', user: User, request: FastifyRequest, data: Record<string, unknown>): Promise<void> {
    const context: EventContext = { ip: request.ip, userAgent: request.headers['user-agent'] ?? null };
    await this.deps.events.emit({ type, tenantId: actingTenant(user), subjectId: user.id, context, data },
      (err) => this.deps.log.error({ err }, 'event listener failed'));
  }
}
