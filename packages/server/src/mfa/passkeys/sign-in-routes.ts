import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Platform } from '../../platform.js';
import type { User } from '../../identity/model.js';
import { AppError } from '../../http/errors.js';
import { pageContext } from '../../web/layout.js';
import { eventContext } from '../../account/http.js';
import { interactionPageContext } from '../../interaction/details.js';
import type { SignInFlow } from '../../interaction/flow.js';
import { membersSignIn } from '../../interaction/tenant.js';
import { PasskeyError, toAppError } from './errors.js';
import type { PasskeyService } from './service.js';
import { passkeyName } from './schemas.js';
import { recoveryCodesBody } from '../views.js';
import { parseCredential, passkeyHttp, requireSameOrigin } from './http.js';

/**
 * The passkey method's sign-in endpoints. Options are fetched as JSON by
 * /assets/passkeys.js; results come back as form POSTs, so a sign-in can
 * redirect through the engine and a refusal is a page with the stable code
 * and a way back.
 *
 * - first factor: POST /interaction/:uid/passkey/options (JSON), /interaction/:uid/passkey
 *   (passwordless: the passkey is the only factor);
 * - second factor: POST /interaction/:uid/passkey/mfa/options (JSON), /interaction/:uid/passkey/mfa;
 * - enrollment at the second-factor step (MFA required, no factor yet): POST
 *   /interaction/:uid/passkey/enroll/options (JSON), /interaction/:uid/passkey/enroll.
 */
export function registerPasskeySignInRoutes(app: FastifyInstance, p: Platform, service: PasskeyService, flow: SignInFlow): void {
  const html = { config: { html: true } };
  const { emit, refuse } = passkeyHttp(p);

  // ---- sign-in: the passkey as the only factor ----------------------------------------------

  app.post('/interaction/:uid/passkey/options', async (request, reply) => {
    requireSameOrigin(request);
    const { details, uid } = await flow.load(request, reply);
    const ctx = pageContext(request, typeof details.params.ui_locales === 'string' ? details.params.ui_locales : undefined);
    try {
      return reply.header('cache-control', 'no-store').send(await service.authenticationOptions({ purpose: 'login', interactionUid: uid }));
    } catch (err) {
      if (err instanceof PasskeyError) throw toAppError(err, ctx.t);
      throw err;
    }
  });

  app.post('/interaction/:uid/passkey', html, async (request, reply) => {
    const { details, uid, tenantId } = await flow.load(request, reply);
    const ctx = pageContext(request, typeof details.params.ui_locales === 'string' ? details.params.ui_locales : undefined);
    let assertion;
    try {
      const credential = parseCredential((request.body as Record<string, unknown> | undefined)?.credential);
      // A member's passkey (registered in their home tenant) too, except on the built-in apps (interaction/tenant.ts);
      // the pipeline checks the account again.
      const member = membersSignIn(details.params)
        ? async (userId: string, passkeyTenant: string) => (await p.users.findInTenant(userId, tenantId))?.tenantId === passkeyTenant
        : undefined;
      assertion = await service.authenticate({ purpose: 'login', interactionUid: uid }, credential, { tenantId, member });
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
    const pending = await flow.pending(request, reply);
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
    const pending = await flow.pending(request, reply);
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
   * @throws AppError 400 session_expired (see SignInFlow.pending), invalid_request when no enrollment is due
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
