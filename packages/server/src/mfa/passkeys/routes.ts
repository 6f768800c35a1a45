import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.js';
import { AppError } from '../../http/errors.js';
import { verifyCsrf } from '../../http/csrf.js';
import { pageContext, sendPage } from '../../web/layout.js';
import { eventContext, signedIn } from '../../account/http.js';
import { PasskeyError, toAppError } from './errors.js';
import type { PasskeyService } from './service.js';
import { passkeyName, renameBody } from './schemas.js';
import { recoveryCodesBody } from '../views.js';
import { accountLayout } from '../../account/views.js';
import { parseCredential, passkeyHttp, requireSameOrigin } from './http.js';

export interface PasskeyRouteDeps {
  platform: Platform;
  service: PasskeyService;
  /** The account page that shows the passkey section (results come back there). */
  accountPage: string;
}

/**
 * Passkey endpoints of the account pages. Options are fetched as JSON by
 * /assets/passkeys.js; results come back as form POSTs (the script submits a
 * hidden form), so a refusal is a page with the stable code and a way back:
 * POST /account/passkeys/options (JSON), /verify, /rename (forms, signed in,
 * CSRF token); removal goes through the Security page's factor removal (POST
 * /account/security/factors/remove, kind=passkey), which applies the MFA
 * policy to every kind alike. The sign-in routes are the passkey method's
 * (sign-in-routes.ts).
 */
export function registerPasskeyRoutes(app: FastifyInstance, deps: PasskeyRouteDeps): void {
  const { platform: p, service, accountPage } = deps;
  const html = { config: { html: true } };
  const pageDeps = { sessions: p.accountSessions, secure: p.secureCookies };
  const { emit, refuse } = passkeyHttp(p);

  // ---- account: register, rename (removal: the Security page's factor removal) ------------

  app.post('/account/passkeys/options', async (request, reply) => {
    requireSameOrigin(request);
    const account = await p.accountSessions.current(request);
    if (!account) throw new AppError('access_denied', 403, 'You are not signed in. Reload the page.');
    verifyCsrf(request, p.secureCookies);
    // Enrolling an authenticator needs a recent sign-in: 401 reauthentication_required, and the page's script signs in again.
    p.accountSessions.assertRecent(account);
    const ctx = pageContext(request, account.user.locale);
    try {
      return reply.header('cache-control', 'no-store').send(await service.registrationOptions(account.user));
    } catch (err) {
      if (err instanceof PasskeyError) throw toAppError(err, ctx.t);
      throw err;
    }
  });

  app.post('/account/passkeys/verify', html, async (request, reply) => {
    const page = await signedIn(request, reply, pageDeps);
    if (!page) return reply;
    verifyCsrf(request, p.secureCookies);
    // (The options were refused without a recent sign-in; the window may have closed during the ceremony.)
    if (!(await p.accountSessions.requireRecent(reply, page.account, accountPage))) return reply;
    const { user } = page.account;
    const body = (request.body ?? {}) as Record<string, unknown>;
    try {
      const hadSecondFactor = await p.mfa.hasSecondFactor(user.id);
      const existing = await service.passkeys.listByUser(user.id);
      const typed = passkeyName.safeParse(typeof body.name === 'string' ? body.name : '');
      const name = typed.success ? typed.data : page.ctx.t('passkeys.default_name', { n: existing.length + 1 });
      const passkey = await service.register(user, parseCredential(body.credential), name);
      await emit('mfa.enrolled', request, user, { kind: 'passkey', id: passkey.id, name: passkey.name, deviceType: passkey.deviceType, aaguid: passkey.aaguid });
      // A first factor comes with recovery codes, whatever its kind: a lost passkey must not lock the account for good.
      const codes = await request.server.tesseraMfaService?.codesForFirstFactor(user, hadSecondFactor, eventContext(request, user.id));
      if (!codes) return reply.redirect(`${accountPage}?passkeys=added#passkeys`, 303);
      const title = page.ctx.t('mfa.recovery.title');
      return sendPage(reply, accountLayout(page.ctx, accountPage, title, recoveryCodesBody(page.ctx, codes, { href: `${accountPage}?passkeys=added#passkeys` }), p.accountSessions.logoutUrl(), user), [], { scripts: true });
    } catch (err) {
      return refuse(request, reply, page.ctx, err, `${accountPage}#passkeys`, { stage: 'register', user });
    }
  });

  // The id travels in the body, not the path: credential ids can be longer than the router allows in a path segment.
  app.post('/account/passkeys/rename', html, async (request, reply) => {
    const page = await signedIn(request, reply, pageDeps);
    if (!page) return reply;
    verifyCsrf(request, p.secureCookies);
    const body = renameBody.safeParse(request.body ?? {});
    if (!body.success) return reply.redirect(`${accountPage}?passkeys=not_found#passkeys`, 303);
    const name = passkeyName.safeParse(body.data.name);
    if (!name.success) return reply.redirect(`${accountPage}?passkeys=name_invalid#passkeys`, 303);
    const renamed = await service.passkeys.rename(page.account.user.id, body.data.id, name.data);
    return reply.redirect(`${accountPage}?passkeys=${renamed ? 'renamed' : 'not_found'}#passkeys`, 303);
  });
}
