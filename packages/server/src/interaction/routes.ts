import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import type { IdentityService } from '../identity/service.js';
import type { ClientRepository } from '../oidc/repository.js';
import { ACR_PASSWORD } from '../oidc/acr.js';
import { AppError } from '../http/errors.js';
import type { Metrics } from '../http/metrics.js';
import type { FailureThrottle } from '../http/throttle.js';
import { originOf, pageCsp } from '../http/security.js';
import { consentPage, loginPage } from './views.js';
import { pageContext } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import { loginBody } from './schemas.js';
import { finishInteraction, loadInteraction } from './details.js';
import type { LoginStep } from '../mfa/login-step.js';
import type { MfaFactors } from '../mfa/factors.js';
import { renderSlots } from '../mfa/views.js';
import { signInTenant } from './tenant.js';

export interface InteractionDeps {
  provider: () => Provider;
  identity: IdentityService;
  clients: ClientRepository;
  throttle: FailureThrottle;
  metrics: Metrics;
  /** Links under the sign-in form (registration, password reset), as the client's tenant allows. */
  loginLinks?: (params: Record<string, unknown>, uid: string) => Promise<{ registerUrl?: string; forgotUrl?: string }>;
  /** The MFA step after the first factor, and step-up for a live session (mfa/login-step.ts). */
  mfa?: Pick<LoginStep, 'afterFirstFactor' | 'stepUp'>;
  /** The factor registry: factors that can sign in on their own add to the sign-in page (passkeys). */
  factors?: Pick<MfaFactors, 'kinds' | 'provider'>;
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** The single message (catalogue key) for every failed sign-in: it never tells whether the account exists. */
const INVALID_CREDENTIALS = 'login.invalid';
/** The right password for an account whose email is not confirmed yet. */
const PENDING_CONFIRMATION = 'login.pending_confirmation';

/**
 * Hosted interaction pages driving the engine's interactions: login and
 * consent. Forms are protected from cross-site submission by the engine's
 * SameSite interaction cookie bound to the unguessable uid, plus an Origin
 * check on every POST (http/csrf in app.ts).
 */
export function registerInteractionRoutes(app: FastifyInstance, deps: InteractionDeps): void {
  const html = { config: { html: true } };

  app.get('/interaction/:uid', html, async (request, reply) => {
    const { details, uid } = await load(deps, request, reply);
    if (details.prompt.name === 'login') {
      // A live session that is only too weak for the request goes straight to the missing factor.
      const stepUp = await deps.mfa?.stepUp(request, reply, details);
      return stepUp ?? renderLogin(deps, request, reply, details, uid);
    }
    if (details.prompt.name === 'consent') {
      // First-party clients never show consent, even when the request insists (prompt=consent).
      const client = await deps.clients.find(String(details.params.client_id));
      if (client?.firstParty) return finish(deps, request, reply, { consent: { grantId: await grantMissing(deps, details) } });
      return renderConsent(deps, request, reply, details, uid);
    }
    throw new AppError('invalid_request', 400, 'This sign-in step is not supported.');
  });

  app.post('/interaction/:uid/login', html, async (request, reply) => {
    const { details, uid } = await load(deps, request, reply);
    if (details.prompt.name !== 'login') throw new AppError('invalid_request', 400, 'This sign-in step has already been completed.');
    const body = loginBody.safeParse(request.body);
    if (!body.success) return renderLogin(deps, request, reply.code(400), details, uid, { error: 'login.missing' });

    // Pipeline: throttle → resolve tenant → verify credentials → finish interaction.
    const ip = request.ip;
    if (deps.throttle.isBlocked(ip)) {
      deps.metrics.logins.inc({ outcome: 'throttled' });
      throw new AppError('too_many_requests', 429, 'Too many failed sign-in attempts. Wait a minute and try again.');
    }
    const tenantId = await signInTenant(deps.clients, details.params);
    const context = { ip, userAgent: request.headers['user-agent'] ?? null };
    const outcome = await deps.identity.verifyLogin(tenantId, body.data.username, body.data.password, context);
    if (!outcome.ok && outcome.reason === 'pending') {
      // Only reachable with the right password, so saying why is safe (and the user can act on it).
      deps.metrics.logins.inc({ outcome: 'pending' });
      return renderLogin(deps, request, reply.code(403), details, uid, { username: body.data.username, error: PENDING_CONFIRMATION });
    }
    if (!outcome.ok) {
      deps.throttle.recordFailure(ip);
      // One label for every failure: /metrics is reachable, and per-reason counters would tell
      // whoever watches them whether the username they just tried exists. The audit log has the reason.
      deps.metrics.logins.inc({ outcome: outcome.reason });
      request.log.info({ event: 'login.failed', reason: outcome.detail, tenant: tenantId }, 'sign-in failed');
      return renderLogin(deps, request, reply.code(401), details, uid, { username: body.data.username, error: INVALID_CREDENTIALS });
    }
    deps.metrics.logins.inc({ outcome: 'success' });
    request.log.info({ event: 'login.succeeded', sub: outcome.user.id, tenant: tenantId }, 'sign-in succeeded');
    // Next step: MFA when policy asks for it (it finishes the interaction itself).
    if (deps.mfa) return deps.mfa.afterFirstFactor(request, reply, details, outcome.user, ['pwd']);
    const result = { login: { accountId: outcome.user.id, acr: ACR_PASSWORD, amr: ['pwd'], remember: true } };
    return finish(deps, request, reply, result);
  });

  app.post('/interaction/:uid/confirm', html, async (request, reply) => {
    const { details } = await load(deps, request, reply);
    if (details.prompt.name !== 'consent') throw new AppError('invalid_request', 400, 'There is nothing to confirm.');
    const grantId = await grantMissing(deps, details);
    return finish(deps, request, reply, { consent: { grantId } });
  });

  app.post('/interaction/:uid/abort', html, async (request, reply) => {
    await load(deps, request, reply);
    return finish(deps, request, reply, { error: 'access_denied', error_description: 'The user cancelled the request.' });
  });
}

function load(deps: InteractionDeps, request: FastifyRequest, reply: FastifyReply): Promise<{ details: Details; uid: string }> {
  return loadInteraction(deps.provider, request, reply);
}

/** Adds what the consent prompt found missing to the user's grant for this client; returns the grant id. */
async function grantMissing(deps: InteractionDeps, details: Details): Promise<string> {
  const provider = deps.provider();
  const { prompt, params, session } = details;
  const grant = details.grantId
    ? (await provider.Grant.find(details.grantId))!
    : new provider.Grant({ accountId: session!.accountId, clientId: String(params.client_id) });
  const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  return grant.save();
}

function finish(deps: InteractionDeps, request: FastifyRequest, reply: FastifyReply, result: Record<string, unknown>) {
  return finishInteraction(deps.provider, request, reply, result);
}

async function clientName(deps: InteractionDeps, clientId: string): Promise<string> {
  const c = await deps.clients.find(clientId);
  return (c?.metadata.client_name as string | undefined) ?? clientId;
}

function pageHeaders(reply: FastifyReply, details: Details, opts: { scripts?: boolean } = {}): FastifyReply {
  const target = originOf(details.params.redirect_uri as string | undefined);
  return reply.type('text/html; charset=utf-8').header('content-security-policy', pageCsp(target ? [target] : [], opts));
}

function ctxFor(request: FastifyRequest, details: Details): PageContext {
  return pageContext(request, typeof details.params.ui_locales === 'string' ? details.params.ui_locales : undefined);
}

async function renderLogin(deps: InteractionDeps, request: FastifyRequest, reply: FastifyReply, details: Details, uid: string, extra: { username?: string; error?: string } = {}) {
  const ctx = ctxFor(request, details);
  const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint : undefined;
  const factors = deps.factors;
  const slots = renderSlots(factors ? await Promise.all(factors.kinds().map((k) => factors.provider(k)?.signInSlot?.({ ctx, uid }))) : []);
  return pageHeaders(reply, details, { scripts: slots.scripts }).send(loginPage(ctx, {
    slots: slots.html,
    action: `/interaction/${uid}/login`,
    abortAction: `/interaction/${uid}/abort`,
    clientName: await clientName(deps, String(details.params.client_id)),
    username: extra.username ?? hint,
    error: extra.error ? ctx.t(extra.error) : undefined,
    ...(deps.loginLinks ? await deps.loginLinks(details.params, uid) : {}),
  }));
}

async function renderConsent(deps: InteractionDeps, request: FastifyRequest, reply: FastifyReply, details: Details, uid: string) {
  const missing = details.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
  return pageHeaders(reply, details).send(consentPage(ctxFor(request, details), {
    action: `/interaction/${uid}/confirm`,
    abortAction: `/interaction/${uid}/abort`,
    clientName: await clientName(deps, String(details.params.client_id)),
    scopes: missing.missingOIDCScope ?? [],
    resources: Object.entries(missing.missingResourceScopes ?? {}).map(([identifier, scopes]) => ({ identifier, scopes })),
  }));
}
