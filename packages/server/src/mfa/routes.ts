import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Platform } from '../platform.js';
import type { Interstitial } from '../interaction/methods.js';
import { interactionPageContext, interactionPageHeaders } from '../interaction/details.js';
import type { EventContext } from '../audit/events.js';
import type { PendingSignIn, SignInPipeline } from '../interaction/flow.js';
import type { MfaService } from './service.js';
import { RECOVERY_LOW } from './service.js';
import { firstError, recoveryCodeForm, totpCodeForm, totpConfirmForm } from './schemas.js';
import { challengePage, interactionPage, recoveryCodesBody, recoveryLowBody, totpSetupBody } from './views.js';
import { renderSlots } from '../web/slots.js';

export interface MfaLoginDeps {
  platform: Pick<Platform, 'clients' | 'mfa'>;
  flow: SignInPipeline;
  service: MfaService;
}

type ChallengeError = { form: 'totp' | 'recovery'; code: string };

/** The sign-in state's key for the TOTP enrollment shown on the in-login setup page. */
const TOTP_ENROLLMENT = 'totp.enrollment';

/**
 * The MFA step of the hosted sign-in, under the engine interaction
 * (/interaction/:uid/mfa…): the challenge page, TOTP and recovery-code
 * verification, and TOTP enrollment for users who must use MFA but have no
 * factor. Like the other interaction forms, these are protected by the
 * engine's SameSite interaction cookie bound to the uid plus the Origin
 * check on every POST; the first factor is read from the server-side login
 * state, never from the form.
 */
