import { alert, csrfInput, esc, field, layout } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import type { TenantPolicy } from '../identity/policy.js';
import type { FieldErrors, TokenProblem } from './service.js';

/** The message for a field's stable code; password lengths name the policy's bounds. */
export function fieldMessage(ctx: PageContext, code: string | undefined, policy?: TenantPolicy['password']): string | undefined {
  if (!code) return undefined;
  if (policy && code === 'too_short') return ctx.t('recovery.field.password_too_short', { min: policy.min_length });
  if (policy && code === 'too_long') return ctx.t('recovery.field.password_too_long', { max: policy.max_length });
  const key = `recovery.field.${code}`;
  const text = ctx.t(key);
  return text === key ? ctx.t('recovery.field.required') : text;
}

export interface ForgotView {
  csrf: string;
  email?: string;
  errors?: FieldErrors;
  tenant?: string;
  interaction?: string;
  alert?: string;
  uiLocales?: string;
}

export function forgotPage(ctx: PageContext, v: ForgotView): string {
  const { t } = ctx;
  return layout(ctx, t('recovery.forgot.title'), `
<h1>${esc(t('recovery.forgot.title'))}</h1>
<p class="lead">${esc(t('recovery.forgot.lead'))}</p>
${alert(v.alert)}
<form method="post" action="/password/forgot" novalidate>
  ${csrfInput(v.csrf)}
  ${v.tenant ? `<input type="hidden" name="tenant" value="${esc(v.tenant)}">` : ''}
  ${v.interaction ? `<input type="hidden" name="interaction" value="${esc(v.interaction)}">` : ''}
  ${v.uiLocales ? `<input type="hidden" name="ui_locales" value="${esc(v.uiLocales)}">` : ''}
  ${field({ name: 'email', label: t('recovery.forgot.email'), type: 'email', autocomplete: 'email', value: v.email, error: fieldMessage(ctx, v.errors?.email), required: true, autofocus: true })}
  <button type="submit">${esc(t('recovery.forgot.submit'))}</button>
</form>
${backLink(ctx, v.interaction)}`);
}

/** The answer to every well-formed request: the same page whether or not the address has an account. */
export function sentPage(ctx: PageContext, interaction?: string): string {
  const { t } = ctx;
  return layout(ctx, t('recovery.sent.title'), `
<h1>${esc(t('recovery.sent.title'))}</h1>
<p class="lead">${esc(t('recovery.sent.lead'))}</p>
<p class="hint">${esc(t('recovery.sent.hint'))}</p>
${backLink(ctx, interaction)}`);
}

export interface ResetView {
  csrf: string;
  token: string;
  /** How the account is shown (and offered to password managers). */
  account: string;
  policy: TenantPolicy['password'];
  errors?: FieldErrors;
}

export function resetPage(ctx: PageContext, v: ResetView): string {
  const { t } = ctx;
  return layout(ctx, t('recovery.reset.title'), `
<h1>${esc(t('recovery.reset.title'))}</h1>
<p class="lead">${esc(t('recovery.reset.lead', { account: v.account }))}</p>
<form method="post" action="/password/reset" novalidate>
  ${csrfInput(v.csrf)}
  <input type="hidden" name="token" value="${esc(v.token)}">
  ${usernameForManagers(v.account)}
  ${newPasswordFields(ctx, v.policy, v.errors, true)}
  <button type="submit">${esc(t('recovery.reset.submit'))}</button>
</form>`);
}

export function donePage(ctx: PageContext, continueUrl: string): string {
  const { t } = ctx;
  return layout(ctx, t('recovery.done.title'), `
<h1>${esc(t('recovery.done.title'))}</h1>
<p class="lead">${esc(t('recovery.done.lead'))}</p>
<a class="button" href="${esc(continueUrl)}">${esc(t('recovery.done.continue'))}</a>`);
}

/** A replayed, expired or tampered link: say which, change nothing, offer a new one. */
export function invalidLinkPage(ctx: PageContext, reason: TokenProblem): string {
  const { t } = ctx;
  return layout(ctx, t('recovery.invalid.title'), `
<h1>${esc(t('recovery.invalid.title'))}</h1>
<p class="lead">${esc(t(`recovery.invalid.${reason}`))}</p>
<a class="button" href="/password/forgot">${esc(t('recovery.invalid.again'))}</a>`);
}

export interface ChangeView {
  csrf: string;
  account: string;
  policy: TenantPolicy['password'];
  errors?: FieldErrors;
  notice?: string;
  forgotUrl: string;
}

/** The body of the account area's password tab. */
export function changeBody(ctx: PageContext, v: ChangeView): string {
  const { t } = ctx;
  return `<h1>${esc(t('recovery.change.title'))}</h1>
<p class="lead">${esc(t('recovery.change.lead'))}</p>
${alert(v.notice, 'info')}
<form method="post" action="/account/password" novalidate>
  ${csrfInput(v.csrf)}
  ${usernameForManagers(v.account)}
  ${field({ name: 'current_password', label: t('recovery.change.current'), type: 'password', autocomplete: 'current-password', error: fieldMessage(ctx, v.errors?.current_password), required: true, autofocus: !v.notice })}
  ${newPasswordFields(ctx, v.policy, v.errors, false)}
  <button type="submit">${esc(t('recovery.change.submit'))}</button>
</form>
<p class="links"><a href="${esc(v.forgotUrl)}">${esc(t('recovery.change.forgot'))}</a></p>`;
}

function newPasswordFields(ctx: PageContext, policy: TenantPolicy['password'], errors: FieldErrors | undefined, autofocus: boolean): string {
  const { t } = ctx;
  return `${field({
    name: 'password', label: t('recovery.reset.password'), type: 'password', autocomplete: 'new-password', required: true, autofocus,
    hint: t('recovery.reset.hint', { min: policy.min_length }), error: fieldMessage(ctx, errors?.password, policy),
  })}
  ${field({ name: 'password_confirm', label: t('recovery.reset.confirm'), type: 'password', autocomplete: 'new-password', required: true, error: fieldMessage(ctx, errors?.password_confirm, policy) })}`;
}

/** Password managers file a new password under the username they see in the form. */
function usernameForManagers(account: string): string {
  return `<input type="text" name="username" autocomplete="username" value="${esc(account)}" hidden readonly>`;
}

function backLink(ctx: PageContext, interaction?: string): string {
  return interaction ? `<p class="links"><a href="/interaction/${esc(interaction)}">${esc(ctx.t('recovery.forgot.back'))}</a></p>` : '';
}
