import { alert, csrfInput, esc, layout } from '../../web/layout.js';
import type { PageContext } from '../../web/layout.js';
import { PASSKEY_SCRIPT } from './assets.js';
import type { Passkey } from './repository.js';

/**
 * Passkey page fragments. Each loads /assets/passkeys.js itself (a `defer`
 * script file, allowed by the page CSP's `script-src 'self'`: send the page
 * with `sendPage(…, { scripts: true })`). The JavaScript parts start hidden
 * and are shown by the script only where WebAuthn works.
 */
const script = `<script src="${PASSKEY_SCRIPT}" defer></script>`;

const messages = (ctx: PageContext) =>
  `data-msg-cancelled="${esc(ctx.t('passkeys.cancelled'))}" data-msg-failed="${esc(ctx.t('passkeys.failed'))}"`;

function date(ctx: PageContext, ms: number | null): string {
  if (ms === null) return ctx.t('passkeys.never');
  return new Intl.DateTimeFormat(ctx.locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(new Date(ms)) + ' UTC';
}

export interface PasskeySectionOptions {
  /** A notice (added, renamed, removed) or an error to show at the top of the section. */
  notice?: string;
  error?: string;
  /** Where the routes live (default /account/passkeys). */
  base?: string;
  /**
   * Where "Remove" posts (`kind=passkey&id=…`): the Security page's factor removal
   * (mfa/account-routes.ts), which refuses the last second factor while MFA is required.
   */
  removeAction?: string;
  /** Include the script tag (false when the page adds it, e.g. through a factor slot's `scripts`). */
  script?: boolean;
}

/**
 * The account page section: the user's passkeys (rename, remove: plain
 * forms, no JavaScript needed) and "Add a passkey" (needs JavaScript).
 * `renderPasskeySection(ctx, passkeys, csrf)` is what the Security page shows
 * (through the passkey factor's `accountSlot`).
 */
export function renderPasskeySection(ctx: PageContext, passkeys: readonly Passkey[], csrf: string, opts: PasskeySectionOptions = {}): string {
  const { t } = ctx;
  const base = opts.base ?? '/account/passkeys';
  const rows = passkeys.map((p) => {
    const kind = p.deviceType === 'multiDevice' ? t('passkeys.kind.synced') : t('passkeys.kind.device');
    return `<li data-passkey="${esc(p.id)}">
  <h3>${esc(p.name)} <span class="badge">${esc(kind)}</span></h3>
  <dl><dt>${esc(t('passkeys.added_at'))}</dt><dd>${esc(date(ctx, p.createdAt))}</dd><dt>${esc(t('passkeys.last_used'))}</dt><dd>${esc(date(ctx, p.lastUsedAt))}</dd></dl>
  <form method="post" action="${esc(`${base}/rename`)}">
    ${csrfInput(csrf)}<input type="hidden" name="id" value="${esc(p.id)}">
    <label for="rename-${esc(p.id)}">${esc(t('passkeys.rename_label', { name: p.name }))}</label>
    <input id="rename-${esc(p.id)}" name="name" type="text" maxlength="64" required value="${esc(p.name)}">
    <button type="submit" class="inline">${esc(t('passkeys.rename'))}</button>
  </form>
  <form method="post" action="${esc(opts.removeAction ?? '/account/security/factors/remove')}">
    ${csrfInput(csrf)}<input type="hidden" name="kind" value="passkey"><input type="hidden" name="id" value="${esc(p.id)}">
    <button type="submit" class="secondary inline">${esc(t('passkeys.remove'))}</button>
  </form>
</li>`;
  }).join('\n');
  return `<section id="passkeys" aria-labelledby="passkeys-title">
<h2 id="passkeys-title">${esc(t('passkeys.title'))}</h2>
<p class="hint">${esc(t('passkeys.lead'))}</p>
${alert(opts.notice, 'info')}${alert(opts.error)}
${passkeys.length ? `<ul class="items passkeys">${rows}</ul>` : `<p>${esc(t('passkeys.none'))}</p>`}
<div data-passkey-register data-options="${esc(`${base}/options`)}" data-verify="${esc(`${base}/verify`)}" data-csrf="${esc(csrf)}" ${messages(ctx)} hidden>
  <label for="passkey-name">${esc(t('passkeys.new_name'))}</label>
  <input id="passkey-name" name="name" type="text" maxlength="64" autocomplete="off" aria-describedby="passkey-name-hint">
  <p class="hint" id="passkey-name-hint">${esc(t('passkeys.new_name_hint'))}</p>
  <button type="button" id="passkey-add">${esc(t('passkeys.add'))}</button>
</div>
<p class="alert" role="alert" data-passkey-error hidden></p>
<p class="hint" data-passkey-unsupported hidden>${esc(t('passkeys.unsupported'))}</p>
<noscript><p class="hint">${esc(t('passkeys.needs_js'))}</p></noscript>
${opts.script === false ? '' : script}
</section>`;
}

/**
 * "Sign in with a passkey" under the sign-in form. With `autofill`, the
 * script also offers passkeys in the username field's autofill (conditional
 * UI: the field needs `autocomplete="username webauthn"`).
 */
export function passkeySignInButton(ctx: PageContext, uid: string, opts: { autofill?: boolean; script?: boolean } = {}): string {
  const base = `/interaction/${encodeURIComponent(uid)}/passkey`;
  return `<div class="passkey" data-passkey-auth data-options="${esc(`${base}/options`)}" data-verify="${esc(base)}"${opts.autofill ? ' data-autofill' : ''} ${messages(ctx)} hidden>
  <button type="button" class="secondary" id="passkey-signin">${esc(ctx.t('passkeys.signin'))}</button>
</div>
<p class="alert" role="alert" data-passkey-error hidden></p>
${opts.script === false ? '' : script}`;
}

/** "Use a passkey" on the MFA step (the second factor after a password). */
export function passkeyMfaButton(ctx: PageContext, uid: string, opts: { script?: boolean } = {}): string {
  const base = `/interaction/${encodeURIComponent(uid)}/passkey/mfa`;
  return `<div class="passkey" data-passkey-auth data-options="${esc(`${base}/options`)}" data-verify="${esc(base)}" ${messages(ctx)} hidden>
  <p class="hint">${esc(ctx.t('passkeys.mfa_lead'))}</p>
  <button type="button" id="passkey-mfa">${esc(ctx.t('passkeys.use'))}</button>
</div>
<p class="alert" role="alert" data-passkey-error hidden></p>
${opts.script === false ? '' : script}`;
}

/** At a sign-in that must enroll a second factor: "Add a passkey" beside the authenticator-app setup. */
export function passkeyEnrollButton(ctx: PageContext, uid: string, opts: { script?: boolean } = {}): string {
  const base = `/interaction/${encodeURIComponent(uid)}/passkey/enroll`;
  return `<section class="passkey" aria-labelledby="passkey-enroll-title">
<h2 id="passkey-enroll-title">${esc(ctx.t('passkeys.enroll_title'))}</h2>
<p class="hint">${esc(ctx.t('passkeys.enroll_lead'))}</p>
<div data-passkey-register data-options="${esc(`${base}/options`)}" data-verify="${esc(base)}" ${messages(ctx)} hidden>
  <button type="button" id="passkey-add">${esc(ctx.t('passkeys.add'))}</button>
</div>
<p class="alert" role="alert" data-passkey-error hidden></p>
<p class="hint" data-passkey-unsupported hidden>${esc(ctx.t('passkeys.unsupported'))}</p>
</section>
${opts.script === false ? '' : script}`;
}

/** A refused ceremony: the message, the stable code, and the way back (the sign-in, the MFA step or the account page). */
export function passkeyErrorPage(ctx: PageContext, code: string, message: string, back: string): string {
  const title = ctx.t('error.title');
  return layout(ctx, title, `
<h1>${esc(title)}</h1>
${alert(message)}
<p><code>error</code>: ${esc(code)}</p>
<a class="button" href="${esc(back)}">${esc(ctx.t('passkeys.try_again'))}</a>`);
}

const NOTICES: Record<string, 'notice' | 'error'> = { added: 'notice', renamed: 'notice', name_invalid: 'error', not_found: 'error' };

/** The notice or error a passkey action left for the account page (`?passkeys=added` etc.; unknown values are ignored). */
export function passkeyNotice(ctx: PageContext, query: unknown): Pick<PasskeySectionOptions, 'notice' | 'error'> {
  const value = (query as { passkeys?: unknown } | undefined)?.passkeys;
  if (typeof value !== 'string' || !Object.hasOwn(NOTICES, value)) return {};
  return NOTICES[value] === 'notice' ? { notice: ctx.t(`passkeys.${value}`) } : { error: ctx.t(`passkeys.${value}`) };
}
