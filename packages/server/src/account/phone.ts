import type { FastifyInstance } from 'fastify';
import { verifyCsrf } from '../http/csrf.js';
import type { AccountService } from './service.js';
import { codeForm, fieldErrors } from './schemas.js';
import { phonePage } from './profile-views.js';
import type { PhoneView } from './profile-views.js';
import { eventContext, sendAccountPage, signedIn } from './http.js';
import type { AccountPageDeps, SignedInPage } from './http.js';

/** Phone confirmation (/account/phone): a 6-digit code by SMS, entered on the page. */
export function registerPhoneRoutes(app: FastifyInstance, deps: AccountPageDeps & { service: AccountService }): void {
  const html = { config: { html: true } };
  const render = (reply: Parameters<typeof sendAccountPage>[0], page: SignedInPage, v: Omit<PhoneView, 'csrf'>, status = 200) =>
    sendAccountPage(reply, deps, page, '/account/phone', page.ctx.t('account.phone.title'), phonePage(page.ctx, { ...v, csrf: page.csrf }), status);

  app.get('/account/phone', html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    const confirmed = (request.query as { confirmed?: unknown }).confirmed === '1';
    return render(reply, page, { user: page.account.user, confirmed });
  });

  app.post('/account/phone/send', html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    verifyCsrf(request, deps.secure);
    const { user } = page.account;
    const result = await deps.service.sendPhoneCode(user, page.ctx.locale, request.ip);
    if (result.ok) return render(reply, page, { user, sent: true });
    // Nothing to send (no number, or already confirmed): the page shows the current state.
    if (result.reason !== 'too_many_requests') return reply.redirect('/account/phone', 303);
    return render(reply, page, { user, error: result.reason }, 429);
  });

  app.post('/account/phone/confirm', html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    verifyCsrf(request, deps.secure);
    const { user } = page.account;
    if (!user.phoneNumber || user.phoneNumberVerified) return reply.redirect('/account/phone', 303);
    const parsed = codeForm.safeParse(request.body ?? {});
    if (!parsed.success) return render(reply, page, { user, error: fieldErrors(parsed.error).code ?? 'invalid_code' }, 400);
    const result = await deps.service.confirmPhone(user, parsed.data.code, eventContext(request, user.id));
    if (result.ok) return reply.redirect('/account/phone?confirmed=1', 303);
    return render(reply, page, { user, error: result.reason, attemptsLeft: result.attemptsLeft }, 400);
  });
}
