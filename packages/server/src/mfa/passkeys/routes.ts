import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Platform } from '../../platform.js';
import type { User } from '../../identity/model.js';
import type { DomainEventType } from '../../audit/events.js';
import { AppError } from '../../http/errors.js';
import { verifyCsrf } from '../../http/csrf.js';
import { pageContext, sendPage } from '../../web/layout.js';
import type { PageContext } from '../../web/layout.js';
import { eventContext, signedIn } from '../../account/http.js';
import { interactionPageContext, loadInteraction } from '../../interaction/details.js';
import type { SignInPipeline } from '../../interaction/flow.js';
import { PasskeyError, toAppError } from './errors.js';
import type { PasskeyService } from './service.js';
import { passkeyName, renameBody } from './schemas.js';
import { passkeyErrorPage } from './views.js';
import { signInTenant } from '../../interaction/tenant.js';
import { recoveryCodesBody } from '../views.js';
import { accountLayout } from '../../account/views.js';

export interface PasskeyRouteDeps {
  platform: Platform;
  service: PasskeyService;
  /** The account page that shows the passkey section (results come back there). */
  accountPage: string;
  /** The sign-in pipeline: passkeys complete sign-ins through it. */
  flow: SignInPipeline;
}

/**
 * Passkey endpoints. Options are fetched as JSON by /assets/passkeys.js;
 * results come back as form POSTs (the script submits a hidden form), so a
 * sign-in can redirect through the engine and a refusal is a page with the
 * stable code and a way back.
 *
 * - account (signed in, CSRF token): POST /account/passkeys/options (JSON),
 *   /verify, /rename (forms); removal goes through the Security page's
 *   factor removal (POST /account/security/factors/remove, kind=passkey), which
 *   applies the MFA policy to every kind alike;
 * - sign-in: POST /interaction/:uid/passkey/options (JSON), /interaction/:uid/passkey
 *   (passwordless: the passkey is the only factor);
 * - MFA step: POST /interaction/:uid/passkey/mfa/options (JSON), /interaction/:uid/passkey/mfa;
 * - enrollment at the MFA step (MFA required, no factor yet): POST
 *   /interaction/:uid/passkey/enroll/options (JSON), /interaction/:uid/passkey/enroll.
 */
