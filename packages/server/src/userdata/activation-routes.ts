import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Platform } from '../platform.js';
import { AppError } from '../http/errors.js';
import { issueCsrf, verifyCsrf } from '../http/csrf.js';
import { csrfInput, esc, field, layout, pageContext, sendPage } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import type { TenantPolicy } from '../identity/policy.js';
import { fieldMessage } from '../recovery/views.js';
import { registerCatalogue } from '../i18n/index.js';
import { activation } from '../i18n/catalog/activation.js';
import type { EventContext } from '../audit/events.js';
import { ActivationService, startActivationSender } from './activation.js';

registerCatalogue(activation);

const tokenQuery = z.object({ token: z.string().max(200).catch('') });
const text = () => z.string().max(4096).catch('');
const activateForm = z.object({ token: z.string().max(200).catch(''), password: text(), password_confirm: text() });

/** The activation service of a platform (admin API and pages share it). */
const services = new WeakMap<Platform, ActivationService>();
export function activationService(p: Platform): ActivationService {
  let s = services.get(p);
  if (!s) {
    s = new ActivationService({ db: p.db, users: p.users, identity: p.identity, tokens: p.tokens, mailer: p.mailer, events: p.events, issuer: p.settings.issuer, log: p.log });
    services.set(p, s);
  }
  return s;
}

/**
 * The hosted activation page (/activate?token=…): set the first password,
 * then sign in or add a passkey. And the sender of queued activation mails
 * (features.ts registers this).
 */
export function activationFeature(app: FastifyInstance, p: Platform): void {
  const service = activationService(p);
  const secure = p.secureCookies;
  const limiter = p.rateLimiter('activation', p.settings.authFailuresPerMinute);
  const html = { config: { html: true } };
  const sender = startActivationSender({ db: p.db, service, users: p.users, perMinute: p.settings.activationMailsPerMinute, log: p.log });
  app.addHook('onClose', async () => sender.stop());

  app.get('/activate', html, async (request, reply) => {
    const token = tokenQuery.safeParse(request.query ?? {}).data?.token ?? '';
    const check = await service.check(token);
    if (!check.ok) return sendPage(reply.code(400), invalidPage(pageContext(request), check.reason));
    const ctx = pageContext(request, check.user.locale);
    return sendPage(reply, formPage(ctx, { csrf: issueCsrf(request, reply, secure), token, account: check.user.username ?? check.user.email ?? '', policy: check.policy.password }));
  });

  app.post('/activate', html, async (request, reply) => {
    verifyCsrf(request, secure);
    const form = activateForm.safeParse(request.body ?? {});
    if (!form.success) throw new AppError('invalid_request', 400, 'The form is malformed.');
    if (!limiter.take(request.ip)) throw new AppError('too_many_requests', 429, 'Too many requests from this address. Retry after the delay in Retry-After.');
    const { token, password, password_confirm: confirmation } = form.data;
    const outcome = await service.complete(token, { password, confirmation }, eventContext(request));
    if (outcome.status === 'bad_token') return sendPage(reply.code(400), invalidPage(pageContext(request), outcome.reason));
    const ctx = pageContext(request, outcome.user.locale);
    if (outcome.status === 'invalid_fields') {
      return sendPage(reply.code(400), formPage(ctx, {
        csrf: issueCsrf(request, reply, secure), token, account: outcome.user.username ?? outcome.user.email ?? '', policy: outcome.policy.password, errors: outcome.fields,
      }));
    }
    return sendPage(reply, donePage(ctx));
  });
}

function eventContext(request: FastifyRequest): EventContext {
  const ua = request.headers['user-agent'];
  return { actorId: null, ip: request.ip, userAgent: typeof ua === 'string' ? ua : null };
}

function formPage(ctx: PageContext, v: { csrf: string; token: string; account: string; policy: TenantPolicy['password']; errors?: Record<string, string> }): string {
  const { t } = ctx;
  return layout(ctx, t('activation.title'), `
<h1>${esc(t('activation.title'))}</h1>
<p class="lead">${esc(t('activation.lead', { account: v.account }))}</p>
<form method="post" action="/activate" novalidate>
  ${csrfInput(v.csrf)}
  <input type="hidden" name="token" value="${esc(v.token)}">
  <input type="text" name="username" autocomplete="username" value="${esc(v.account)}" hidden readonly>
  ${field({ name: 'password', label: t('recovery.reset.password'), type: 'password', autocomplete: 'new-password', required: true, autofocus: true,
    hint: t('recovery.reset.hint', { min: v.policy.min_length }), error: fieldMessage(ctx, v.errors?.password, v.policy) })}
  ${field({ name: 'password_confirm', label: t('recovery.reset.confirm'), type: 'password', autocomplete: 'new-password', required: true, error: fieldMessage(ctx, v.errors?.password_confirm, v.policy) })}
  <button type="submit">${esc(t('activation.submit'))}</button>
</form>`);
}

/** After activation: sign in, or sign in and add a passkey on the Security page (where passkeys are enrolled). */
function donePage(ctx: PageContext): string {
  const { t } = ctx;
  return layout(ctx, t('activation.done.title'), `
<h1>${esc(t('activation.done.title'))}</h1>
<p class="lead">${esc(t('activation.done.lead'))}</p>
<a class="button" href="/account">${esc(t('activation.done.signin'))}</a>
<h2>${esc(t('activation.done.passkey'))}</h2>
<p class="hint">${esc(t('activation.done.passkey_hint'))}</p>
<a class="button secondary" href="/account/security" data-passkey-offer>${esc(t('activation.done.passkey'))}</a>`);
}

function invalidPage(ctx: PageContext, reason: 'invalid' | 'expired' | 'used'): string {
  const { t } = ctx;
  return layout(ctx, t('activation.invalid.title'), `
<h1>${esc(t('activation.invalid.title'))}</h1>
<p class="lead">${esc(t(`activation.invalid.${reason}`))}</p>
<a class="button" href="/password/forgot">${esc(t('recovery.invalid.again'))}</a>`);
}
