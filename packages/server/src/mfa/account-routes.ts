import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Platform } from '../platform.js';
import { verifyCsrf } from '../http/csrf.js';
import { sendPage } from '../web/layout.js';
import { accountLayout } from '../account/views.js';
import { eventContext, signedIn } from '../account/http.js';
import type { AccountPageDeps, SignedInPage } from '../account/http.js';
import type { MfaService } from './service.js';
import { firstError, removeFactorForm, totpConfirmForm } from './schemas.js';
import { recoveryCodesBody, securityBody, totpSetupBody } from './views.js';
import { renderSlots } from '../web/slots.js';
import { esc } from '../web/layout.js';
import { CONNECTED_ACCOUNTS_PATH, offersConnectedAccounts } from '../federation/account-links.js';

export const SECURITY_PATH = '/account/security';

/** Notices the security page shows after a redirect (`?notice=`), by catalogue key. */
const NOTICES = new Set(['totp_added', 'removed']);

export interface MfaAccountDeps extends AccountPageDeps {
  platform: Pick<Platform, 'mfa' | 'identityProviders'>;
  service: MfaService;
}

/**
 * The Security tab of the account pages (/account/security): add and remove
 * authenticator apps (TOTP), see and regenerate recovery codes, and the
 * sections other factor kinds contribute (passkeys). Every POST carries the
 * CSRF token (and passes the Origin check).
 */
