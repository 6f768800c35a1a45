import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../http/errors.js';
import { issueCsrf, verifyCsrf } from '../http/csrf.js';
import { DeliveryError } from '../notify/senders.js';
import { pageContext, sendPage } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import type { User } from '../identity/model.js';
import type { RegistrationService } from './service.js';
import type { PhoneStepState } from './phone.js';
import { messagePage } from './views.js';
import { phoneDonePage, phoneStepPage } from './phone-views.js';
import type { PhoneStepView } from './phone-views.js';
import { parseBody } from './schemas.js';
import { requestContext } from './api.js';

const linkToken = z.string().max(200);
const stepQuery = z.object({ token: linkToken.optional().catch(undefined), ui_locales: z.string().max(64).optional().catch(undefined) });
const stepForm = z.object({ token: z.string().optional(), code: z.string().optional(), ui_locales: z.string().optional() });
const CODE = /^\d{6}$/;

export interface PhoneStepDeps {
  service: RegistrationService;
  secure: boolean;
}

/** The phone step page for a continuation token (used after registering and after confirming the address too). */
export function sendPhoneStep(request: FastifyRequest, reply: FastifyReply, deps: PhoneStepDeps, ctx: PageContext,
  user: Pick<User, 'phoneNumber' | 'email' | 'emailVerified'>,
  v: Omit<PhoneStepView, 'csrf' | 'phone' | 'emailPending'>): FastifyReply {
  return sendPage(reply, phoneStepPage(ctx, {
    ...v, csrf: issueCsrf(request, reply, deps.secure), phone: user.phoneNumber ?? '',
    emailPending: user.email && !user.emailVerified ? user.email : undefined,
  }));
}

/** A continuation token that no longer leads anywhere: why, and how to get a new one (by email). */
function stepProblem(ctx: PageContext, reply: FastifyReply, reason: 'invalid' | 'expired' | 'used'): FastifyReply {
  const links = reason === 'used'
    ? [{ href: '/account', label: ctx.t('registration.signin') }]
    : [{ href: '/confirm-email/resend', label: ctx.t('confirm.new_link') }];
  return sendPage(reply.code(400), messagePage(ctx, ctx.t('registration.phone.invalid_title'), ctx.t(`registration.phone.${reason}`), links));
}

/**
 * The phone step of registration (docs/identity.md#phone-confirmation-at-registration):
 * GET/POST /register/phone and POST /register/phone/resend (hosted pages),
 * POST /api/self-service/registration/phone/{confirm,resend} (JSON).
 */
export function registerPhoneStepRoutes(app: FastifyInstance, deps: PhoneStepDeps): void {
  const html = { config: { html: true } };
  const phone = deps.service.phone;

  app.get('/register/phone', html, async (request, reply) => {
    const q = stepQuery.parse(request.query ?? {});
    const ctx = pageContext(request, q.ui_locales);
    const state: PhoneStepState = q.token ? await phone.inspect(q.token) : { ok: false, reason: 'invalid' };
    if (!state.ok) return stepProblem(ctx, reply, state.reason);
    return sendPhoneStep(request, reply, deps, ctx, state.user, { token: q.token!, uiLocales: q.ui_locales, code: 'ask' });
  });

  app.post('/register/phone', html, async (request, reply) => {
    const parsed = parseBody(stepForm, request.body);
    if (!parsed || parsed.fields.token || parsed.fields.ui_locales) throw new AppError('invalid_request', 400, 'The request is malformed.');
    verifyCsrf(request, deps.secure);
    const ctx = pageContext(request, stepQuery.shape.ui_locales.parse(parsed.data.ui_locales));
    const token = parsed.data.token ?? '';
    const code = (parsed.data.code ?? '').trim();
    const uiLocales = stepQuery.shape.ui_locales.parse(parsed.data.ui_locales);
    if (!CODE.test(code)) {
      const state = await phone.inspect(token);
      if (!state.ok) return stepProblem(ctx, reply, state.reason);
      return sendPhoneStep(request, reply.code(400), deps, ctx, state.user, { token, uiLocales, code: 'sent', error: 'invalid_code' });
    }
    const outcome = await phone.confirm(token, code, requestContext(request));
    if (outcome.ok) {
      return sendPage(reply, phoneDonePage(ctx, { active: outcome.user.status === 'active', email: outcome.user.email ?? undefined, signinUrl: '/account' }));
    }
    if (outcome.reason === 'wrong_code' || outcome.reason === 'code_expired') {
      const state = await phone.inspect(token);
      if (!state.ok) return stepProblem(ctx, reply, state.reason);
      return sendPhoneStep(request, reply.code(400), deps, ctx, state.user, { token, uiLocales, code: 'sent', error: outcome.reason, attemptsLeft: outcome.attemptsLeft });
    }
    return stepProblem(ctx, reply, outcome.reason);
  });

  app.post('/register/phone/resend', html, async (request, reply) => {
    const parsed = parseBody(stepForm, request.body);
    if (!parsed || parsed.fields.token || parsed.fields.ui_locales) throw new AppError('invalid_request', 400, 'The request is malformed.');
    verifyCsrf(request, deps.secure);
    const uiLocales = stepQuery.shape.ui_locales.parse(parsed.data.ui_locales);
    const ctx = pageContext(request, uiLocales);
    const token = parsed.data.token ?? '';
    const state = await phone.inspect(token);
    if (!state.ok) return stepProblem(ctx, reply, state.reason);
    let sent;
    try {
      sent = await phone.resend(token, { ip: request.ip, locale: ctx.locale });
    } catch (err) {
      if (!(err instanceof DeliveryError)) throw err;
      return sendPhoneStep(request, reply.code(503).header('retry-after', '60'), deps, ctx, state.user, { token, uiLocales, code: 'failed' });
    }
    if (sent.ok) return sendPhoneStep(request, reply, deps, ctx, state.user, { token, uiLocales, code: 'sent' });
    if (sent.reason === 'too_many_requests') {
      return sendPhoneStep(request, reply.code(429).header('retry-after', '3600'), deps, ctx, state.user, { token, uiLocales, code: 'failed', error: 'too_many_requests' });
    }
    return stepProblem(ctx, reply, sent.reason === 'invalid' || sent.reason === 'expired' || sent.reason === 'used' ? sent.reason : 'used');
  });

  registerPhoneStepApi(app, deps);
}

