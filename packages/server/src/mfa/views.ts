import { alert, csrfInput, esc, layout } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import type { EnrolledFactor } from './factors.js';
import type { TotpSetup } from './service.js';
import { RECOVERY_LOW } from './service.js';
import { RECOVERY_CODES_SCRIPT } from './recovery-script.js';

/** An error code as a sentence (catalogue `mfa.error.<code>`), or undefined. */
export function mfaError(ctx: PageContext, code: string | undefined): string | undefined {
  if (!code) return undefined;
  const key = `mfa.error.${code}`;
  const text = ctx.t(key);
  return text === key ? ctx.t('mfa.error.invalid') : text;
}

/** The 6-digit code field: numeric keyboard, and browsers/OSes may fill it from an SMS or app (one-time-code). */
function codeInput(ctx: PageContext, id: string, error: string | undefined, autofocus: boolean): string {
  return `<label for="${id}">${esc(ctx.t('mfa.totp.code'))}</label>
  <input id="${id}" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="7" required${autofocus ? ' autofocus' : ''}${error ? ` aria-invalid="true" aria-describedby="${id}-error"` : ''}>
  ${error ? `<p class="field-error" id="${id}-error">${esc(error)}</p>` : ''}`;
}

/** The TOTP form of the sign-in challenge (the TOTP method's slot). */
export function totpChallengeForm(ctx: PageContext, uid: string, error: string | undefined, autofocus: boolean): string {
  const base = `/interaction/${encodeURIComponent(uid)}`;
  return `<p>${esc(ctx.t('mfa.totp.prompt'))}</p>

<form method="post" action="${base}/mfa/totp" novalidate>
  ${codeInput(ctx, 'totp-code', error, autofocus)}
  <button type="submit">${esc(ctx.t('mfa.verify'))}</button>
</form>`;
}

/** The recovery-code fold of the sign-in challenge (the recovery-code method's slot); open when it is the only way or its code was wrong. */
export function recoveryChallengeForm(ctx: PageContext, uid: string, error: string | undefined, open: boolean): string {
  const { t } = ctx;
  const base = `/interaction/${encodeURIComponent(uid)}`;
  return `
<details${open ? ' open' : ''}>
<summary>${esc(t('mfa.recovery.use'))}</summary>
<form method="post" action="${base}/mfa/recovery" novalidate>
  <label for="recovery-code">${esc(t('mfa.recovery.code'))}</label>
  <input id="recovery-code" name="code" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="32" required${error ? ' aria-invalid="true" aria-describedby="recovery-code-error" autofocus' : ''}>
  ${error ? `<p class="field-error" id="recovery-code-error">${esc(error)}</p>` : ''}
  <p class="hint">${esc(t('mfa.recovery.hint'))}</p>
  <button type="submit" class="secondary">${esc(t('mfa.recovery.submit'))}</button>
</form>
</details>`;
}

export interface SetupView {
  setup: TotpSetup;
  /** Where the form posts: the account page or the sign-in step. */
  action: string;
  csrf?: string;
  label: string;
  error?: string;
  /** In the sign-in: why the user is asked to set this up now. */
  required?: boolean;
  cancel?: { action?: string; href?: string };
  slots?: string;
}

/** TOTP setup: QR code, the secret as text and as an otpauth URI, and the first code. */
export function totpSetupBody(ctx: PageContext, v: SetupView): string {
  const { t } = ctx;
  const error = mfaError(ctx, v.error);
  const cancel = v.cancel?.href
    ? `<p class="links"><a href="${esc(v.cancel.href)}">${esc(t('button.cancel'))}</a></p>`
    : v.cancel?.action ? `<form method="post" action="${esc(v.cancel.action)}"><button type="submit" class="secondary">${esc(t('button.cancel'))}</button></form>` : '';
  return `<h1>${esc(t('mfa.setup.title'))}</h1>
<p class="lead">${esc(v.required ? t('mfa.setup.required') : t('mfa.setup.lead'))}</p>
<ol>
  <li>${esc(t('mfa.setup.step_scan'))}</li>
</ol>
<img class="qr" src="${esc(v.setup.qr)}" width="200" height="200" alt="${esc(t('mfa.setup.qr_alt'))}">
<p>${esc(t('mfa.setup.step_type'))}</p>
<p><code class="secret" id="totp-secret">${esc(v.setup.groupedSecret)}</code></p>
<p class="hint">${esc(t('mfa.setup.params'))} <a href="${esc(v.setup.uri)}">${esc(t('mfa.setup.open_app'))}</a></p>
${alert(error)}
<form method="post" action="${esc(v.action)}" novalidate>
  ${v.csrf ? csrfInput(v.csrf) : ''}
  <input type="hidden" name="enrollment" value="${esc(v.setup.id)}">
  <label for="totp-label">${esc(t('mfa.setup.label'))}</label>
  <input id="totp-label" name="label" type="text" maxlength="64" value="${esc(v.label)}">
  ${codeInput(ctx, 'totp-code', undefined, true)}
  <button type="submit">${esc(t('mfa.setup.submit'))}</button>
</form>
${v.slots ?? ''}
${cancel}`;
}

