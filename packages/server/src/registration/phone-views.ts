import { alert, csrfInput, esc, layout } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import { maskPhone } from '../notify/sms-http.js';
import './phone-catalog.js';

export interface PhoneStepView {
  csrf: string;
  token: string;
  phone: string;
  uiLocales?: string;
  /** A code just went out, could not go out, or none was sent on this request (the person is asked to send one). */
  code: 'sent' | 'failed' | 'ask';
  /** `wrong_code`, `code_expired`, `invalid_code`, `too_many_requests`. */
  error?: string;
  attemptsLeft?: number;
  /** The address still waits for its link too. */
  emailPending?: string;
}

/** The code form of the phone step (after registering, or after confirming the address). */
export function phoneStepPage(ctx: PageContext, v: PhoneStepView): string {
  const { t } = ctx;
  const hidden = `${csrfInput(v.csrf)}
  <input type="hidden" name="token" value="${esc(v.token)}">${v.uiLocales ? `<input type="hidden" name="ui_locales" value="${esc(v.uiLocales)}">` : ''}`;
  const codeError = v.error === 'wrong_code' || v.error === 'code_expired' || v.error === 'invalid_code'
    ? t(`account.field.${v.error}`, { left: v.attemptsLeft ?? 0 }) : undefined;
  const phone = maskPhone(v.phone);
  return layout(ctx, t('registration.phone.title'), `
<h1>${esc(t('registration.phone.title'))}</h1>
<p class="lead">${esc(t(v.code === 'sent' ? 'registration.phone.lead' : 'registration.phone.lead_unsent', { phone }))}</p>
${v.code === 'failed' && v.error !== 'too_many_requests' ? alert(t('registration.phone.send_failed')) : ''}
${v.error === 'too_many_requests' ? alert(t('account.field.too_many_requests')) : ''}
<form method="post" action="/register/phone" novalidate>
  ${hidden}
  <label for="f-code">${esc(t('account.phone.code'))}</label>
  <input id="f-code" name="code" type="text" inputmode="numeric" pattern="[0-9]*" maxlength="6" autocomplete="one-time-code" required autofocus${codeError ? ' aria-invalid="true" aria-describedby="f-code-error"' : ''}>
  ${codeError ? `<p class="field-error" id="f-code-error">${esc(codeError)}</p>` : ''}
  <button type="submit">${esc(t('account.phone.verify'))}</button>
</form>
<form method="post" action="/register/phone/resend">
  ${hidden}
  <button type="submit" class="secondary">${esc(t('account.phone.resend'))}</button>
</form>
${v.emailPending ? `<p>${esc(t('registration.phone.email_pending', { email: v.emailPending }))}</p>` : ''}`);
}

/** The number is confirmed: sign in, or confirm the address next. */
export function phoneDonePage(ctx: PageContext, v: { active: boolean; email?: string; signinUrl: string }): string {
  const { t } = ctx;
  const lead = v.active ? t('registration.done_active_lead') : t('registration.phone.done_email_pending', { email: v.email ?? '' });
  return layout(ctx, t('registration.phone.done_title'), `
<h1>${esc(t('registration.phone.done_title'))}</h1>
${alert(t('account.phone.confirmed'), 'info')}
<p class="lead">${esc(lead)}</p>
${v.active ? `<a class="button" href="${esc(v.signinUrl)}">${esc(t('registration.signin'))}</a>` : ''}`);
}