export function registerMfaLoginRoutes(app: FastifyInstance, deps: MfaLoginDeps): void {
  const html = { config: { html: true } };
  const { flow, service } = deps;
  const done = (request: FastifyRequest, reply: FastifyReply, pending: PendingSignIn, method: string, interstitial?: Interstitial) =>
    flow.complete(request, reply, { method, kind: 'second', subject: { userId: pending.user.id }, amr: ['otp'], ...(interstitial ? { interstitial } : {}) });

  app.get('/interaction/:uid/mfa', html, async (request, reply) => {
    const pending = await flow.pending(request, reply);
    // Reloaded after the second factor succeeded (new recovery codes were on screen): just go on.
    if (pending.state.done) return flow.finishPending(request, reply, pending);
    const { action } = await flow.decide(pending.details, pending.user);
    if (action === 'skip') return flow.finishPending(request, reply, pending);
    if (action === 'enroll') return renderEnroll(request, reply, pending);
    return renderChallenge(request, reply, pending);
  });

  app.post('/interaction/:uid/mfa/totp', html, async (request, reply) => {
    throttled(request);
    const pending = await flow.pending(request, reply);
    const form = totpCodeForm.safeParse(request.body ?? {});
    // Malformed: a clear message, nothing counted, nothing changed.
    if (!form.success) return renderChallenge(request, reply.code(400), pending, { form: 'totp', code: firstError(form.error, 'malformed_code') });
    const outcome = await service.verifyTotp(pending.user, form.data.code, context(request));
    if (outcome.ok) return done(request, reply, pending, 'totp');
    flow.failed(request, 'totp', outcome.reason);
    // Wrong, expired, or the account is locked: one message. The right code a second time gets its own
    // (whoever typed it already knows the code was right; it tells them to wait for the next one).
    return renderChallenge(request, reply.code(401), pending, { form: 'totp', code: outcome.reason === 'already_used' ? 'code_already_used' : 'invalid_code' });
  });

  app.post('/interaction/:uid/mfa/recovery', html, async (request, reply) => {
    throttled(request);
    const pending = await flow.pending(request, reply);
    const form = recoveryCodeForm.safeParse(request.body ?? {});
    if (!form.success) return renderChallenge(request, reply.code(400), pending, { form: 'recovery', code: firstError(form.error, 'malformed_recovery_code') });
    const outcome = await service.useRecoveryCode(pending.user, form.data.code, context(request));
    if (!outcome.ok) {
      flow.failed(request, 'recovery_code', outcome.reason);
      return renderChallenge(request, reply.code(401), pending, { form: 'recovery', code: 'invalid_recovery_code' });
    }
    if (outcome.remaining > RECOVERY_LOW) return done(request, reply, pending, 'recovery_code');
    // Few codes left: say so before the sign-in goes on.
    const ctx = interactionPageContext(request, pending.details);
    return done(request, reply, pending, 'recovery_code', {
      title: ctx.t('mfa.recovery.low_title'), body: (action) => recoveryLowBody(ctx, outcome.remaining, action),
    });
  });

  app.post('/interaction/:uid/mfa/enroll', html, async (request, reply) => {
    const pending = await flow.pending(request, reply);
    const { action } = await flow.decide(pending.details, pending.user);
    // Only a user without a second factor enrolls here; anyone else proves one they have.
    if (action !== 'enroll') return reply.redirect(`/interaction/${pending.uid}/mfa`, 303);
    const form = totpConfirmForm.safeParse(request.body ?? {});
    const label = typeof (request.body as { label?: unknown } | undefined)?.label === 'string'
      ? String((request.body as { label: string }).label).slice(0, 64) : '';
    if (!form.success) return renderEnroll(request, reply.code(400), pending, firstError(form.error), label);
    if (form.data.enrollment !== pending.state.data[TOTP_ENROLLMENT]) return renderEnroll(request, reply.code(400), pending, 'expired', label);
    const result = await service.confirmTotp(pending.user, form.data.enrollment, form.data.code,
      form.data.label || defaultLabel(interactionPageContext(request, pending.details).t), context(request));
    if (!result.ok) return renderEnroll(request, reply.code(400), pending, result.reason === 'expired' ? 'expired' : 'invalid_code', label);
    if (!result.recoveryCodes) return done(request, reply, pending, 'totp');
    const ctx = interactionPageContext(request, pending.details);
    const codes = result.recoveryCodes;
    return done(request, reply, pending, 'totp', { title: ctx.t('mfa.recovery.title'), body: (action) => recoveryCodesBody(ctx, codes, { action }) });
  });

  app.post('/interaction/:uid/mfa/continue', html, async (request, reply) => {
    const pending = await flow.pending(request, reply);
    if (!pending.state.done) return reply.redirect(`/interaction/${pending.uid}/mfa`, 303);
    return flow.finishPending(request, reply, pending);
  });

  /** @throws AppError 429 while this address has used up its failed-attempt allowance (shared with passwords). */
  function throttled(request: FastifyRequest): void {
    flow.guard(request);
  }

  async function clientName(pending: PendingSignIn): Promise<string> {
    const id = String(pending.details.params.client_id);
    return ((await deps.platform.clients.find(id))?.metadata.client_name as string | undefined) ?? id;
  }

  async function renderChallenge(request: FastifyRequest, reply: FastifyReply, pending: PendingSignIn, error?: ChallengeError) {
    const ctx = interactionPageContext(request, pending.details);
    const totp = deps.platform.mfa.provider('totp');
    const hasTotp = totp ? (await totp.list(pending.user.id)).length > 0 : false;
    const { remaining } = await service.recoveryStatus(pending.user.id);
    const slots = renderSlots(await Promise.all(deps.platform.mfa.kinds()
      .map((k) => deps.platform.mfa.provider(k)!)
      .filter((p) => p.challengeSlot)
      .map(async (p) => ((await p.list(pending.user.id)).length
        ? p.challengeSlot!({ ctx, uid: pending.uid, user: pending.user, stepUp: pending.state.stepUp }) : undefined))));
    const page = challengePage(ctx, {
      uid: pending.uid, clientName: await clientName(pending), hasTotp, recoveryRemaining: remaining, error,
      slots: slots.html, stepUp: pending.state.stepUp,
    });
    return interactionPageHeaders(reply, pending.details, { scripts: slots.scripts }).send(page);
  }

  async function renderEnroll(request: FastifyRequest, reply: FastifyReply, pending: PendingSignIn, error?: string, label?: string) {
    const ctx = interactionPageContext(request, pending.details);
    // The pending secret lives server-side (encrypted); the page only ever carries its id.
    const enrollment = pending.state.data[TOTP_ENROLLMENT];
    let setup = typeof enrollment === 'string' ? await service.pendingTotp(pending.user, enrollment) : undefined;
    if (!setup) {
      setup = await service.startTotp(pending.user);
      await flow.setData(pending.uid, TOTP_ENROLLMENT, setup.id);
    }
    const slots = renderSlots(await Promise.all(deps.platform.mfa.kinds()
      .map((k) => deps.platform.mfa.provider(k)!)
      .filter((p) => p.enrollSlot)
      .map((p) => p.enrollSlot!({ ctx, uid: pending.uid, user: pending.user, stepUp: pending.state.stepUp }))));
    const body = totpSetupBody(ctx, {
      setup, action: `/interaction/${pending.uid}/mfa/enroll`, label: label ?? defaultLabel(ctx.t), error, required: true,
      cancel: { action: `/interaction/${pending.uid}/abort` }, slots: slots.html,
    });
    return interactionPageHeaders(reply, pending.details, { scripts: slots.scripts }).send(interactionPage(ctx, ctx.t('mfa.setup.title'), body));
  }
}

function defaultLabel(t: (key: string) => string): string {
  return t('mfa.totp.default_label');
}

function context(request: FastifyRequest): EventContext {
  const ua = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof ua === 'string' ? ua : null };
}
