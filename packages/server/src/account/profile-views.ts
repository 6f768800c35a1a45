import { alert, csrfInput, esc, field, layout } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import type { User } from '../identity/model.js';
import { LOCALES } from '../i18n/index.js';

/** A field code as a sentence: the account catalogue first, then the shared `field.*` texts. */
export function fieldMessage(ctx: PageContext, code: string | undefined, params?: Record<string, string | number>): string | undefined {
  if (!code) return undefined;
  for (const key of [`account.field.${code}`, `field.${code}`]) {
    const text = ctx.t(key, params);
    if (text !== key) return text;
  }
  return ctx.t('account.field.invalid');
}

export interface ProfileValues {
  given_name: string;
  family_name: string;
  username: string;
  phone_number: string;
  locale: string;
}

export function profileValues(user: User): ProfileValues {
  return {
    given_name: user.givenName ?? '', family_name: user.familyName ?? '', username: user.username ?? '',
    phone_number: user.phoneNumber ?? '', locale: user.locale ?? '',
  };
}

export interface ProfileView {
  user: User;
  values: ProfileValues;
  errors: Record<string, string>;
  csrf: string;
  saved?: boolean;
}

export function profilePage(ctx: PageContext, v: ProfileView): string {
  const { t } = ctx;
  const err = (name: string) => fieldMessage(ctx, v.errors[name]);
  const localeOptions = ['', ...LOCALES].map((l) =>
    `<option value="${l}"${v.values.locale === l ? ' selected' : ''}>${esc(t(`account.locale.${l || 'auto'}`))}</option>`).join('');
  const emailStatus = v.user.email ? badge(ctx, v.user.emailVerified) : '';
  const phoneStatus = v.user.phoneNumber ? badge(ctx, v.user.phoneNumberVerified) : '';
  return `<h1>${esc(t('account.title'))}</h1>
<p class="lead">${esc(t('account.lead', { account: v.user.username ?? v.user.email ?? '' }))}</p>
${v.saved ? alert(t('account.profile.saved'), 'info') : ''}
${Object.keys(v.errors).length ? alert(t('account.profile.fix')) : ''}
<form method="post" action="/account" novalidate>
  ${csrfInput(v.csrf)}
  ${field({ name: 'given_name', label: t('account.given_name'), autocomplete: 'given-name', value: v.values.given_name, error: err('given_name') })}
  ${field({ name: 'family_name', label: t('account.family_name'), autocomplete: 'family-name', value: v.values.family_name, error: err('family_name') })}
  ${field({ name: 'username', label: t('account.username'), autocomplete: 'username', value: v.values.username, error: err('username') })}
  ${field({ name: 'phone_number', label: t('account.phone'), type: 'tel', autocomplete: 'tel', value: v.values.phone_number, error: err('phone_number'), hint: t('account.phone.hint') })}
  ${v.user.phoneNumber ? `<p class="hint" id="phone-status">${esc(v.user.phoneNumber)} ${phoneStatus}${v.user.phoneNumberVerified ? '' : ` · <a href="/account/phone">${esc(t('account.phone.confirm_link'))}</a>`}</p>` : ''}
  <label for="f-locale">${esc(t('account.locale'))}</label>
  <select id="f-locale" name="locale"${v.errors.locale ? ' aria-invalid="true" aria-describedby="f-locale-error"' : ''}>${localeOptions}</select>
  ${v.errors.locale ? `<p class="field-error" id="f-locale-error">${esc(err('locale'))}</p>` : ''}
  <button type="submit">${esc(t('button.save'))}</button>
</form>
<h2>${esc(t('account.email'))}</h2>
<p>${v.user.email ? `${esc(v.user.email)} ${emailStatus}` : esc(t('account.email.none'))}</p>
<p><a href="/account/email">${esc(t('account.email.change'))}</a></p>
<p class="hint">${esc(t('account.tenant'))}: ${esc(v.user.tenantId)}</p>`;
}

function badge(ctx: PageContext, verified: boolean): string {
  return verified
    ? `<span class="badge ok">${esc(ctx.t('account.verified'))}</span>`
    : `<span class="badge">${esc(ctx.t('account.unverified'))}</span>`;
}

export interface EmailView {
  user: User;
  value: string;
  error?: string;
  csrf: string;
  sentTo?: string;
}

