import type { FastifyInstance, FastifyReply } from 'fastify';
import { AppError } from '../http/errors.js';
import { issueCsrf, verifyCsrf } from '../http/csrf.js';
import { RateLimiter } from '../http/rate-limit.js';
import type { Platform } from '../platform.js';
import type { Tenant } from '../identity/model.js';
import { pageContext, sendPage } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import { RegistrationInvalid, RegistrationRefused } from './errors.js';
import { EXISTING_ADDRESS_NOTICES_PER_HOUR, RegistrationService } from './service.js';
import { PhoneCodes } from '../identity/phone-codes.js';
import { confirmBody, confirmQuery, parseBody, registerQuery, registrationBody, resendBody, resendQuery } from './schemas.js';
import { confirmPage, confirmedPage, fieldMessage, messagePage, registeredPage, registerPage, resendPage } from './views.js';
import { registerRegistrationApi, registrationInput, requestContext } from './api.js';
import { registerPhoneStepRoutes, sendPhoneStep } from './phone-routes.js';

export const TOO_MANY_REGISTRATIONS = 'Too many registrations from this address. Retry after the delay in Retry-After.';

/** Resend requests per client IP per hour: the per-account limit alone would let one client mail many addresses. */
export const RESENDS_PER_IP_PER_HOUR = 20;

export interface RegistrationRouteDeps {
  service: RegistrationService;
  secure: boolean;
  resendLimiter: RateLimiter;
  /** Registration requests per client IP and minute (every request counts): probing addresses is slowed to a crawl. */
  registerLimiter: RateLimiter;
}

/** The registration feature: hosted pages, the JSON API and the confirmation links. */
export function registrationFeature(app: FastifyInstance, p: Platform): void {
  const service = registrationService(p);
  const deps = {
    service, secure: p.secureCookies, resendLimiter: p.rateLimiter('registration-resend', RESENDS_PER_IP_PER_HOUR, 3_600_000),
    registerLimiter: p.rateLimiter('registration', p.settings.authFailuresPerMinute),
  };
  registerRegistrationPages(app, deps);
  registerConfirmationPages(app, deps);
  registerRegistrationApi(app, deps);
  registerPhoneStepRoutes(app, deps);
}

/** The registration service over the platform's shared services (also used by the CLI). */
export function registrationService(p: Platform): RegistrationService {
  return new RegistrationService({
    db: p.db, tenants: p.tenants, users: p.users, tokens: p.tokens, events: p.events, mailer: p.mailer, issuer: p.settings.issuer, log: p.log,
    noticeLimiter: p.rateLimiter('registration-notice', EXISTING_ADDRESS_NOTICES_PER_HOUR, 3_600_000),
    phoneCodes: new PhoneCodes({ db: p.db, tokens: p.tokens, tenants: p.tenants, sms: p.sms, log: p.log }),
  });
}

const html = { config: { html: true } };

/** Where "sign in" leads: back to the interaction the user came from, else the account pages. */
function signinUrl(interaction: string | undefined): string {
  return interaction ? `/interaction/${interaction}` : '/account';
}

