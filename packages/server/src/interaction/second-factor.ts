import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ClientRepository } from '../oidc/repository.js';
import { esc, layout } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import { renderSlots } from '../web/slots.js';
import type { PageSlot } from '../web/slots.js';
import { interactionPageContext, interactionPageHeaders } from './details.js';
import type { PendingSignIn, SignInPipeline } from './flow.js';
import type { MethodSlot, SecondSlotView, SignInMethods } from './methods.js';
import { clientName } from './sign-in-page.js';

export interface SecondFactorDeps {
  clients: Pick<ClientRepository, 'find'>;
  methods: SignInMethods;
}

/** The method whose form failed on a second-factor page, its error code, and values to keep in the form. */
export interface SecondFactorError {
  method: string;
  code: string;
  values?: Record<string, string>;
}

/**
 * The second-factor pages of the sign-in (the pipeline's `secondFactor`
 * step sends the browser here): the challenge, composed of the offered
 * second factors' slots (TOTP form first, other authenticators next, the
 * recovery-code fold last), or — when policy requires MFA and the user has
 * no factor — the enrollment page composed of the methods' enrollment slots.
 */
export function createSecondFactorPages(deps: SecondFactorDeps, flow: SignInPipeline) {
  const view = async (request: FastifyRequest, pending: PendingSignIn, error?: SecondFactorError): Promise<Omit<SecondSlotView, 'offered'>> => ({
    kind: 'second', ctx: interactionPageContext(request, pending.details), uid: pending.uid, user: pending.user, stepUp: pending.state.stepUp,
    ...(error ? { error } : {}), data: pending.state.data, setData: (key, value) => flow.setData(pending.uid, key, value),
  });

  async function challenge(request: FastifyRequest, reply: FastifyReply, pending: PendingSignIn, error?: SecondFactorError): Promise<FastifyReply> {
    const base = await view(request, pending, error);
    const offer = { kind: 'second' as const, tenantId: pending.user.tenantId, params: pending.details.params, user: pending.user };
    const methods = (await Promise.all(deps.methods.list('second').map(async (m) => ((await (m.offered?.(offer) ?? true)) ? m : undefined))))
      .filter((m) => m !== undefined);
    const v: SecondSlotView = { ...base, offered: methods.map((m) => m.id) };
    const slots: MethodSlot[] = (await Promise.all(methods.map((m) => m.slot?.(v)))).filter((s) => s !== undefined);
    const region = (r: MethodSlot['region']) => slots.filter((s) => (s.region ?? 'extra') === r);
    const extra = renderSlots(region('extra'));
    const main = region('main');
    const fallback = region('fallback');
    const scripts = extra.scripts || [...main, ...fallback].some((s) => s.scripts?.length);
    const page = challengePage(v.ctx, {
      uid: pending.uid, stepUp: pending.state.stepUp, clientName: await clientName(deps.clients, String(pending.details.params.client_id)),
      main: main.map((s) => s.html).join('\n'), extra: extra.html, fallback: fallback.map((s) => s.html).join('\n'),
    });
    return interactionPageHeaders(reply, pending.details, { scripts }).send(page);
  }

  async function enroll(request: FastifyRequest, reply: FastifyReply, pending: PendingSignIn, error?: SecondFactorError): Promise<FastifyReply> {
    const base = await view(request, pending, error);
    const methods = deps.methods.list('second').filter((m) => m.enrollSlot);
    const v: SecondSlotView = { ...base, offered: methods.map((m) => m.id) };
    const slots: PageSlot[] = (await Promise.all(methods.map((m) => m.enrollSlot!(v)))).filter((s) => s !== undefined);
    const rendered = renderSlots(slots);
    const body = `${rendered.html}
<form method="post" action="/interaction/${esc(pending.uid)}/abort"><button type="submit" class="secondary">${esc(v.ctx.t('button.cancel'))}</button></form>`;
    return interactionPageHeaders(reply, pending.details, { scripts: rendered.scripts }).send(layout(v.ctx, v.ctx.t('mfa.setup.title'), body));
  }

  return { challenge, enroll };
}

export type SecondFactorPages = ReturnType<typeof createSecondFactorPages>;

/**
 * GET /interaction/:uid/mfa (the challenge or the enrollment, as policy
 * decides now) and POST /interaction/:uid/mfa/continue (after an
 * interstitial such as new recovery codes). Like every interaction form,
 * protected by the engine's SameSite interaction cookie bound to the uid plus
 * the Origin check on POSTs; what was completed is read from the server-side
 * state, never from a form.
 */
export function registerSecondFactorRoutes(app: FastifyInstance, flow: SignInPipeline, pages: SecondFactorPages): void {
  const html = { config: { html: true } };

  app.get('/interaction/:uid/mfa', html, async (request, reply) => {
    const pending = await flow.pending(request, reply);
    // Reloaded after the second factor succeeded (an interstitial was on screen): just go on.
    if (pending.state.done) return flow.finishPending(request, reply, pending);
    const { action } = await flow.decide(pending.details, pending.user);
    if (action === 'skip') return flow.finishPending(request, reply, pending);
    if (action === 'enroll') return pages.enroll(request, reply, pending);
    return pages.challenge(request, reply, pending);
  });

  app.post('/interaction/:uid/mfa/continue', html, async (request, reply) => {
    const pending = await flow.pending(request, reply);
    if (!pending.state.done) return reply.redirect(`/interaction/${pending.uid}/mfa`, 303);
    return flow.finishPending(request, reply, pending);
  });
}

interface ChallengeView {
  uid: string;
  clientName: string;
  stepUp: boolean;
  /** The primary forms (an authenticator app's code). */
  main: string;
  /** Other authenticators (passkeys). */
  extra: string;
  /** The fallback (recovery codes). */
  fallback: string;
}

/** The sign-in MFA page: the user's factors (works without JavaScript; passkeys add a button through their slot). */
function challengePage(ctx: PageContext, v: ChallengeView): string {
  const { t } = ctx;
  return layout(ctx, t('mfa.title'), `
<h1>${esc(t('mfa.title'))}</h1>
<p class="lead">${esc(v.stepUp ? t('mfa.lead_step_up', { client: v.clientName }) : t('mfa.lead', { client: v.clientName }))}</p>
${v.main}
<div class="mfa-slots">${v.extra}</div>
${v.fallback}
<form method="post" action="/interaction/${esc(v.uid)}/abort">
  <button type="submit" class="secondary">${esc(t('button.cancel'))}</button>
</form>`);
}
