import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { verifyCsrf } from '../http/csrf.js';
import { alert, csrfInput, esc } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import type { AuditRepository } from '../audit/repository.js';
import type { EventBus } from '../audit/events.js';
import type { AccountSessions } from '../account/session.js';
import { eventContext, sendAccountPage, signedIn } from '../account/http.js';
import type { SignedInPage } from '../account/http.js';
import type { UserExportService } from './export.js';
import { SELF_EXPORTS_PER_HOUR, exportAllowance } from './limits.js';
import './catalog.js';

export interface AccountExportDeps {
  sessions: AccountSessions;
  secure: boolean;
  exporter: UserExportService;
  audit: AuditRepository;
  events: EventBus;
  log: Pick<Logger, 'error'>;
}

function dataPage(ctx: PageContext, csrf: string, reauthSeconds: number, error?: string): string {
  const { t } = ctx;
  return `<h1>${esc(t('privacy.title'))}</h1>
${error ? alert(error) : ''}
<p>${esc(t('privacy.lead'))}</p>
<p class="hint">${esc(t('privacy.format'))} ${esc(t('privacy.step_up', { minutes: Math.max(1, Math.round(reauthSeconds / 60)) }))}</p>
<form method="post" action="/account/data/export">
  ${csrfInput(csrf)}
  <button type="submit">${esc(t('privacy.download'))}</button>
</form>`;
}

/**
 * GET /account/data and POST /account/data/export: the same export an
 * administrator can make (privacy/export.ts), of one's own data. A POST with
 * the form token (a download a link or a prefetch cannot trigger), after a
 * recent sign-in (the session's step-up), counted and audited like the
 * administrator's (`user.exported`, `via: account`).
 */
export function registerAccountExportRoutes(app: FastifyInstance, deps: AccountExportDeps): void {
  const html = { config: { html: true } };
  const render = (reply: FastifyReply, page: SignedInPage, error?: string, status = 200) =>
    sendAccountPage(reply, deps, page, '/account/data', page.ctx.t('privacy.title'), dataPage(page.ctx, page.csrf, deps.sessions.reauthMaxAge, error), status);

  app.get('/account/data', html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    return render(reply, page);
  });

  app.post('/account/data/export', html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    verifyCsrf(request, deps.secure);
    // Back here after signing in again: the person presses the button once more (a POST is not replayed).
    if (!(await deps.sessions.requireRecent(reply, page.account, '/account/data'))) return reply;
    const { user } = page.account;
    const allowed = await exportAllowance(deps.audit, user.id, SELF_EXPORTS_PER_HOUR);
    if (!allowed.ok) return render(reply.header('retry-after', String(allowed.retryAfter)), page, page.ctx.t('privacy.too_many'), 429);
    const doc = await deps.exporter.export(user);
    await deps.events.emit({
      type: 'user.exported', tenantId: user.tenantId, subjectId: user.id, context: eventContext(request, user.id), data: { via: 'account', format: doc.format },
    }, (err) => deps.log.error({ err, event: 'user.exported' }, 'event listener failed'));
    return reply.header('content-type', 'application/json; charset=utf-8')
      .header('content-disposition', `attachment; filename="tessera-my-data-${user.id}.json"`)
      .header('cache-control', 'no-store')
      .send(JSON.stringify(doc, null, 2));
  });
}