export function registerPasskeyRoutes(app: FastifyInstance, deps: PasskeyRouteDeps): void {
  const { platform: p, service, accountPage, flow } = deps;
  const pendingSecondFactor = (request: FastifyRequest, reply: FastifyReply) => flow.pending(request, reply);
  const html = { config: { html: true } };
  const pageDeps = { sessions: p.accountSessions, secure: p.secureCookies };

  const emit = async (type: DomainEventType, request: FastifyRequest, user: Pick<User, 'id' | 'tenantId'> | null, data: Record<string, unknown>, tenantId?: string) => {
    await p.events.emit({ type, tenantId: user?.tenantId ?? tenantId ?? null, subjectId: user?.id ?? null, context: eventContext(request, user?.id ?? null), data },
      (err) => p.log.error({ err }, 'event listener failed'));
  };

  /** A refused form POST: a 4xx page with the message and code, logged and audited; nothing was stored. */
  const refuse = async (request: FastifyRequest, reply: FastifyReply, ctx: PageContext, err: unknown, back: string, audit: { stage: string; user?: User | null; tenantId?: string }) => {
    if (!(err instanceof PasskeyError)) throw err;
    request.log.info({ event: 'passkey.refused', code: err.code, detail: err.detail, stage: audit.stage }, 'passkey refused');
    await emit('mfa.challenge_failed', request, audit.user ?? null, { kind: 'passkey', stage: audit.stage, reason: err.code }, audit.tenantId);
    const e = toAppError(err, ctx.t);
    return sendPage(reply.code(e.status), passkeyErrorPage(ctx, e.code, e.publicMessage, back));
  };

  // ---- account: register, rename (removal: the Security page's factor removal) ------------

  app.post('/account/passkeys/options', async (request, reply) => {
    requireSameOrigin(request);
    const account = await p.accountSessions.current(request);
    if (!account) throw new AppError('access_denied', 403, 'You are not signed in. Reload the page.');
    verifyCsrf(request, p.secureCookies);
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
      return sendPage(reply, accountLayout(page.ctx, accountPage, title, recoveryCodesBody(page.ctx, codes, { href: `${accountPage}?passkeys=added#passkeys` }), p.accountSessions.logoutUrl()));
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

  // ---- sign-in: the passkey as the only factor ----------------------------------------------

  app.post('/interaction/:uid/passkey/options', async (request, reply) => {
    requireSameOrigin(request);
    const { details, uid } = await loadInteraction(p.provider, request, reply);
    if (details.prompt.name !== 'login') throw new AppError('invalid_request', 400, 'This sign-in step has already been completed.');
    const ctx = pageContext(request, typeof details.params.ui_locales === 'string' ? details.params.ui_locales : undefined);
    try {
      return reply.header('cache-control', 'no-store').send(await service.authenticationOptions({ purpose: 'login', interactionUid: uid }));
    } catch (err) {
      if (err instanceof PasskeyError) throw toAppError(err, ctx.t);
      throw err;
    }
  });

  app.post('/interaction/:uid/passkey', html, async (request, reply) => {
    const { details, uid } = await loadInteraction(p.provider, request, reply);
    const ctx = pageContext(request, typeof details.params.ui_locales === 'string' ? details.params.ui_locales : undefined);
    if (details.prompt.name !== 'login') throw new AppError('invalid_request', 400, 'This sign-in step has already been completed.');
    const tenantId = await signInTenant(p.clients, details.params);
    let assertion;
    try {
      const credential = parseCredential((request.body as Record<string, unknown> | undefined)?.credential);
      assertion = await service.authenticate({ purpose: 'login', interactionUid: uid }, credential, { tenantId });
    } catch (err) {
      p.metrics.logins.inc({ outcome: 'invalid_credentials' });
      return refuse(request, reply, ctx, err, `/interaction/${uid}`, { stage: 'login', user: err instanceof PasskeyError ? await ownerOf(err) : null, tenantId });
    }
    p.metrics.logins.inc({ outcome: 'success' });
    // Registration requires user verification and so does this ceremony: possession + PIN/biometric.
    const amr = assertion.userVerified ? [assertion.keyAmr, 'user'] : [assertion.keyAmr];
    return flow.complete(request, reply, { method: 'passkey', kind: 'first', subject: { userId: assertion.passkey.userId }, amr });
  });

  // ---- MFA step: the passkey as the second factor ---------------------------------------------

  app.post('/interaction/:uid/passkey/mfa/options', async (request, reply) => {
    requireSameOrigin(request);
    const pending = await pendingSecondFactor(request, reply);
    const ctx = pageContext(request, pending.user.locale);
    try {
      const allow = await service.passkeys.listByUser(pending.user.id);
      if (!allow.length) throw new PasskeyError('passkey_unknown', 'the user has no passkeys');
      return reply.header('cache-control', 'no-store')
        .send(await service.authenticationOptions({ purpose: 'mfa', interactionUid: pending.uid, userId: pending.user.id }, allow));
    } catch (err) {
      if (err instanceof PasskeyError) throw toAppError(err, ctx.t);
      throw err;
    }
  });

  app.post('/interaction/:uid/passkey/mfa', html, async (request, reply) => {
    const pending = await pendingSecondFactor(request, reply);
    const { user, uid } = pending;
    const ctx = pageContext(request, user.locale);
    let assertion;
    try {
      const credential = parseCredential((request.body as Record<string, unknown> | undefined)?.credential);
      assertion = await service.authenticate({ purpose: 'mfa', interactionUid: uid, userId: user.id }, credential, { tenantId: user.tenantId, userId: user.id });
    } catch (err) {
      return refuse(request, reply, ctx, err, `/interaction/${uid}/mfa`, { stage: 'mfa', user });
    }
    return flow.complete(request, reply, { method: 'passkey', kind: 'second', subject: { userId: user.id }, amr: [assertion.keyAmr] });
  });

  // ---- enrollment inside a sign-in: MFA is required and the user has no factor yet ---------

  app.post('/interaction/:uid/passkey/enroll/options', async (request, reply) => {
    requireSameOrigin(request);
    const pending = await pendingEnrollment(request, reply);
    const ctx = pageContext(request, pending.user.locale);
    try {
      return reply.header('cache-control', 'no-store').send(await service.registrationOptions(pending.user, pending.uid));
    } catch (err) {
      if (err instanceof PasskeyError) throw toAppError(err, ctx.t);
      throw err;
    }
  });

  app.post('/interaction/:uid/passkey/enroll', html, async (request, reply) => {
    const pending = await pendingEnrollment(request, reply);
    const { user, uid } = pending;
    const ctx = pageContext(request, user.locale);
    const body = (request.body ?? {}) as Record<string, unknown>;
    let passkey;
    try {
      const typed = passkeyName.safeParse(typeof body.name === 'string' ? body.name : '');
      const name = typed.success ? typed.data : ctx.t('passkeys.default_name', { n: (await service.passkeys.listByUser(user.id)).length + 1 });
      passkey = await service.register(user, parseCredential(body.credential), name, uid);
    } catch (err) {
      return refuse(request, reply, ctx, err, `/interaction/${uid}/mfa`, { stage: 'enroll', user });
    }
    await emit('mfa.enrolled', request, user, { kind: 'passkey', id: passkey.id, name: passkey.name, deviceType: passkey.deviceType, aaguid: passkey.aaguid, during: 'sign-in' });
    // Creating the credential (with user verification) after the password is the second factor of this sign-in.
    const amr = [passkey.deviceType === 'multiDevice' ? 'swk' : 'hwk'];
    // Enrollment here is for users without a second factor: the first one comes with recovery codes, shown once before going on.
    const codes = await request.server.tesseraMfaService?.codesForFirstFactor(user, false, eventContext(request, user.id));
    const pageCtx = interactionPageContext(request, pending.details);
    return flow.complete(request, reply, {
      method: 'passkey', kind: 'second', subject: { userId: user.id }, amr,
      ...(codes ? { interstitial: { title: pageCtx.t('mfa.recovery.title'), body: (action: string) => recoveryCodesBody(pageCtx, codes, { action }) } } : {}),
    });
  });

  /**
   * The sign-in waiting for its second factor, when policy says the user must enroll one.
   * @throws AppError 400 session_expired (see pendingSecondFactor), invalid_request when no enrollment is due
   */
  async function pendingEnrollment(request: FastifyRequest, reply: FastifyReply) {
    const pending = await flow.pending(request, reply);
    // Only a user without a second factor enrolls here; anyone else proves one they have.
    if ((await flow.decide(pending.details, pending.user)).action !== 'enroll') {
      throw new AppError('invalid_request', 400, 'This sign-in does not need a new factor.');
    }
    return pending;
  }

  /** The owner of the passkey a refused sign-in named, for the audit log (when it is registered at all). */
  async function ownerOf(err: PasskeyError): Promise<User | null> {
    if (!err.credentialId) return null;
    const passkey = await service.passkeys.findById(err.credentialId);
    return passkey ? (await p.users.findById(passkey.userId)) ?? null : null;
  }
}

/**
 * The credential field of a form: the JSON the browser produced.
 * @throws PasskeyError invalid_request when it is missing or not JSON
 */
function parseCredential(value: unknown): unknown {
  if (typeof value !== 'string' || value.length > 48 * 1024) throw new PasskeyError('invalid_request', 'credential field missing or too large');
  try {
    return JSON.parse(value);
  } catch {
    throw new PasskeyError('invalid_request', 'credential field is not JSON');
  }
}

/**
 * The JSON endpoints are fetched by our own pages only. Same rule as the
 * form POSTs (http/server.ts): a cross-site Origin or Sec-Fetch-Site is refused.
 * @throws AppError 403 access_denied
 */
function requireSameOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  const site = request.headers['sec-fetch-site'];
  let host: string | undefined;
  try {
    host = origin && origin !== 'null' ? new URL(origin).host : undefined;
  } catch {
    host = '';
  }
  const sameOrigin = host === undefined ? site !== 'cross-site' : host === request.host;
  if (!sameOrigin || site === 'cross-site') throw new AppError('access_denied', 403, 'This request came from another site.');
}
