import { STYLESHEET } from '../web/assets.js';
import { alert, esc, layout } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';

export { STYLESHEET, esc };

export interface LoginView {
  abortAction: string;
  clientName: string;
  error?: string;
  /** An informational notice above the methods. */
  notice?: string;
  /** Links shown under the form (registration and password reset, when the tenant allows them). */
  registerUrl?: string;
  forgotUrl?: string;
  /** The main sign-in form (the password method's), or empty when the tenant hides it. */
  main: string;
  /** Fragments of the other first factors ("Sign in with a passkey", upstream providers), with their script tags. */
  slots?: string;
}

export function loginPage(ctx: PageContext, v: LoginView): string {
  const { t } = ctx;
  const links = [
    v.forgotUrl ? `<a href="${esc(v.forgotUrl)}">${esc(t('login.forgot'))}</a>` : '',
    v.registerUrl ? `<a href="${esc(v.registerUrl)}">${esc(t('login.register'))}</a>` : '',
  ].filter(Boolean).join('');
  return layout(ctx, t('login.title'), `
<h1>${esc(t('login.title'))}</h1>
<p class="lead">${esc(t('login.lead', { client: v.clientName }))}</p>
${alert(v.error)}
${alert(v.notice, 'info')}
${v.main}
${v.slots ?? ''}
<form method="post" action="${esc(v.abortAction)}">
  <button type="submit" class="secondary">${esc(t('button.cancel'))}</button>
</form>
${links ? `<p class="links">${links}</p>` : ''}`);
}

export interface ConsentView {
  action: string;
  abortAction: string;
  clientName: string;
  scopes: string[];
  resources: { identifier: string; scopes: string[] }[];
  /** The client's `logo_uri`, `policy_uri` and `tos_uri` (docs/protocol.md#client-metadata), when set. */
  links?: { logoUri?: string; policyUri?: string; tosUri?: string };
  /** The signed-in account (username or email), shown with "Not you?", which posts to `switchAction`. */
  account?: string;
  switchAction?: string;
}

export function consentPage(ctx: PageContext, v: ConsentView): string {
  const { t } = ctx;
  const describe = (s: string) => {
    const key = `scope.${s}`;
    const text = t(key);
    return text === key ? s : text;
  };
  const items = v.scopes.map((s) => `<li>${esc(describe(s))}</li>`).join('');
  const apis = v.resources.map((r) => `<li>${esc(t('consent.api', { api: r.identifier }))} ${r.scopes.map((s) => `<code>${esc(s)}</code>`).join(' ')}</li>`).join('');
  const l = v.links ?? {};
  // The client's own pages open apart from the consent (noopener: they cannot reach back into it).
  const link = (href: string | undefined, key: string) => (href ? `<a href="${esc(href)}" target="_blank" rel="noopener noreferrer">${esc(t(key))}</a>` : '');
  const legal = [link(l.policyUri, 'consent.policy'), link(l.tosUri, 'consent.tos')].filter(Boolean).join(' · ');
  return layout(ctx, t('consent.title', { client: v.clientName }), `
${l.logoUri ? `<img class="client-logo" src="${esc(l.logoUri)}" alt="${esc(t('consent.logo', { client: v.clientName }))}" width="64" height="64" referrerpolicy="no-referrer">` : ''}
<h1>${esc(t('consent.title', { client: v.clientName }))}</h1>
<p class="lead">${esc(t('consent.lead', { client: v.clientName }))}</p>
<ul class="scopes">${items}${apis}</ul>
${legal ? `<p class="links client-links">${legal}</p>` : ''}
${v.account && v.switchAction ? `<form class="signed-in-as" method="post" action="${esc(v.switchAction)}">${esc(t('consent.signed_in_as', { account: v.account }))} <button type="submit" class="link">${esc(t('consent.not_you'))}</button></form>` : ''}
<form method="post" action="${esc(v.action)}">
  <button type="submit">${esc(t('consent.allow'))}</button>
</form>
<form method="post" action="${esc(v.abortAction)}">
  <button type="submit" class="secondary">${esc(t('consent.deny'))}</button>
</form>`);
}

export function errorPage(ctx: PageContext, status: number, message: string, detail?: Record<string, string>): string {
  const title = ctx.t(status >= 500 ? 'error.title_server' : 'error.title');
  const extra = detail ? Object.entries(detail).map(([k, val]) => `<p><code>${esc(k)}</code>: ${esc(val)}</p>`).join('') : '';
  return layout(ctx, title, `
<h1>${esc(title)}</h1>
<p class="lead">${esc(message)}</p>
${extra}
<p>${esc(ctx.t('error.status', { status }))}</p>`);
}

/** The engine's error page: only `error` and `error_description` are shown (never `error_detail`). */
export function engineErrorPage(ctx: PageContext, status: number, out: Record<string, string>): string {
  return errorPage(ctx, status, ctx.t('error.engine_message'), {
    error: out.error ?? 'invalid_request',
    ...(out.error_description ? { error_description: out.error_description } : {}),
  });
}