/** GET/POST /register. */
function registerRegistrationPages(app: FastifyInstance, deps: RegistrationRouteDeps): void {
  app.get('/register', html, async (request, reply) => {
    const q = registerQuery.safeParse(request.query);
    if (!q.success) throw new AppError('invalid_request', 400, 'The request is malformed.');
    const ctx = pageContext(request, q.data.ui_locales);
    const tenantId = q.data.tenant ?? 'default';
    let admitted: { tenant: Tenant; invitedEmail?: string };
    try {
      admitted = await deps.service.admission(tenantId, q.data.invite);
    } catch (err) {
      return refusal(deps, ctx, reply, err, tenantId, q.data.interaction);
    }
    return sendRegisterForm(reply, ctx, admitted.tenant, {
      csrf: issueCsrf(request, reply, deps.secure), interaction: q.data.interaction, invite: q.data.invite, uiLocales: q.data.ui_locales,
      invited: admitted.invitedEmail !== undefined, values: { email: admitted.invitedEmail }, errors: {},
    });
  });

  app.post('/register', html, async (request, reply) => {
    const parsed = parseBody(registrationBody, request.body);
    // The hidden fields are the page's own: a repeated or odd one is tampering, not a typo to show next to a field.
    if (!parsed || ['tenant', 'interaction', 'invite', 'ui_locales'].some((k) => k in parsed.fields)) {
      throw new AppError('invalid_request', 400, 'The request is malformed.');
    }
    verifyCsrf(request, deps.secure);
    if (!deps.registerLimiter.take(request.ip)) throw new AppError('too_many_requests', 429, TOO_MANY_REGISTRATIONS);
    const body = { ...parsed.data, ui_locales: registerQuery.shape.ui_locales.parse(parsed.data.ui_locales) };
    const ctx = pageContext(request, body.ui_locales);
    const tenantId = body.tenant ?? 'default';
    // Only well-formed values travel back into the page (links and hidden fields).
    const interaction = registerQuery.shape.interaction.parse(body.interaction);
    const invite = registerQuery.shape.invite.parse(body.invite);
    try {
      const result = await deps.service.register(registrationInput(body, parsed.fields, tenantId, ctx.locale), requestContext(request));
      // The tenant requires a confirmed phone number: the code form comes next (it mentions the mail too).
      if (result.phone) {
        return sendPhoneStep(request, reply, deps, ctx, result.account, { token: result.phone.token, uiLocales: body.ui_locales, code: result.phone.sent ? 'sent' : 'failed' });
      }
      const resendUrl = `/confirm-email/resend?${new URLSearchParams({ tenant: tenantId, ...(body.ui_locales ? { ui_locales: body.ui_locales } : {}) })}`;
      // `account` looks the same for an address that already had one (its owner is mailed instead).
      return sendPage(reply, registeredPage(ctx, {
        email: result.account.email,
        active: result.account.status === 'active',
        confirmationPending: !result.account.emailVerified,
        mailFailed: !result.account.emailVerified && !result.confirmationSent,
        signinUrl: signinUrl(interaction),
        resendUrl,
      }));
    } catch (err) {
      if (!(err instanceof RegistrationInvalid)) return refusal(deps, ctx, reply, err, tenantId, interaction);
      const tenant = await deps.service.tenant(tenantId);
      // Values come back so the user fixes only what is wrong; the password never does.
      const { password: _password, ...values } = body;
      return sendRegisterForm(reply.code(400), ctx, tenant, {
        csrf: issueCsrf(request, reply, deps.secure), interaction, invite, uiLocales: body.ui_locales,
        invited: Boolean(invite), values, errors: messages(ctx, tenant, err.fields),
      });
    }
  });
}

function messages(ctx: PageContext, tenant: Tenant, fields: Record<string, string>): Record<string, string> {
  const policy = { min: tenant.policy.password.min_length, max: tenant.policy.password.max_length };
  return Object.fromEntries(Object.entries(fields).map(([name, code]) => [name, fieldMessage(ctx, name, code, policy)]));
}

function sendRegisterForm(reply: FastifyReply, ctx: PageContext, tenant: Tenant, v: {
  csrf: string; interaction?: string; invite?: string; uiLocales?: string; invited: boolean;
  values: Record<string, string | undefined>; errors: Record<string, string>;
}): FastifyReply {
  return sendPage(reply, registerPage(ctx, {
    // The brand's name ("Join Example ID.", not "Join Default."): the page's brand is this tenant's (branding/hook.ts).
    ...v, tenantId: tenant.id, tenantName: ctx.brand?.tenantId === tenant.id ? ctx.brand.name : tenant.name, required: tenant.policy.required_fields,
    passwordMin: tenant.policy.password.min_length, signinUrl: signinUrl(v.interaction),
  }));
}

/** A refused registration as a page: 404 for an unknown tenant, 403 for the policy. */
async function refusal(deps: RegistrationRouteDeps, ctx: PageContext, reply: FastifyReply, err: unknown, tenantId: string, interaction?: string) {
  if (!(err instanceof RegistrationRefused)) throw err;
  if (err.code === 'unknown_tenant') throw new AppError('not_found', 404, 'No such tenant.');
  const tenant = await deps.service.tenant(tenantId);
  const links = [{ href: signinUrl(interaction), label: ctx.t('registration.signin') }];
  const [titleKey, textKey] = {
    registration_closed: ['registration.closed_title', 'registration.closed'],
    invite_required: ['registration.invite_required_title', 'registration.invite_required'],
    invite_invalid: ['registration.invite_invalid_title', err.reason === 'expired' || err.reason === 'used' ? `registration.invite_${err.reason}` : 'registration.invite_invalid'],
  }[err.code];
  return sendPage(reply.code(403), messagePage(ctx, ctx.t(titleKey!), ctx.t(textKey!, { tenant: tenant.name }), links));
}

