import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EventContext } from '../audit/events.js';
import { deviceOf } from '../http/device-cookie.js';
import type { PendingSignIn, SignInFlow } from '../interaction/flow.js';
import type { Interstitial, SecondSlotView, SignInMethod } from '../interaction/methods.js';
import { interactionPageContext } from '../interaction/details.js';
import type { MfaService } from './service.js';
import { RECOVERY_LOW } from './service.js';
import { firstError, recoveryCodeForm, totpCodeForm, totpConfirmForm } from './schemas.js';
import { mfaError, recoveryChallengeForm, recoveryCodesBody, recoveryLowBody, totpChallengeForm, totpSetupBody } from './views.js';

/** The sign-in state's key for the TOTP enrollment shown on the in-sign-in setup page. */
const TOTP_ENROLLMENT = 'totp.enrollment';

const html = { config: { html: true } };

/** The verified second factor, handed to the pipeline. */
function done(flow: SignInFlow, request: FastifyRequest, reply: FastifyReply, pending: PendingSignIn, method: string, interstitial?: Interstitial) {
  return flow.complete(request, reply, { method, kind: 'second', subject: { userId: pending.user.id }, amr: ['otp'], ...(interstitial ? { interstitial } : {}) });
}

function context(request: FastifyRequest): EventContext {
  const ua = request.headers['user-agent'];
  // The device cookie (set at the password step): wrong codes from a known device lock that device only.
  return { ip: request.ip, userAgent: typeof ua === 'string' ? ua : null, device: deviceOf(request) ?? null };
}

/**
 * An authenticator app (TOTP, RFC 6238) as a second factor: its form on the
 * challenge page (POST /interaction/:uid/mfa/totp), and its setup inside the
 * sign-in for a user who must use MFA but has no factor (POST
 * /interaction/:uid/mfa/enroll). The pending secret lives server-side
 * (encrypted); the page only ever carries its id.
 */
export function totpMethod(service: MfaService): SignInMethod {
  const defaultLabel = (view: { ctx: { t: (k: string) => string } }) => view.ctx.t('mfa.totp.default_label');
  return {
    id: 'totp',
    kinds: ['second'],
    amr: ['otp'],
    order: 10,
    offered: async ({ user }) => Boolean(user && (await service.hasTotp(user.id))),
    async slot(view) {
      if (view.kind !== 'second') return undefined;
      const error = view.error?.method === 'totp' ? mfaError(view.ctx, view.error.code) : undefined;
      return { html: totpChallengeForm(view.ctx, view.uid, error, view.error?.method !== 'recovery_code'), region: 'main' };
    },
    async enrollSlot(view: SecondSlotView) {
      const pendingId = view.data[TOTP_ENROLLMENT];
      let setup = typeof pendingId === 'string' ? await service.pendingTotp(view.user, pendingId) : undefined;
      if (!setup) {
        setup = await service.startTotp(view.user);
        await view.setData(TOTP_ENROLLMENT, setup.id);
      }
      const error = view.error?.method === 'totp' ? view.error : undefined;
      return {
        html: totpSetupBody(view.ctx, {
          setup, action: `/interaction/${view.uid}/mfa/enroll`, label: error?.values?.label ?? defaultLabel(view), error: error?.code, required: true,
        }).trimEnd(),
        region: 'main',
      };
    },
    routes(app: FastifyInstance, flow: SignInFlow) {
      app.post('/interaction/:uid/mfa/totp', html, async (request, reply) => {
        flow.guard(request);
        const pending = await flow.pending(request, reply);
        const form = totpCodeForm.safeParse(request.body ?? {});
        // Malformed: a clear message, nothing counted, nothing changed.
        if (!form.success) return flow.challengePage(request, reply.code(400), pending, { method: 'totp', code: firstError(form.error, 'malformed_code') });
        const outcome = await service.verifyTotp(pending.user, form.data.code, context(request));
        if (outcome.ok) return done(flow, request, reply, pending, 'totp');
        flow.failed(request, 'totp', outcome.reason);
        // Wrong, expired, or the account is locked: one message. The right code a second time gets its own
        // (whoever typed it already knows the code was right; it tells them to wait for the next one).
        return flow.challengePage(request, reply.code(401), pending, { method: 'totp', code: outcome.reason === 'already_used' ? 'code_already_used' : 'invalid_code' });
      });

      app.post('/interaction/:uid/mfa/enroll', html, async (request, reply) => {
        const pending = await flow.pending(request, reply);
        const { action } = await flow.decide(pending.details, pending.user);
        // Only a user without a second factor enrolls here; anyone else proves one they have.
        if (action !== 'enroll') return reply.redirect(`/interaction/${pending.uid}/mfa`, 303);
        const form = totpConfirmForm.safeParse(request.body ?? {});
        const typed = (request.body as { label?: unknown } | undefined)?.label;
        const label = typeof typed === 'string' ? typed.slice(0, 64) : '';
        const refuse = (code: string) => flow.enrollPage(request, reply.code(400), pending, { method: 'totp', code, values: { label } });
        if (!form.success) return refuse(firstError(form.error));
        if (form.data.enrollment !== pending.state.data[TOTP_ENROLLMENT]) return refuse('expired');
        const ctx = interactionPageContext(request, pending.details);
        const result = await service.confirmTotp(pending.user, form.data.enrollment, form.data.code, form.data.label || ctx.t('mfa.totp.default_label'), context(request));
        if (!result.ok) return refuse(result.reason === 'expired' ? 'expired' : 'invalid_code');
        const codes = result.recoveryCodes;
        if (!codes) return done(flow, request, reply, pending, 'totp');
        // The first second factor comes with recovery codes, shown once before the sign-in goes on.
        return done(flow, request, reply, pending, 'totp', { title: ctx.t('mfa.recovery.title'), body: (next) => recoveryCodesBody(ctx, codes, { action: next }) });
      });
    },
  };
}

