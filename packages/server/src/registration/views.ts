import { alert, csrfInput, esc, field, layout } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';

/** A field's stable code → the message shown next to it. */
export function fieldMessage(ctx: PageContext, name: string, code: string, policy: { min: number; max: number }): string {
  if (name === 'password' && code === 'too_short') return ctx.t('registration.field.password_too_short', { min: policy.min });
  if (name === 'password' && code === 'too_long') return ctx.t('registration.field.password_too_long', { max: policy.max });
  if (code === 'taken' && (name === 'email' || name === 'username')) return ctx.t(`registration.field.${name}_taken`);
  const key = `registration.field.${code}`;
  const text = ctx.t(key);
  return text === key ? ctx.t('registration.field.invalid') : text;
}

export interface RegisterView {
  csrf: string;
  tenantId: string;
  tenantName: string;
  interaction?: string;
  invite?: string;
  uiLocales?: string;
  invited: boolean;
  /** Fields the tenant requires beyond email and password. */
  required: string[];
  passwordMin: number;
  values: Record<string, string | undefined>;
  /** Field name → message. */
  errors: Record<string, string>;
  signinUrl: string;
}

/** Optional fields offered on the form even when the tenant does not require them. */
const ALWAYS_SHOWN = ['given_name', 'family_name'];
const PROFILE_FIELDS: { name: string; autocomplete: string; type?: 'tel' }[] = [
  { name: 'username', autocomplete: 'username' },
  { name: 'given_name', autocomplete: 'given-name' },
  { name: 'family_name', autocomplete: 'family-name' },
  { name: 'phone_number', autocomplete: 'tel', type: 'tel' },
];

export function registerPage(ctx: PageContext, v: RegisterView): string {
  const { t } = ctx;
  const hidden = (name: string, value: string | undefined) => (value ? `<input type="hidden" name="${name}" value="${esc(value)}">` : '');
  const profile = PROFILE_FIELDS.filter((f) => v.required.includes(f.name) || ALWAYS_SHOWN.includes(f.name)).map((f) => {
    const required = v.required.includes(f.name);
    return field({
      name: f.name,
      label: `${t(`registration.${f.name}`)}${required ? '' : ` ${t('registration.optional')}`}`,
      type: f.type ?? 'text',
      autocomplete: f.autocomplete,
      value: v.values[f.name],
      error: v.errors[f.name],
      hint: f.name === 'username' ? t('registration.username_hint') : f.name === 'phone_number' ? t('registration.phone_hint') : undefined,
      required,
    });
  }).join('\n  ');
  const hasErrors = Object.keys(v.errors).length > 0;
  return layout(ctx, t('registration.title'), `
<h1>${esc(t('registration.title'))}</h1>
<p class="lead">${esc(t(v.invited ? 'registration.lead_invite' : 'registration.lead', { tenant: v.tenantName }))}</p>
${hasErrors ? alert(t('registration.fix_fields')) : ''}
<form method="post" action="/register" novalidate>
  ${csrfInput(v.csrf)}${hidden('tenant', v.tenantId)}${hidden('interaction', v.interaction)}${hidden('invite', v.invite)}${hidden('ui_locales', v.uiLocales)}
  ${field({ name: 'email', label: t('registration.email'), type: 'email', autocomplete: 'email', value: v.values.email, error: v.errors.email, required: true, autofocus: !v.values.email })}
  ${profile}
  ${field({ name: 'password', label: t('registration.password'), type: 'password', autocomplete: 'new-password', error: v.errors.password, hint: t('registration.password_hint', { min: v.passwordMin }), required: true })}
  <button type="submit">${esc(t('registration.submit'))}</button>
</form>
<p class="links"><span>${esc(t('registration.have_account'))} <a href="${esc(v.signinUrl)}">${esc(t('registration.signin'))}</a></span></p>`);
}

export interface RegisteredView {
  email: string;
  /** Active at once (an invitation, or a tenant that does not require confirmation). */
  active: boolean;
  /** A confirmation link was (or should have been) sent. */
  confirmationPending: boolean;
  mailFailed: boolean;
  signinUrl: string;
  resendUrl: string;
}

export function registeredPage(ctx: PageContext, v: RegisteredView): string {
  const { t } = ctx;
  const title = v.active ? t('registration.done_active_title') : t('registration.done_title');
  const lead = !v.confirmationPending
    ? t('registration.done_active_lead')
    : v.active ? t('registration.done_verify_lead', { email: v.email }) : t('registration.done_lead', { email: v.email });
  const resend = v.confirmationPending
    ? `<p class="links"><span>${esc(t('registration.resend_prompt'))} <a href="${esc(v.resendUrl)}">${esc(t('registration.resend_link'))}</a></span></p>`
    : '';
  return layout(ctx, title, `
<h1>${esc(title)}</h1>
<p class="lead">${esc(lead)}</p>
${v.mailFailed ? alert(t('registration.done_mail_failed')) : ''}
${v.active ? `<a class="button" href="${esc(v.signinUrl)}">${esc(t('registration.signin'))}</a>` : `<p><a href="${esc(v.signinUrl)}">${esc(t('registration.back_to_signin'))}</a></p>`}
${resend}`);
}

/** A page that explains why something cannot go on (closed registration, a bad link), with ways out. */
export function messagePage(ctx: PageContext, title: string, message: string, links: { href: string; label: string }[] = []): string {
  return layout(ctx, title, `
<h1>${esc(title)}</h1>
<p class="lead">${esc(message)}</p>
${links.length ? `<p class="links">${links.map((l) => `<a href="${esc(l.href)}">${esc(l.label)}</a>`).join('')}</p>` : ''}`);
}

export function confirmPage(ctx: PageContext, v: { csrf: string; token: string; email: string; uiLocales?: string }): string {
  const { t } = ctx;
  // A form, not an automatic confirmation: link scanners fetch the GET; only a person presses the button.
  return layout(ctx, t('confirm.title'), `
<h1>${esc(t('confirm.title'))}</h1>
<p class="lead">${esc(t('confirm.lead', { email: v.email }))}</p>
<form method="post" action="/confirm-email">
  ${csrfInput(v.csrf)}
  <input type="hidden" name="token" value="${esc(v.token)}">${v.uiLocales ? `<input type="hidden" name="ui_locales" value="${esc(v.uiLocales)}">` : ''}
  <button type="submit" autofocus>${esc(t('confirm.submit'))}</button>
</form>`);
}

export function confirmedPage(ctx: PageContext): string {
  const { t } = ctx;
  return layout(ctx, t('confirm.done_title'), `
<h1>${esc(t('confirm.done_title'))}</h1>
<p class="lead">${esc(t('confirm.done_lead'))}</p>
<a class="button" href="/account">${esc(t('registration.signin'))}</a>`);
}

export function resendPage(ctx: PageContext, v: { csrf: string; tenantId: string; uiLocales?: string; email?: string; error?: string }): string {
  const { t } = ctx;
  return layout(ctx, t('resend.title'), `
<h1>${esc(t('resend.title'))}</h1>
<p class="lead">${esc(t('resend.lead'))}</p>
<form method="post" action="/confirm-email/resend" novalidate>
  ${csrfInput(v.csrf)}
  <input type="hidden" name="tenant" value="${esc(v.tenantId)}">${v.uiLocales ? `<input type="hidden" name="ui_locales" value="${esc(v.uiLocales)}">` : ''}
  ${field({ name: 'email', label: t('registration.email'), type: 'email', autocomplete: 'email', value: v.email, error: v.error, required: true, autofocus: true })}
  <button type="submit">${esc(t('resend.submit'))}</button>
</form>`);
}
