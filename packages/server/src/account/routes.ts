import type { FastifyInstance } from 'fastify';
import { pageContext, sendPage } from '../web/layout.js';
import type { AccountSessions } from './session.js';
import { accountLayout, profileOverview } from './views.js';

export interface AccountDeps {
  sessions: AccountSessions;
}

/** Self-service account pages (server-rendered; each requires a signed-in account). */
export function registerAccountRoutes(app: FastifyInstance, deps: AccountDeps): void {
  deps.sessions.register(app);

  app.get('/account', { config: { html: true } }, async (request, reply) => {
    const account = await deps.sessions.require(request, reply);
    if (!account) return reply;
    const ctx = pageContext(request, account.user.locale);
    return sendPage(reply, accountLayout(ctx, '/account', ctx.t('account.title'), profileOverview(ctx, account.user), deps.sessions.logoutUrl()));
  });
}
