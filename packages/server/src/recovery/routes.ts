import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Platform } from '../platform.js';
import type { EventContext } from '../audit/events.js';
import { AppError } from '../http/errors.js';
import { issueCsrf, verifyCsrf } from '../http/csrf.js';
import { RateLimiter } from '../http/rate-limit.js';
import { pageContext, sendPage } from '../web/layout.js';
import { accountLayout } from '../account/views.js';
import { ACCOUNT_CLIENT_ID } from '../account/session.js';
import { signInTenant } from '../interaction/tenant.js';
import type { AccountSessions, CurrentAccount } from '../account/session.js';
import type { IdentityService } from '../identity/service.js';
import { RecoveryService } from './service.js';
import { createRecoveryTransaction } from './repository.js';
import { changeForm, emailProblem, forgotApiBody, forgotForm, forgotQuery, resetForm, resetQuery } from './schemas.js';
import { changeBody, donePage, forgotPage, invalidLinkPage, resetPage, sentPage } from './views.js';

export interface RecoveryRouteDeps {
  service: RecoveryService;
  identity: IdentityService;
  sessions: AccountSessions;
  /** Reset requests per client IP and minute (every request counts: their answers are all alike). */
  limiter: RateLimiter;
  secure: boolean;
  /** The tenant of the client behind a sign-in interaction (the forgot link on the sign-in page names it). */
  tenantOfInteraction(uid: string): Promise<string | undefined>;
}

const DEFAULT_TENANT = 'default';

/** Wires the feature from the platform's services (features.ts calls this). */
export function registerRecovery(app: FastifyInstance, p: Platform): void {
  const service = new RecoveryService({
    users: p.users, identity: p.identity, tokens: p.tokens, payloads: p.payloads, mailer: p.mailer, events: p.events,
    transaction: createRecoveryTransaction(p.db, p.payloads), issuer: p.settings.issuer, accountClientId: ACCOUNT_CLIENT_ID, log: p.log,
    lockout: p.signInSources.counters,
  });
  registerRecoveryRoutes(app, {
    service, identity: p.identity, sessions: p.accountSessions, secure: p.secureCookies,
    // The same allowance as failed sign-ins per IP (TESSERA_AUTH_FAILURES_PER_MINUTE), counted separately.
    limiter: p.rateLimiter('recovery', p.settings.authFailuresPerMinute),
    async tenantOfInteraction(uid) {
      const interaction = await p.provider().Interaction.find(uid).catch(() => undefined);
      return interaction ? signInTenant(p.clients, interaction.params) : undefined;
    },
  });
}

/**
 * Password reset (/password/forgot, /password/reset, and the JSON API) and
 * password change (/account/password). Thin: parse, call the service, render.
 */
