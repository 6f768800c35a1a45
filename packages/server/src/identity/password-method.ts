import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../http/metrics.js';
import type { EventContext } from '../audit/events.js';
import type { SignInFlow } from '../interaction/flow.js';
import type { ExternalIdentity, FirstSlotView, SignInMethod } from '../interaction/methods.js';
import { loginBody } from '../interaction/schemas.js';
import { esc } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import { deviceOf } from '../http/device-cookie.js';
import type { LoginFailureReason, IdentityService } from './service.js';
import type { User } from './model.js';

/** The single message (catalogue key) for every failed sign-in: it never tells whether the account exists. */
const INVALID_CREDENTIALS = 'login.invalid';
/** The right password for an account whose email is not confirmed yet. */
const PENDING_CONFIRMATION = 'login.pending_confirmation';

export type VerifierOutcome =
  | { ok: true; subject: { userId: string; user?: User } | { external: ExternalIdentity } }
  | { ok: false; reason: 'invalid_credentials'; detail: LoginFailureReason | string }
  /** The right password for an account that cannot sign in yet (email not confirmed): only then is the reason shown. */
  | { ok: false; reason: 'pending' }
  /**
   * A refusal the person is told about: one only the right password reaches
   * (a directory's "password expired", "account disabled"), or one that says
   * nothing about the person (the directory does not answer: 503). `error`
   * is a catalogue key; `outcome` the metric label.
   */
  | { ok: false; reason: 'refused'; status: 403 | 503; error: string; outcome: 'refused' | 'unavailable'; detail: string };

/**
 * Checks a username and password for a tenant. The local accounts are one
 * verifier; a directory (LDAP, directories/ldap/) is another, returning an
 * upstream identity that linking and JIT turn into an account (Keycloak's
 * user-storage providers sit under the password form the same way).
 */
export interface PasswordVerifier {
  id: string;
  /** Whether this verifier answers for this login in this tenant (e.g. a directory configured for the tenant). */
  handles(tenantId: string, login: string): Promise<boolean>;
  /** One verification; every refusal is an outcome, never an exception. */
  verify(tenantId: string, login: string, password: string, context: EventContext): Promise<VerifierOutcome>;
}

/** The chain of password verifiers: the first that handles a login decides; the local accounts come last. */
export class PasswordVerifiers {
  private readonly chain: PasswordVerifier[] = [];

  constructor(private readonly local: PasswordVerifier) {}

  /** Adds a verifier ahead of the local accounts. @throws Error on a duplicate id (a wiring mistake). */
  register(verifier: PasswordVerifier): void {
    if (verifier.id === this.local.id || this.chain.some((v) => v.id === verifier.id)) throw new Error(`password verifier ${verifier.id} is already registered`);
    this.chain.push(verifier);
  }

  async verify(tenantId: string, login: string, password: string, context: EventContext): Promise<VerifierOutcome> {
    for (const v of this.chain) if (await v.handles(tenantId, login)) return v.verify(tenantId, login, password, context);
    return this.local.verify(tenantId, login, password, context);
  }
}

/** The local accounts as a verifier: identity's lockout-aware check (one argon2 verification on every path). */
export function localPasswordVerifier(identity: Pick<IdentityService, 'verifyLogin'>): PasswordVerifier {
  return {
    id: 'local',
    handles: async () => true,
    async verify(tenantId, login, password, context) {
      const outcome = await identity.verifyLogin(tenantId, login, password, context);
      // The account as verifyLogin left it (after any rehash or lock reset): the pipeline reuses it (issue 20).
      if (outcome.ok) return { ok: true, subject: { userId: outcome.user.id, user: outcome.user } };
      if (outcome.reason === 'pending') return { ok: false, reason: 'pending' };
      return { ok: false, reason: 'invalid_credentials', detail: outcome.detail };
    },
  };
}

export interface PasswordMethodDeps {
  verifiers: PasswordVerifiers;
  metrics: Pick<Metrics, 'logins'>;
  /** Whether the tenant's sign-in page shows the password form (`local_login`); default yes. */
  offered?(tenantId: string): Promise<boolean>;
}

