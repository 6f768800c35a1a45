import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Platform } from '../platform.js';
import { AppError } from '../http/errors.js';
import { interactionPageContext, interactionPageHeaders } from '../interaction/details.js';
import type { EventContext } from '../audit/events.js';
import type { LoginStep, PendingMfa } from './login-step.js';
import type { MfaService } from './service.js';
import { RECOVERY_LOW } from './service.js';
import { firstError, recoveryCodeForm, totpCodeForm, totpConfirmForm } from './schemas.js';
import { challengePage, interactionPage, recoveryCodesBody, recoveryLowBody, renderSlots, totpSetupBody } from './views.js';

export interface MfaLoginDeps {
  platform: Pick<Platform, 'clients' | 'throttle' | 'mfa'>;
  step: LoginStep;
  service: MfaService;
}

type ChallengeError = { form: 'totp' | 'recovery'; code: string };

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
  const { step, service } = deps;

  app.get('/interaction/:uid/mfa', html, async (request, reply) => {
    const pending = await step.pending(request, reply);
    // Reloaded after the second factor succeeded (new recovery codes were on screen): just go on.
    if (pending.state.doneAmr) return step.finishMfa(request, reply, pending, pending.state.doneAmr);
    const { action } = await step.decide(pending.details, pending.user);
    if (action === 'skip') return step.finishFirstFactorOnly(request, reply, pending);
    if (action === 'enroll') return renderEnroll(request, reply, pending);
    return renderChallenge(request, reply, pending);
  });

  app.post('/interaction/:uid/mfa/totp', html, async (request, reply) => {
    throttled(request);
    const pending = await step.pending(request, reply);
    const form = totpCodeForm.safeParse(request.body ?? {});
    // Malformed: a clear message, nothing counted, nothing changed.
    if (!form.success) return renderChallenge(request, reply.code(400), pending, { form: 'totp', code: firstError(form.error, 'malformed_code') });
    const outcome = await service.verifyTotp(pending.user, form.data.code, context(request));
    if (outcome.ok) return step.finishMfa(request, reply, pending, ['otp']);
    deps.platform.throttle.recordFailure(request.ip);
    // Wrong, expired, or the account is locked: one message. The right code a second time gets its own
    // (whoever typed it already knows the code was right; it tells them to wait for the next one).
    return renderChallenge(request, reply.code(401), pending, { form: 'totp', code: outcome.reason === 'already_used' ? 'code_already_used' : 'invalid_code' });
  });

  app.post('/interaction/:uid/mfa/recovery', html, async (request, reply) => {
    throttled(request);
    const pending = await step.pending(request, reply);
    const form = recoveryCodeForm.safeParse(request.body ?? {});
    if (!form.success) return renderChallenge(request, reply.code(400), pending, { form: 'recovery', code: firstError(form.error, 'malformed_recovery_code') });
    const outcome = await service.useRecoveryCode(pending.user, form.data.code, context(request));
    if (!outcome.ok) {
      deps.platform.throttle.recordFailure(request.ip);
      return renderChallenge(request, reply.code(401), pending, { form: 'recovery', code: 'invalid_recovery_code' });
    }
    if (outcome.remaining > RECOVERY_LOW) return step.finishMfa(request, reply, pending, ['otp']);
    // Few codes left: say so before the sign-in goes on (the second factor is recorded as done).
    await step.repo.setLoginDone(pending.uid, ['otp']);
    const ctx = interactionPageContext(request, pending.details);
    const body = recoveryLowBody(ctx, outcome.remaining, `/interaction/${pending.uid}/mfa/continue`);
    return interactionPageHeaders(reply, pending.details).send(interactionPage(ctx, ctx.t('mfa.recovery.low_title'), body));
  });

  app.post('/interaction/:uid/mfa/enroll', html, async (request, reply) => {
    const pending = await step.pending(request, reply);
    const { action } = await step.decide(pending.details, pending.user);
    // Only a user without a second factor enrolls here; anyone else proves one they have.
    if (action !== 'enroll') return reply.redirect(`/interaction/${pending.uid}/mfa`, 303);
    const form = totpConfirmForm.safeParse(request.body ?? {});
    const label = typeof (request.body as { label?: unknown } | undefined)?.label === 'string'
      ? String((request.body as { label: string }).label).slice(0, 64) : '';
    if (!form.success) return renderEnroll(request, reply.code(400), pending, firstError(form.error), label);
    if (form.data.enrollment !== pending.state.enrollTotpId) return renderEnroll(request, reply.code(400), pending, 'expired', label);
    const result = await service.confirmTotp(pending.user, form.data.enrollment, form.data.code,
      form.data.label || defaultLabel(interactionPageContext(request, pending.details).t), context(request));
    if (!result.ok) return renderEnroll(request, reply.code(400), pending, result.reason === 'expired' ? 'expired' : 'invalid_code', label);
    if (!result.recoveryCodes) return step.finishMfa(request, reply, pending, ['otp']);
    await step.repo.setLoginDone(pending.uid, ['otp']);
    const ctx = interactionPageContext(request, pending.details);
    const body = recoveryCodesBody(ctx, result.recoveryCodes, { action: `/interaction/${pending.uid}/mfa/continue` });
    return interactionPageHeaders(reply, pending.details).send(interactionPage(ctx, ctx.t('mfa.recovery.title'), body));
  });

  app.post('/interaction/:uid/mfa/continue', html, async (request, reply) => {
    const pending = await step.pending(request, reply);
    if (!pending.state.doneAmr) return reply.redirect(`/interaction/${pending.uid}/mfa`, 303);
    return step.finishMfa(request, reply, pending, pending.state.doneAmr);
  });

  /** @throws AppError 429 while this address has used up its failed-attempt allowance (shared with passwords). */
  function throttled(request: FastifyRequest): void {
    if (deps.platform.throttle.isBlocked(request.ip)) {
      throw new AppError('too_many_requests', 429, 'Too many failed sign-in attempts. Wait a minute and try again.');
    }
  }

  async function clientName(pending: PendingMfa): Promise<string> {
    const id = String(pending.details.params.client_id);
    return ((await deps.platform.clients.find(id))?.metadata.client_name as string | undefined) ?? id;
  }

  async function renderChallenge(request: FastifyRequest, reply: FastifyReply, pending: PendingMfa, error?: ChallengeError) {
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

  async function renderEnroll(request: FastifyRequest, reply: FastifyReply, pending: PendingMfa, error?: string, label?: string) {
    const ctx = interactionPageContext(request, pending.details);
    // The pending secret lives server-side (encrypted); the page only ever carries its id.
    let setup = pending.state.enrollTotpId ? await service.pendingTotp(pending.user, pending.state.enrollTotpId) : undefined;
    if (!setup) {
      setup = await service.startTotp(pending.user);
      await step.repo.setLoginEnrollment(pending.uid, setup.id);
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