/** GET/POST /confirm-email and /confirm-email/resend. */
function registerConfirmationPages(app: FastifyInstance, deps: RegistrationRouteDeps): void {
  const problem = (ctx: PageContext, reply: FastifyReply, reason: 'invalid' | 'expired' | 'used', tenantId?: string) =>
    sendPage(reply.code(400), messagePage(ctx, ctx.t(`confirm.${reason}_title`), ctx.t(`confirm.${reason}`), [
      reason === 'used'
        ? { href: '/account', label: ctx.t('registration.signin') }
        : { href: `/confirm-email/resend${tenantId ? `?${new URLSearchParams({ tenant: tenantId })}` : ''}`, label: ctx.t('confirm.new_link') },
    ]));

  // Shows the button only: GET never consumes the link, since mail scanners and previews fetch it.
  app.get('/confirm-email', html, async (request, reply) => {
    const q = confirmQuery.parse(request.query);
    const ctx = pageContext(request, q.ui_locales);
    if (!q.token) return problem(ctx, reply, 'invalid');
    const found = await deps.service.inspectConfirmation(q.token);
    if (!found.ok) return problem(ctx, reply, found.reason, found.tenantId);
    return sendPage(reply, confirmPage(ctx, { csrf: issueCsrf(request, reply, deps.secure), token: q.token, email: found.email, uiLocales: q.ui_locales }));
  });

  app.post('/confirm-email', html, async (request, reply) => {
    const parsed = parseBody(confirmBody, request.body);
    if (!parsed) throw new AppError('invalid_request', 400, 'The request is malformed.');
    verifyCsrf(request, deps.secure);
    const ctx = pageContext(request, parsed.data.ui_locales);
    const token = parsed.data.token;
    if (!token) return problem(ctx, reply, 'invalid');
    const outcome = await deps.service.confirmEmail(token, requestContext(request));
    if (!outcome.ok) return problem(ctx, reply, outcome.reason, outcome.tenantId);
    // The address is confirmed; the account still waits for its phone number.
    if (outcome.phoneToken) return sendPhoneStep(request, reply, deps, ctx, outcome.user, { token: outcome.phoneToken, uiLocales: confirmQuery.shape.ui_locales.parse(parsed.data.ui_locales), code: 'ask' });
    return sendPage(reply, confirmedPage(ctx));
  });

  app.get('/confirm-email/resend', html, async (request, reply) => {
    const q = resendQuery.safeParse(request.query);
    if (!q.success) throw new AppError('invalid_request', 400, 'The request is malformed.');
    const ctx = pageContext(request, q.data.ui_locales);
    const tenant = await deps.service.tenant(q.data.tenant ?? 'default').catch(() => undefined);
    if (!tenant) throw new AppError('not_found', 404, 'No such tenant.');
    return sendPage(reply, resendPage(ctx, { csrf: issueCsrf(request, reply, deps.secure), tenantId: tenant.id, uiLocales: q.data.ui_locales }));
  });

  app.post('/confirm-email/resend', html, async (request, reply) => {
    const parsed = parseBody(resendBody, request.body);
    if (!parsed) throw new AppError('invalid_request', 400, 'The request is malformed.');
    verifyCsrf(request, deps.secure);
    const ctx = pageContext(request, parsed.data.ui_locales);
    const tenantId = parsed.data.tenant ?? 'default';
    const email = (parsed.data.email ?? '').trim();
    const formError = parsed.fields.email ? 'invalid_email' : !email ? 'required' : !/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 254 ? 'invalid_email' : undefined;
    if (formError) {
      // The format is checked before any lookup, so this answer says nothing about accounts.
      return sendPage(reply.code(400), resendPage(ctx, {
        csrf: issueCsrf(request, reply, deps.secure), tenantId, uiLocales: parsed.data.ui_locales, email, error: ctx.t(`registration.field.${formError}`),
      }));
    }
    if (!deps.resendLimiter.take(request.ip)) {
      return sendPage(reply.code(429).header('retry-after', '3600'), messagePage(ctx, ctx.t('resend.title'), ctx.t('resend.too_many')));
    }
    await deps.service.resendConfirmation(tenantId, email);
    // One answer whether or not the account exists, needs confirming, or hit its hourly limit.
    return sendPage(reply, messagePage(ctx, ctx.t('resend.done_title'), ctx.t('resend.done')));
  });
}
