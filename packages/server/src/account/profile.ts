import type { FastifyInstance } from 'fastify';
import { issueCsrf, verifyCsrf } from '../http/csrf.js';
import { AppError } from '../http/errors.js';
import type { RateLimiter } from '../http/rate-limit.js';
import { pageContext, sendPage } from '../web/layout.js';
import type { AccountService } from './service.js';
import { emailForm, fieldErrors, profileForm, submitted, tokenForm, tokenQuery } from './schemas.js';
import { emailConfirmPage, emailPage, emailResultPage, profilePage, profileValues } from './profile-views.js';
import type { ProfileValues } from './profile-views.js';
import { eventContext, sendAccountPage, signedIn } from './http.js';
import type { AccountPageDeps } from './http.js';

/** Profile (/account) and email change with re-confirmation (/account/email). */
export function registerProfileRoutes(app: FastifyInstance, deps: AccountPageDeps & { service: AccountService; takenLimiter: RateLimiter }): void {
  const html = { config: { html: true } };

  app.get('/account', html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    const saved = (request.query as { saved?: unknown }).saved === '1';
    const body = profilePage(page.ctx, { user: page.account.user, values: profileValues(page.account.user), errors: {}, csrf: page.csrf, saved });
    return sendAccountPage(reply, deps, page, '/account', page.ctx.t('account.title'), body);
  });

  app.post('/account', html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    verifyCsrf(request, deps.secure);
    // The answer may say a username is taken: every change counts against the client IP's allowance.
    if (!deps.takenLimiter.take(request.ip)) throw new AppError('too_many_requests', 429, 'Too many changes from this address. Retry after the delay in Retry-After.');
    const { user } = page.account;
    const parsed = profileForm.safeParse(request.body ?? {});
    const result = parsed.success
      ? await deps.service.updateProfile(user, parsed.data, eventContext(request, user.id))
      : { ok: false as const, fields: fieldErrors(parsed.error) };
    if (result.ok) return reply.redirect('/account?saved=1', 303);
    // The page shows what was typed, with each error next to its field.
    const values = Object.fromEntries((['given_name', 'family_name', 'username', 'phone_number', 'locale'] as const)
      .map((k) => [k, submitted(request.body, k)])) as unknown as ProfileValues;
    const body = profilePage(page.ctx, { user, values, errors: result.fields, csrf: page.csrf });
    return sendAccountPage(reply, deps, page, '/account', page.ctx.t('account.title'), body, 400);
  });

  app.get('/account/email', html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    // Changing the address is a security change: sign in again first when the sign-in is old, then the form.
    if (!(await deps.sessions.requireRecent(reply, page.account, '/account/email'))) return reply;
    const body = emailPage(page.ctx, { user: page.account.user, value: '', csrf: page.csrf });
    return sendAccountPage(reply, deps, page, '/account/email', page.ctx.t('account.email.title'), body);
  });

  app.post('/account/email', html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    verifyCsrf(request, deps.secure);
    // The re-authentication ran out while the form was open: sign in again, then the form (the typed address is not kept).
    if (!(await deps.sessions.requireRecent(reply, page.account, '/account/email'))) return reply;
    const { user } = page.account;
    const parsed = emailForm.safeParse(request.body ?? {});
    const title = page.ctx.t('account.email.title');
    const fail = (error: string) => sendAccountPage(reply, deps, page, '/account/email', title,
      emailPage(page.ctx, { user, value: submitted(request.body, 'email'), error, csrf: page.csrf }), error === 'too_many_requests' ? 429 : 400);
    if (!parsed.success) return fail(fieldErrors(parsed.error).email ?? 'invalid');
    if (!deps.takenLimiter.take(request.ip)) return fail('too_many_requests');
    const result = await deps.service.requestEmailChange(user, parsed.data.email, page.ctx.locale, eventContext(request, user.id));
    if (!result.ok) return fail(result.fields.email ?? 'invalid');
    const body = emailPage(page.ctx, { user, value: '', csrf: page.csrf, sentTo: parsed.data.email });
    return sendAccountPage(reply, deps, page, '/account/email', title, body);
  });

  // Opened from the mail, maybe on another device: the token is the proof, no account session is needed.
  app.get('/account/email/confirm', html, async (request, reply) => {
    const ctx = pageContext(request);
    const q = tokenQuery.safeParse(request.query);
    if (!q.success) return sendPage(reply.code(400), emailResultPage(ctx, 'invalid'));
    // A used or expired link says so at once; a live one is only consumed by the POST below.
    const state = await deps.service.inspectEmailChange(q.data.token);
    if (!state.ok) return sendPage(reply.code(400), emailResultPage(ctx, state.reason));
    return sendPage(reply, emailConfirmPage(ctx, q.data.token, issueCsrf(request, reply, deps.secure)));
  });

  app.post('/account/email/confirm', html, async (request, reply) => {
    verifyCsrf(request, deps.secure);
    const ctx = pageContext(request);
    const form = tokenForm.safeParse(request.body ?? {});
    if (!form.success) return sendPage(reply.code(400), emailResultPage(ctx, 'invalid'));
    const current = await deps.sessions.current(request);
    const result = await deps.service.confirmEmailChange(form.data.token, ctx.locale, eventContext(request, current?.user.id ?? null));
    if (!result.ok) return sendPage(reply.code(result.reason === 'taken' ? 409 : 400), emailResultPage(ctx, result.reason));
    return sendPage(reply, emailResultPage(ctx, 'done', result.email));
  });
}