/**
 * Recovery codes as a second factor (never the only one: they stand in for a
 * lost authenticator): the fold at the bottom of the challenge page and
 * POST /interaction/:uid/mfa/recovery. With few codes left, the person is
 * told so before the sign-in goes on.
 */
export function recoveryCodeMethod(service: MfaService): SignInMethod {
  return {
    id: 'recovery_code',
    kinds: ['second'],
    // RFC 8176 has no value for recovery codes; a single-use pre-shared code is a one-time password (docs/mfa.md).
    amr: ['otp'],
    order: 90,
    offered: async ({ user }) => Boolean(user && (await service.recoveryStatus(user.id)).remaining > 0),
    async slot(view) {
      if (view.kind !== 'second') return undefined;
      const error = view.error?.method === 'recovery_code' ? mfaError(view.ctx, view.error.code) : undefined;
      return { html: recoveryChallengeForm(view.ctx, view.uid, error, Boolean(error) || !view.offered.includes('totp')), region: 'fallback' };
    },
    routes(app: FastifyInstance, flow: SignInFlow) {
      app.post('/interaction/:uid/mfa/recovery', html, async (request, reply) => {
        flow.guard(request);
        const pending = await flow.pending(request, reply);
        const form = recoveryCodeForm.safeParse(request.body ?? {});
        if (!form.success) return flow.challengePage(request, reply.code(400), pending, { method: 'recovery_code', code: firstError(form.error, 'malformed_recovery_code') });
        const outcome = await service.useRecoveryCode(pending.user, form.data.code, context(request));
        if (!outcome.ok) {
          flow.failed(request, 'recovery_code', outcome.reason);
          return flow.challengePage(request, reply.code(401), pending, { method: 'recovery_code', code: 'invalid_recovery_code' });
        }
        if (outcome.remaining > RECOVERY_LOW) return done(flow, request, reply, pending, 'recovery_code');
        // Few codes left: say so before the sign-in goes on.
        const ctx = interactionPageContext(request, pending.details);
        return done(flow, request, reply, pending, 'recovery_code', {
          title: ctx.t('mfa.recovery.low_title'), body: (next) => recoveryLowBody(ctx, outcome.remaining, next),
        });
      });
    },
  };
}