/** New recovery codes, shown once. */
export function recoveryCodesBody(ctx: PageContext, codes: string[], next: { action?: string; href?: string; csrf?: string }): string {
  const { t } = ctx;
  const items = codes.map((c) => `<li><code>${esc(c)}</code></li>`).join('');
  const proceed = next.action
    ? `<form method="post" action="${esc(next.action)}">${next.csrf ? csrfInput(next.csrf) : ''}<button type="submit">${esc(t('mfa.recovery.saved'))}</button></form>`
    : `<a class="button" href="${esc(next.href ?? '/account/security')}">${esc(t('mfa.recovery.saved'))}</a>`;
  // The download is a data: link with `download` (works without JavaScript); the copy button needs the script.
  const brandName = ctx.brand?.name ?? 'Tessera';
  const file = `${brandName}: ${t('mfa.recovery.heading')}\n\n${codes.join('\n')}\n`;
  return `<h1>${esc(t('mfa.recovery.title'))}</h1>
<p class="lead">${esc(t('mfa.recovery.lead'))}</p>
${alert(t('mfa.recovery.once'), 'info')}
<ol class="codes" id="recovery-codes">${items}</ol>
<p class="code-actions">
  <a class="button secondary inline" id="download-recovery-codes" href="data:text/plain;charset=utf-8,${encodeURIComponent(file)}" download="recovery-codes.txt">${esc(t('mfa.recovery.download'))}</a>
  <button type="button" class="secondary inline" id="copy-recovery-codes" data-copied="${esc(t('mfa.recovery.copied'))}" hidden>${esc(t('mfa.recovery.copy'))}</button>
  <span id="copy-recovery-codes-status" role="status"></span>
</p>
<script src="${RECOVERY_CODES_SCRIPT}" defer></script>
${proceed}`;
}

/** After a recovery code, when few are left: a note before the sign-in goes on. */
export function recoveryLowBody(ctx: PageContext, remaining: number, continueAction: string): string {
  const { t } = ctx;
  return `<h1>${esc(t('mfa.recovery.low_title'))}</h1>
<p class="lead">${esc(t('mfa.recovery.low_lead', { remaining }))}</p>
<form method="post" action="${esc(continueAction)}"><button type="submit">${esc(t('button.continue'))}</button></form>`;
}

/** A whole page in the sign-in (outside the account area). */
export function interactionPage(ctx: PageContext, title: string, body: string): string {
  return layout(ctx, title, body);
}

export interface SecurityView {
  csrf: string;
  totp: EnrolledFactor[];
  recovery: { total: number; remaining: number };
  hasSecondFactor: boolean;
  required: boolean;
  notice?: string;
  error?: string;
  slots: string;
}

/** /account/security: authenticator apps, recovery codes, and the sections other factors add (passkeys). */
export function securityBody(ctx: PageContext, v: SecurityView): string {
  const { t } = ctx;
  const date = (ms: number | null) => (ms ? new Date(ms).toISOString().slice(0, 10) : t('mfa.never'));
  const rows = v.totp.map((f) => `<li>
  <h2>${esc(f.label || t('mfa.totp.default_label'))}</h2>
  <dl><dt>${esc(t('mfa.added'))}</dt><dd>${esc(date(f.createdAt))}</dd><dt>${esc(t('mfa.last_used'))}</dt><dd>${esc(date(f.lastUsedAt))}</dd></dl>
  <form method="post" action="/account/security/factors/remove">${csrfInput(v.csrf)}
    <input type="hidden" name="kind" value="totp"><input type="hidden" name="id" value="${esc(f.id)}">
    <button type="submit" class="secondary inline">${esc(t('mfa.remove'))}</button>
  </form>
</li>`).join('');
  const recovery = v.hasSecondFactor || v.recovery.total > 0 ? `
<h2>${esc(t('mfa.recovery.heading'))}</h2>
<p id="recovery-status">${esc(t('mfa.recovery.remaining', { remaining: v.recovery.remaining, total: v.recovery.total }))}</p>
${v.recovery.remaining <= RECOVERY_LOW && v.hasSecondFactor ? alert(t('mfa.recovery.low'), 'info') : ''}
${v.hasSecondFactor ? `<form method="post" action="/account/security/recovery-codes">${csrfInput(v.csrf)}
  <button type="submit" class="secondary inline">${esc(t('mfa.recovery.regenerate'))}</button>
</form>
<p class="hint">${esc(t('mfa.recovery.regenerate_hint'))}</p>` : ''}` : '';
  return `<h1>${esc(t('mfa.security.title'))}</h1>
<p class="lead">${esc(v.required ? t('mfa.security.lead_required') : t('mfa.security.lead'))}</p>
${alert(v.notice, 'info')}
${alert(v.error)}
<h2>${esc(t('mfa.totp.heading'))}</h2>
${rows ? `<ul class="items">${rows}</ul>` : `<p>${esc(t('mfa.totp.none'))}</p>`}
<form method="post" action="/account/security/totp">${csrfInput(v.csrf)}
  <button type="submit" class="inline">${esc(t('mfa.totp.add'))}</button>
</form>
${v.slots}
${recovery}`;
}