const apiBody = z.object({ token: z.string().optional(), code: z.string().optional() });

function jsonOnly(request: FastifyRequest): void {
  // JSON only: a form post from another site cannot send it without a CORS preflight.
  if (!/^application\/json\b/i.test(request.headers['content-type'] ?? '')) {
    throw new AppError('unsupported_media_type', 415, 'Send the request as application/json.');
  }
}

function tokenProblem(reason: 'invalid' | 'expired' | 'used'): AppError {
  const text = { invalid: 'The token is not valid.', expired: 'The token has expired.', used: 'The phone number is already confirmed, or the step is over.' }[reason];
  return new AppError('validation_failed', 400, text, { token: reason });
}

/** The JSON twins of the pages, for applications with their own sign-up form. */
function registerPhoneStepApi(app: FastifyInstance, deps: PhoneStepDeps): void {
  const phone = deps.service.phone;
  app.post('/api/self-service/registration/phone/confirm', async (request, reply) => {
    jsonOnly(request);
    const parsed = parseBody(apiBody, request.body);
    if (!parsed) throw new AppError('invalid_request', 400, 'The body must be a JSON object.');
    const fields: Record<string, string> = { ...parsed.fields };
    if (!parsed.data.token && !fields.token) fields.token = 'required';
    const code = parsed.data.code?.trim() ?? '';
    if (!fields.code && !CODE.test(code)) fields.code = code ? 'invalid_code' : 'required';
    if (Object.keys(fields).length) throw new AppError('validation_failed', 400, 'Some fields are invalid.', fields);
    const outcome = await phone.confirm(parsed.data.token!, code, requestContext(request));
    if (outcome.ok) {
      const u = outcome.user;
      return reply.send({ id: u.id, status: u.status, email_verified: u.emailVerified, phone_number_verified: u.phoneNumberVerified });
    }
    if (outcome.reason === 'wrong_code' || outcome.reason === 'code_expired') {
      return reply.code(400).send({
        error: 'validation_failed', error_description: outcome.reason === 'wrong_code' ? 'The code is not correct.' : 'The code is no longer valid; send a new one.',
        fields: { code: outcome.reason }, attempts_left: outcome.attemptsLeft,
      });
    }
    throw tokenProblem(outcome.reason);
  });

  app.post('/api/self-service/registration/phone/resend', async (request, reply) => {
    jsonOnly(request);
    const parsed = parseBody(apiBody, request.body);
    if (!parsed) throw new AppError('invalid_request', 400, 'The body must be a JSON object.');
    if (!parsed.data.token) throw new AppError('validation_failed', 400, 'Some fields are invalid.', { token: parsed.fields.token ?? 'required' });
    const locale = pageContext(request).locale;
    // DeliveryError: 503 delivery_failed (http/errors.ts).
    const sent = await phone.resend(parsed.data.token, { ip: request.ip, locale });
    if (sent.ok) return reply.code(202).send({ status: 'sent' });
    if (sent.reason === 'too_many_requests') {
      // The limits are hourly: the generic 429 answer's one-minute Retry-After would invite retries that fail.
      const per = sent.limit === 'ip' ? 'address' : sent.limit === 'number' ? 'phone number' : 'account';
      return reply.code(429).header('retry-after', '3600')
        .send({ error: 'too_many_requests', error_description: `Too many codes were sent (the limit per ${per} and hour). Retry later.` });
    }
    throw tokenProblem(sent.reason === 'invalid' || sent.reason === 'expired' || sent.reason === 'used' ? sent.reason : 'used');
  });
}