export function registerMfaAccountRoutes(app: FastifyInstance, deps: MfaAccountDeps): void {
  const html = { config: { html: true } };
  const { service } = deps;

  const send = (reply: FastifyReply, page: SignedInPage, title: string, body: string, status = 200, scripts = false) =>
    sendPage(reply.code(status), accountLayout(page.ctx, SECURITY_PATH, title, body, deps.sessions.logoutUrl(), page.account.user), [], { scripts });

  const renderSecurity = async (reply: FastifyReply, page: SignedInPage, extra: { notice?: string; error?: string } = {}, status = 200) => {
    const { user } = page.account;
    const { ctx } = page;
    const required = await service.requiredFor(user);
    const totp = (await deps.platform.mfa.provider('totp')?.list(user.id)) ?? [];
    const secondFactors = await service.secondFactors(user.id);
    const slots = renderSlots(await Promise.all(deps.platform.mfa.kinds()
      .map((k) => deps.platform.mfa.provider(k)!)
      .filter((p) => p.accountSlot)
      .map((p) => p.accountSlot!({
        ctx, user, csrf: page.csrf, mfaRequired: required, secondFactorCount: secondFactors.length, query: reply.request.query as Record<string, unknown>,
      }))));
    const body = securityBody(ctx, {
      csrf: page.csrf, totp, recovery: await service.recoveryStatus(user.id), hasSecondFactor: secondFactors.length > 0, required,
      notice: extra.notice ? ctx.t(`mfa.notice.${extra.notice}`) : undefined,
      error: extra.error ? ctx.t(`mfa.error.${extra.error}`) : undefined,
      slots: slots.html + await connectedLink(page),
    });
    return send(reply, page, ctx.t('mfa.security.title'), body, status, slots.scripts);
  };

  // Connected accounts has no tab of its own (the row must fit 1280 px): the security page links to it when the tenant has providers to connect.
  const connectedLink = async (page: SignedInPage) => (await offersConnectedAccounts(deps.platform.identityProviders, page.account.user.tenantId)
    ? `<h2>${esc(page.ctx.t('federation.account.title'))}</h2>\n<p><a href="${CONNECTED_ACCOUNTS_PATH}" id="connected-accounts">${esc(page.ctx.t('federation.account.security_link'))}</a></p>` : '');

  app.get(SECURITY_PATH, html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    const notice = (request.query as { notice?: unknown }).notice;
    return renderSecurity(reply, page, { notice: typeof notice === 'string' && NOTICES.has(notice) ? notice : undefined });
  });

  // Starting an enrollment creates server state, so it is a POST (a GET could be prefetched).
  app.post(`${SECURITY_PATH}/totp`, html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    verifyCsrf(request, deps.secure);
    // A security change: the sign-in behind the session must be recent (account/session.ts requireRecent); back here after it.
    if (!(await deps.sessions.requireRecent(reply, page.account, SECURITY_PATH))) return reply;
    const setup = await service.startTotp(page.account.user);
    const body = totpSetupBody(page.ctx, {
      setup, action: `${SECURITY_PATH}/totp/confirm`, csrf: page.csrf, label: page.ctx.t('mfa.totp.default_label'), cancel: { href: SECURITY_PATH },
    });
    return send(reply, page, page.ctx.t('mfa.setup.title'), body);
  });

  app.post(`${SECURITY_PATH}/totp/confirm`, html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    verifyCsrf(request, deps.secure);
    // A security change: the sign-in behind the session must be recent (account/session.ts requireRecent); back here after it.
    if (!(await deps.sessions.requireRecent(reply, page.account, SECURITY_PATH))) return reply;
    const { user } = page.account;
    const body = (request.body ?? {}) as Record<string, unknown>;
    const form = totpConfirmForm.safeParse(body);
    const enrollment = typeof body.enrollment === 'string' ? body.enrollment : '';
    const typedLabel = typeof body.label === 'string' ? body.label.slice(0, 64) : '';
    const again = async (error: string) => {
      const setup = /^[0-9a-f-]{36}$/i.test(enrollment) ? await service.pendingTotp(user, enrollment) : undefined;
      // The enrollment expired (or never was): start over from the Security page.
      if (!setup) return renderSecurity(reply, page, { error: 'expired' }, 400);
      const view = totpSetupBody(page.ctx, { setup, action: `${SECURITY_PATH}/totp/confirm`, csrf: page.csrf, label: typedLabel, error, cancel: { href: SECURITY_PATH } });
      return send(reply, page, page.ctx.t('mfa.setup.title'), view, 400);
    };
    if (!form.success) return again(firstError(form.error));
    const label = form.data.label || page.ctx.t('mfa.totp.default_label');
    const result = await service.confirmTotp(user, form.data.enrollment, form.data.code, label, eventContext(request, user.id));
    if (!result.ok) return again(result.reason === 'expired' ? 'expired' : 'invalid_code');
    if (!result.recoveryCodes) return reply.redirect(`${SECURITY_PATH}?notice=totp_added`, 303);
    return send(reply, page, page.ctx.t('mfa.recovery.title'), recoveryCodesBody(page.ctx, result.recoveryCodes, { href: `${SECURITY_PATH}?notice=totp_added` }), 200, true);
  });

  app.post(`${SECURITY_PATH}/factors/remove`, html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    verifyCsrf(request, deps.secure);
    // A security change: the sign-in behind the session must be recent (account/session.ts requireRecent); back here after it.
    if (!(await deps.sessions.requireRecent(reply, page.account, SECURITY_PATH))) return reply;
    const { user } = page.account;
    const form = removeFactorForm.safeParse(request.body ?? {});
    if (!form.success) return renderSecurity(reply, page, { error: 'not_found' }, 404);
    const outcome = await service.removeFactor(user, form.data.kind, form.data.id, eventContext(request, user.id));
    if (outcome === 'removed') return reply.redirect(`${SECURITY_PATH}?notice=removed`, 303);
    if (outcome === 'last_factor_required') return renderSecurity(reply, page, { error: 'last_factor_required' }, 409);
    return renderSecurity(reply, page, { error: 'not_found' }, 404);
  });

  app.post(`${SECURITY_PATH}/recovery-codes`, html, async (request, reply) => {
    const page = await signedIn(request, reply, deps);
    if (!page) return reply;
    verifyCsrf(request, deps.secure);
    // A security change: the sign-in behind the session must be recent (account/session.ts requireRecent); back here after it.
    if (!(await deps.sessions.requireRecent(reply, page.account, SECURITY_PATH))) return reply;
    const { user } = page.account;
    // Recovery codes stand in for a second factor; without one they would be a lone factor.
    if (!(await service.secondFactors(user.id)).length) return renderSecurity(reply, page, { error: 'no_second_factor' }, 409);
    const codes = await service.regenerateRecoveryCodes(user, eventContext(request, user.id));
    return send(reply, page, page.ctx.t('mfa.recovery.title'), recoveryCodesBody(page.ctx, codes, { href: SECURITY_PATH }), 200, true);
  });
}
