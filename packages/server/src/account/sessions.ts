import type { FastifyInstance } from 'fastify';
import { verifyCsrf } from '../http/csrf.js';
import { AppError } from '../http/errors.js';
import type { AccessService } from './access.js';
import { sessionForm } from './schemas.js';
import { sessionsPage } from './activity-views.js';
import { eventContext, sendAccountPage, signedIn } from './http.js';
import type { AccountPageDeps } from './http.js';

/** Active sessions (/account/sessions): where the account is signed in; sign out one or all. */
export function registerSessionRoutes(app: FastifyInstance, deps: AccountPageDeps & { access: AccessService }): void {
  const html = { config: { html: true } };

  app.get('/account/sessions', html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    const sessions = await deps.access.listSessions(page.account.user.id, page.account.sid);
    const notice = (request.query as { done?: unknown }).done === '1' ? page.ctx.t('account.sessions.revoked') : undefined;
    const body = sessionsPage(page.ctx, sessions, page.csrf, notice);
    return sendAccountPage(reply, deps, page, '/account/sessions', page.ctx.t('account.sessions.title'), body);
  });

  app.post('/account/sessions/revoke', html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    verifyCsrf(request, deps.secure);
    const form = sessionForm.safeParse(request.body ?? {});
    if (!form.success) throw new AppError('invalid_request', 400, 'No session was named.');
    const { user } = page.account;
    // Which session this browser is in decides where the user lands afterwards.
    const current = (await deps.access.listSessions(user.id, page.account.sid)).find((s) => s.current)?.uid;
    // Another account's session id, or one already gone, is treated the same: nothing to do.
    await deps.access.revokeSession(user.id, user.tenantId, form.data.session, eventContext(request, user.id));
    if (form.data.session === current) {
      deps.sessions.clear(reply);
      return reply.redirect('/', 303);
    }
    return reply.redirect('/account/sessions?done=1', 303);
  });

  app.post('/account/sessions/revoke-all', html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    verifyCsrf(request, deps.secure);
    const { user } = page.account;
    await deps.access.revokeAllSessions(user.id, user.tenantId, eventContext(request, user.id));
    // This browser's session went too.
    deps.sessions.clear(reply);
    return reply.redirect('/', 303);
  });
}