export function emailPage(ctx: PageContext, v: EmailView): string {
  const { t } = ctx;
  return `<h1>${esc(t('account.email.title'))}</h1>
<p class="lead">${esc(v.user.email ? t('account.email.current', { email: v.user.email }) : t('account.email.none'))}</p>
${v.sentTo ? alert(t('account.email.sent', { email: v.sentTo }), 'info') : ''}
<form method="post" action="/account/email" novalidate>
  ${csrfInput(v.csrf)}
  ${field({ name: 'email', label: t('account.email.new'), type: 'email', autocomplete: 'email', value: v.value, error: fieldMessage(ctx, v.error), hint: t('account.email.hint'), required: true })}
  <button type="submit">${esc(t('account.email.submit'))}</button>
</form>`;
}

/** The page a confirmation link opens: nothing changes until the button is pressed (mail scanners prefetch links). */
export function emailConfirmPage(ctx: PageContext, token: string, csrf: string): string {
  const { t } = ctx;
  return layout(ctx, t('account.email.confirm.title'), `
<h1>${esc(t('account.email.confirm.title'))}</h1>
<p class="lead">${esc(t('account.email.confirm.lead'))}</p>
<form method="post" action="/account/email/confirm">
  ${csrfInput(csrf)}
  <input type="hidden" name="token" value="${esc(token)}">
  <button type="submit">${esc(t('account.email.confirm.submit'))}</button>
</form>`);
}

/** The outcome of a confirmation link, good or bad: one clear sentence and a way on. */
export function emailResultPage(ctx: PageContext, outcome: 'done' | 'invalid' | 'expired' | 'used' | 'taken', email?: string): string {
  const { t } = ctx;
  const ok = outcome === 'done';
  const title = t(ok ? 'account.email.done.title' : 'account.email.failed.title');
  return layout(ctx, title, `
<h1>${esc(title)}</h1>
${ok ? alert(t('account.email.done', { email: email ?? '' }), 'info') : alert(t(`account.email.failed.${outcome}`))}
<p><a class="button" href="/account">${esc(t('account.back'))}</a></p>`);
}

export interface PhoneView {
  user: User;
  csrf: string;
  sent?: boolean;
  /** Stable code of the send or confirm failure. */
  error?: string;
  attemptsLeft?: number;
  confirmed?: boolean;
}

export function phonePage(ctx: PageContext, v: PhoneView): string {
  const { t } = ctx;
  const phone = v.user.phoneNumber;
  let body: string;
  if (!phone) {
    body = `<p>${esc(t('account.phone.none'))}</p><p><a href="/account">${esc(t('account.phone.add'))}</a></p>`;
  } else if (v.user.phoneNumberVerified) {
    body = `${v.confirmed ? alert(t('account.phone.confirmed'), 'info') : ''}<p>${esc(t('account.phone.is_verified', { phone }))}</p>`;
  } else {
    const codeError = v.error === 'wrong_code' || v.error === 'code_expired' || v.error === 'invalid_code'
      ? fieldMessage(ctx, v.error, { left: v.attemptsLeft ?? 0 }) : undefined;
    // Once a code is on its way, entering it is the main action; before that, sending one is.
    const codeFirst = v.sent === true || codeError !== undefined;
    const sendForm = `<form method="post" action="/account/phone/send">
  ${csrfInput(v.csrf)}
  <button type="submit"${codeFirst ? ' class="secondary"' : ''}>${esc(t(codeFirst ? 'account.phone.resend' : 'account.phone.send'))}</button>
</form>`;
    const codeForm = `<form method="post" action="/account/phone/confirm" novalidate>
  ${csrfInput(v.csrf)}
  <label for="f-code">${esc(t('account.phone.code'))}</label>
  <input id="f-code" name="code" type="text" inputmode="numeric" pattern="[0-9]*" maxlength="6" autocomplete="one-time-code" required${codeError ? ' aria-invalid="true" aria-describedby="f-code-error"' : ''}${codeFirst ? ' autofocus' : ''}>
  ${codeError ? `<p class="field-error" id="f-code-error">${esc(codeError)}</p>` : ''}
  <button type="submit"${codeFirst ? '' : ' class="secondary"'}>${esc(t('account.phone.verify'))}</button>
</form>`;
    body = `<p>${esc(t('account.phone.not_verified', { phone }))}</p>
${v.sent ? alert(t('account.phone.sent', { phone }), 'info') : ''}
${v.error === 'too_many_requests' ? alert(fieldMessage(ctx, v.error)) : ''}
${codeFirst ? codeForm + sendForm : sendForm + codeForm}`;
  }
  return `<h1>${esc(t('account.phone.title'))}</h1>
${body}`;
}