export function logoutConfirmPage(ctx: PageContext, form: string, clientName: string | undefined): string {
  const { t } = ctx;
  return layout(ctx, t('logout.title'), `
<h1>${esc(t('logout.title'))}</h1>
<p class="lead">${esc(clientName ? t('logout.lead_client', { client: clientName }) : t('logout.lead'))}</p>
${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">${esc(t('logout.yes'))}</button>
<button type="submit" form="op.logoutForm" class="secondary">${esc(t('logout.no'))}</button>`);
}

/** Sign-out without a question (a valid id_token_hint): the form posts itself; without JavaScript, one click. */
export function signingOutPage(ctx: PageContext, form: string, script: string): string {
  const { t } = ctx;
  return layout(ctx, t('logout.signing_out'), `
<h1>${esc(t('logout.signing_out'))}</h1>
${form}
<noscript><button autofocus type="submit" form="op.logoutForm">${esc(t('logout.continue'))}</button></noscript>
${script}`);
}

export function loggedOutPage(ctx: PageContext, clientName: string | undefined): string {
  const { t } = ctx;
  return layout(ctx, t('loggedout.title'), `
<h1>${esc(t('loggedout.title'))}</h1>
<p class="lead">${esc(clientName ? t('loggedout.lead_client', { client: clientName }) : t('loggedout.lead'))}</p>
<a class="button" href="/">${esc(t('button.home'))}</a>`);
}

/** The device flow's code entry (RFC 8628 §3.3); `throttled` shows no form (the next minute's tries are refused anyway). */
export function deviceInputPage(ctx: PageContext, v: { action: string; xsrf: string; code?: string; error?: 'invalid' | 'aborted' | 'throttled' }): string {
  const { t } = ctx;
  const message = v.error ? t(`device.${v.error}`) : undefined;
  const form = v.error === 'throttled' ? `<a class="button" href="${esc(v.action)}">${esc(t('device.retry'))}</a>` : `
<form id="op.deviceInputForm" method="post" action="${esc(v.action)}">
  <input type="hidden" name="xsrf" value="${esc(v.xsrf)}">
  <label for="user_code">${esc(t('device.code'))}</label>
  <input id="user_code" name="user_code" value="${esc(v.code ?? '')}" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" autofocus required>
  <button type="submit">${esc(t('device.submit'))}</button>
</form>`;
  return layout(ctx, t('device.title'), `
<h1>${esc(t('device.title'))}</h1>
<p class="lead">${esc(t('device.lead'))}</p>
${alert(message)}
${form}`);
}

/** The user code confirmed against the device's screen, naming the client (RFC 8628 §5.4). */
export function deviceConfirmPage(ctx: PageContext, v: { action: string; xsrf: string; userCode: string; clientName: string }): string {
  const { t } = ctx;
  const hidden = `<input type="hidden" name="xsrf" value="${esc(v.xsrf)}"><input type="hidden" name="user_code" value="${esc(v.userCode)}">`;
  return layout(ctx, t('device.confirm_title', { client: v.clientName }), `
<h1>${esc(t('device.confirm_title', { client: v.clientName }))}</h1>
<p class="lead">${esc(t('device.confirm_lead'))}</p>
<p class="user-code"><code>${esc(v.userCode)}</code></p>
<form method="post" action="${esc(v.action)}">${hidden}<input type="hidden" name="confirm" value="yes">
  <button type="submit">${esc(t('device.confirm'))}</button>
</form>
<form method="post" action="${esc(v.action)}">${hidden}<input type="hidden" name="abort" value="yes">
  <button type="submit" class="secondary">${esc(t('button.cancel'))}</button>
</form>`);
}

export function deviceDonePage(ctx: PageContext, clientName: string): string {
  const { t } = ctx;
  return layout(ctx, t('device.done_title'), `
<h1>${esc(t('device.done_title'))}</h1>
<p class="lead">${esc(t('device.done_lead', { client: clientName }))}</p>`);
}

export function homePage(ctx: PageContext, issuer: string, registerUrl?: string): string {
  const { t } = ctx;
  return layout(ctx, t('home.title'), `
<h1>${esc(t('home.title'))}</h1>
<p class="lead">${esc(t('home.lead'))}</p>
<ul>
  <li><a href="/.well-known/openid-configuration">${esc(t('home.discovery'))}</a> (<code>${esc(issuer)}/.well-known/openid-configuration</code>)</li>
  <li><a href="/oidc/jwks">${esc(t('home.jwks'))}</a></li>
  <li><a href="/healthz">${esc(t('home.health'))}</a> · <a href="/metrics">${esc(t('home.metrics'))}</a></li>
</ul>
<a class="button" href="/account">${esc(t('home.signin'))}</a>
${registerUrl ? `<p class="links"><a href="${esc(registerUrl)}">${esc(t('home.register'))}</a></p>` : ''}`, { wide: true });
}