export function registerRecoveryRoutes(app: FastifyInstance, deps: RecoveryRouteDeps): void {
  const html = { config: { html: true } };

  app.get('/password/forgot', html, async (request, reply) => {
    const q = forgotQuery.safeParse(request.query ?? {}).data ?? {};
    const tenant = q.interaction ? (await deps.tenantOfInteraction(q.interaction)) ?? q.tenant : q.tenant;
    const csrf = issueCsrf(request, reply, deps.secure);
    return sendPage(reply, forgotPage(pageContext(request, q.ui_locales), { csrf, tenant, interaction: q.interaction, uiLocales: q.ui_locales }));
  });

  app.post('/password/forgot', html, async (request, reply) => {
    verifyCsrf(request, deps.secure);
    const form = forgotForm.safeParse(request.body ?? {});
    if (!form.success) throw new AppError('invalid_request', 400, 'The form is malformed.');
    const ctx = pageContext(request, form.data.ui_locales);
    const view = {
      csrf: issueCsrf(request, reply, deps.secure), email: form.data.email, tenant: form.data.tenant, interaction: form.data.interaction, uiLocales: form.data.ui_locales,
    };
    if (!deps.limiter.take(request.ip)) {
      return sendPage(reply.code(429).header('retry-after', '60'), forgotPage(ctx, { ...view, alert: ctx.t('recovery.forgot.too_many') }));
    }
    const problem = emailProblem(form.data.email);
    if (problem) return sendPage(reply.code(400), forgotPage(ctx, { ...view, errors: { email: problem } }));
    const tenantId = form.data.tenant ?? (form.data.interaction ? await deps.tenantOfInteraction(form.data.interaction) : undefined) ?? DEFAULT_TENANT;
    await deps.service.requestReset({ tenantId, email: form.data.email.trim(), interaction: form.data.interaction, locale: ctx.locale }, eventContext(request));
    return sendPage(reply, sentPage(ctx, form.data.interaction));
  });

  app.get('/password/reset', html, async (request, reply) => {
    const token = resetQuery.safeParse(request.query ?? {}).data?.token ?? '';
    const ctx = pageContext(request);
    const check = await deps.service.checkResetLink(token);
    if (!check.ok) return sendPage(reply.code(400), invalidLinkPage(ctx, check.reason));
    const csrf = issueCsrf(request, reply, deps.secure);
    return sendPage(reply, resetPage(ctx, { csrf, token, account: displayName(check.user), policy: check.policy.password }));
  });

  app.post('/password/reset', html, async (request, reply) => {
    verifyCsrf(request, deps.secure);
    const form = resetForm.safeParse(request.body ?? {});
    if (!form.success) throw new AppError('invalid_request', 400, 'The form is malformed.');
    const ctx = pageContext(request);
    const { token, password, password_confirm: confirmation } = form.data;
    const outcome = await deps.service.completeReset(token, { password, confirmation }, eventContext(request), ctx.locale);
    if (outcome.status === 'bad_token') return sendPage(reply.code(400), invalidLinkPage(ctx, outcome.reason));
    if (outcome.status === 'invalid_fields') {
      const csrf = issueCsrf(request, reply, deps.secure);
      return sendPage(reply.code(400), resetPage(ctx, { csrf, token, account: displayName(outcome.user), policy: outcome.policy.password, errors: outcome.fields }));
    }
    return sendPage(reply, donePage(ctx, outcome.interaction ? `/interaction/${outcome.interaction}` : '/account'));
  });

  app.post('/api/self-service/password-reset', async (request, reply) => {
    // JSON only: a cross-site HTML form cannot send it without a CORS preflight.
    if (!(request.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
      throw new AppError('unsupported_media_type', 415, 'Send a JSON body (Content-Type: application/json).');
    }
    const body = forgotApiBody.safeParse(request.body);
    if (!body.success) throw new AppError('invalid_request', 400, 'The body must be {"email": string, "tenant"?: string}.');
    if (!deps.limiter.take(request.ip)) throw new AppError('too_many_requests', 429, 'Too many requests from this address. Retry after the delay in Retry-After.');
    const problem = emailProblem(body.data.email);
    if (problem) throw new AppError('validation_failed', 400, 'Some fields are invalid.', { email: problem });
    const locale = pageContext(request).locale;
    await deps.service.requestReset({ tenantId: body.data.tenant ?? DEFAULT_TENANT, email: body.data.email.trim(), locale }, eventContext(request));
    // The same answer whether or not the address has an account.
    return reply.code(202).send({ status: 'accepted' });
  });

  app.get('/account/password', html, async (request, reply) => {
    const account = await deps.sessions.require(request, reply);
    if (!account) return reply;
    if (!(await changeStepUp(reply, account))) return reply;
    const notice = (request.query as { changed?: unknown } | undefined)?.changed === '1';
    return renderChange(request, reply, account.user, { notice });
  });

  app.post('/account/password', html, async (request, reply) => {
    const account = await deps.sessions.require(request, reply);
    if (!account) return reply;
    verifyCsrf(request, deps.secure);
    // The step-up ran out while the form was open: confirm again, then the form (typed values are not kept).
    if (!(await changeStepUp(reply, account))) return reply;
    const form = changeForm.safeParse(request.body ?? {});
    if (!form.success) throw new AppError('invalid_request', 400, 'The form is malformed.');
    const { current_password: current, password, password_confirm: confirmation } = form.data;
    const locale = pageContext(request, account.user.locale).locale;
    const outcome = await deps.service.changePassword(account, { current, password, confirmation }, eventContext(request, account.user.id), locale);
    if (!outcome.ok) return renderChange(request, reply.code(400), account.user, { errors: outcome.fields });
    // Post/redirect/get: a reload must not submit the form again.
    return reply.redirect('/account/password?changed=1', 303);
  });

  /**
   * A password change needs a recent sign-in (TESSERA_ACCOUNT_REAUTH_MAX_AGE,
   * account/session.ts requireRecent); with `password.change_requires_mfa` a
   * recent multi-factor one, through the account pages' step-up
   * (requireFresh): only the second factor is asked when the sign-in is
   * recent, one is set up when the user has none. False after redirecting there.
   */
  async function changeStepUp(reply: FastifyReply, account: CurrentAccount): Promise<boolean> {
    const policy = await deps.identity.policyFor(account.user.tenantId);
    if (!policy.password.change_requires_mfa) return deps.sessions.requireRecent(reply, account, '/account/password');
    return deps.sessions.requireFresh(reply, account, { maxAge: deps.sessions.reauthMaxAge, acr: 'mfa' }, '/account/password');
  }

  async function renderChange(request: FastifyRequest, reply: FastifyReply, user: { tenantId: string; locale: string | null; username: string | null; email: string | null; roles: readonly string[] },
    extra: { notice?: boolean; errors?: Record<string, string> }) {
    const ctx = pageContext(request, user.locale);
    const policy = await deps.identity.policyFor(user.tenantId);
    const body = changeBody(ctx, {
      csrf: issueCsrf(request, reply, deps.secure),
      account: displayName(user),
      policy: policy.password,
      errors: extra.errors,
      notice: extra.notice ? ctx.t('recovery.change.done') : undefined,
      forgotUrl: `/password/forgot?tenant=${encodeURIComponent(user.tenantId)}`,
    });
    return sendPage(reply, accountLayout(ctx, '/account/password', ctx.t('recovery.change.title'), body, deps.sessions.logoutUrl(), user));
  }
}

function displayName(user: { username: string | null; email: string | null }): string {
  return user.username ?? user.email ?? '';
}

function eventContext(request: FastifyRequest, actorId: string | null = null): EventContext {
  const ua = request.headers['user-agent'];
  return { actorId, ip: request.ip, userAgent: typeof ua === 'string' ? ua : null };
}
