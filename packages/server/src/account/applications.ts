import type { FastifyInstance } from 'fastify';
import { verifyCsrf } from '../http/csrf.js';
import { AppError } from '../http/errors.js';
import type { AccessService } from './access.js';
import { applicationForm } from './schemas.js';
import { applicationsPage } from './activity-views.js';
import { eventContext, sendAccountPage, signedIn } from './http.js';
import type { AccountPageDeps } from './http.js';

/** Connected applications (/account/applications): what the user granted, and revoking it. */
export function registerApplicationRoutes(app: FastifyInstance, deps: AccountPageDeps & { access: AccessService }): void {
  const html = { config: { html: true } };

  app.get('/account/applications', html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    const apps = await deps.access.listApplications(page.account.user.id);
    const notice = (request.query as { done?: unknown }).done === '1' ? page.ctx.t('account.apps.revoked') : undefined;
    const body = applicationsPage(page.ctx, apps, page.csrf, notice);
    return sendAccountPage(reply, deps, page, '/account/applications', page.ctx.t('account.apps.title'), body);
  });

  app.post('/account/applications/revoke', html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    verifyCsrf(request, deps.secure);
    const form = applicationForm.safeParse(request.body ?? {});
    if (!form.success) throw new AppError('invalid_request', 400, 'No application was named.');
    const { user } = page.account;
    // A client the user never granted anything is a no-op, not an error: the outcome is the same.
    await deps.access.revokeApplication(user.id, user.tenantId, form.data.client_id, eventContext(request, user.id));
    return reply.redirect('/account/applications?done=1', 303);
  });
}