/**
 * The password as a first factor: the form on the sign-in page and
 * POST /interaction/:uid/login. The verifier chain decides; the pipeline
 * does the rest (MFA, finish).
 */
export function passwordMethod(deps: PasswordMethodDeps): SignInMethod {
  return {
    id: 'password',
    kinds: ['first'],
    amr: ['pwd'],
    order: 10,
    offered: async ({ tenantId }) => (deps.offered ? deps.offered(tenantId) : true),
    async slot(view) {
      if (view.kind !== 'first') return undefined;
      return { html: passwordForm(view.ctx, view), region: 'main' };
    },
    routes(app: FastifyInstance, flow: SignInFlow) {
      app.post('/interaction/:uid/login', { config: { html: true } }, async (request, reply) => {
        const signIn = await flow.load(request, reply);
        if (deps.offered && !(await deps.offered(signIn.tenantId))) {
          return flow.signInPage(request, reply.code(403), signIn, { error: 'login.local_disabled' });
        }
        const body = loginBody.safeParse(request.body);
        if (!body.success) return flow.signInPage(request, reply.code(400), signIn, { error: 'login.missing' });

        flow.guard(request);
        const { tenantId } = signIn;
        // The browser's device cookie, if any: failures from a device the account signed in from count on that device.
        const context = { ip: request.ip, userAgent: request.headers['user-agent'] ?? null, device: deviceOf(request) ?? null };
        const outcome = await deps.verifiers.verify(tenantId, body.data.username, body.data.password, context);
        if (!outcome.ok && outcome.reason === 'pending') {
          // Only reachable with the right password, so saying why is safe (and the user can act on it).
          deps.metrics.logins.inc({ outcome: 'pending' });
          return flow.signInPage(request, reply.code(403), signIn, { username: body.data.username, error: PENDING_CONFIRMATION });
        }
        if (!outcome.ok && outcome.reason === 'refused') {
          deps.metrics.logins.inc({ outcome: outcome.outcome });
          request.log.info({ event: 'login.refused', reason: outcome.detail, tenant: tenantId }, 'sign-in refused');
          return flow.signInPage(request, reply.code(outcome.status), signIn, { username: body.data.username, error: outcome.error });
        }
        if (!outcome.ok) {
          flow.failed(request, 'password', outcome.detail);
          // One label for every failure: /metrics is reachable, and per-reason counters would tell
          // whoever watches them whether the username they just tried exists. The audit log has the reason.
          deps.metrics.logins.inc({ outcome: outcome.reason });
          request.log.info({ event: 'login.failed', reason: outcome.detail, tenant: tenantId }, 'sign-in failed');
          return flow.signInPage(request, reply.code(401), signIn, { username: body.data.username, error: INVALID_CREDENTIALS });
        }
        deps.metrics.logins.inc({ outcome: 'success' });
        const sub = 'userId' in outcome.subject ? outcome.subject.userId : undefined;
        request.log.info({ event: 'login.succeeded', sub, tenant: tenantId }, 'sign-in succeeded');
        // The local verifier emitted login.succeeded already; another verifier's identity is announced by the pipeline.
        return flow.complete(request, reply, { method: 'password', kind: 'first', subject: outcome.subject, amr: ['pwd'], audited: sub !== undefined });
      });
    },
  };
}

/** The username and password form (the sign-in page's main part). */
function passwordForm(ctx: PageContext, v: FirstSlotView): string {
  const { t } = ctx;
  const autocomplete = ['username', ...v.usernameAutocomplete].join(' ');
  return `<form method="post" action="${esc(`/interaction/${v.uid}/login`)}" novalidate>
  <label for="username">${esc(t('login.username'))}</label>
  <input id="username" name="username" type="text" autocomplete="${autocomplete}" autocapitalize="none" spellcheck="false" required value="${esc(v.username)}"${v.username ? '' : ' autofocus'}>
  <label for="password">${esc(t('login.password'))}</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required${v.username ? ' autofocus' : ''}>
  <button type="submit">${esc(t('login.submit'))}</button>
</form>`;
}
