import { STYLESHEET } from './assets.js';

export { STYLESHEET };

/** Escapes text for HTML element content and attribute values. */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function layout(title: string, body: string, opts: { wide?: boolean } = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${esc(title)} · Tessera</title>
<link rel="stylesheet" href="/assets/tessera.css">
</head>
<body>
<main${opts.wide ? ' class="wide"' : ''}>
<p class="brand">TESSERA</p>
${body}
</main>
<footer>Tessera identity platform</footer>
</body>
</html>`;
}

export interface LoginView {
  action: string;
  abortAction: string;
  clientName: string;
  username?: string;
  error?: string;
}

export function loginPage(v: LoginView): string {
  return layout('Sign in', `
<h1>Sign in</h1>
<p class="lead">to continue to <strong>${esc(v.clientName)}</strong></p>
${v.error ? `<p class="alert" role="alert">${esc(v.error)}</p>` : ''}
<form method="post" action="${esc(v.action)}" novalidate>
  <label for="username">Username or email</label>
  <input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${esc(v.username)}"${v.username ? '' : ' autofocus'}>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required${v.username ? ' autofocus' : ''}>
  <button type="submit">Sign in</button>
</form>
<form method="post" action="${esc(v.abortAction)}">
  <button type="submit" class="secondary">Cancel</button>
</form>`);
}

export interface ConsentView {
  action: string;
  abortAction: string;
  clientName: string;
  scopes: string[];
  resources: { identifier: string; scopes: string[] }[];
}

const SCOPE_TEXT: Record<string, string> = {
  openid: 'Know who you are',
  profile: 'See your name and username',
  email: 'See your email address',
  phone: 'See your phone number',
  roles: 'See your roles',
  offline_access: 'Stay signed in when you are away',
};

export function consentPage(v: ConsentView): string {
  const items = v.scopes.map((s) => `<li>${esc(SCOPE_TEXT[s] ?? s)}</li>`).join('');
  const apis = v.resources.map((r) => `<li>Use <code>${esc(r.identifier)}</code> on your behalf: ${r.scopes.map((s) => `<code>${esc(s)}</code>`).join(' ')}</li>`).join('');
  return layout('Authorize access', `
<h1>Authorize ${esc(v.clientName)}</h1>
<p class="lead"><strong>${esc(v.clientName)}</strong> asks to:</p>
<ul class="scopes">${items}${apis}</ul>
<form method="post" action="${esc(v.action)}">
  <button type="submit">Allow</button>
</form>
<form method="post" action="${esc(v.abortAction)}">
  <button type="submit" class="secondary">Deny</button>
</form>`);
}

export function errorPage(status: number, title: string, message: string, detail?: Record<string, string>): string {
  const extra = detail ? Object.entries(detail).map(([k, val]) => `<p><code>${esc(k)}</code>: ${esc(val)}</p>`).join('') : '';
  return layout(title, `
<h1>${esc(title)}</h1>
<p class="lead">${esc(message)}</p>
${extra}
<p>Error ${esc(status)}</p>`);
}

/** The engine's error page: only `error` and `error_description` are shown (never `error_detail`). */
export function engineErrorPage(out: Record<string, string>): string {
  return errorPage(400, 'Something went wrong', 'The application sent a request Tessera cannot accept.', {
    error: out.error ?? 'invalid_request',
    ...(out.error_description ? { error_description: out.error_description } : {}),
  });
}

export function logoutConfirmPage(form: string, clientName: string | undefined): string {
  return layout('Sign out', `
<h1>Sign out?</h1>
<p class="lead">${clientName ? `<strong>${esc(clientName)}</strong> asks to sign you out.` : 'Do you want to sign out?'}</p>
${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="secondary">No, stay signed in</button>`);
}

export function loggedOutPage(clientName: string | undefined): string {
  return layout('Signed out', `
<h1>You are signed out</h1>
<p class="lead">${clientName ? `You have signed out of <strong>${esc(clientName)}</strong>.` : 'You have signed out.'}</p>
<a class="button" href="/">Home</a>`);
}

export function homePage(issuer: string): string {
  return layout('Welcome', `
<h1>Tessera is running</h1>
<p class="lead">An OpenID Connect provider and identity platform.</p>
<ul>
  <li><a href="/.well-known/openid-configuration">Discovery document</a> (<code>${esc(issuer)}/.well-known/openid-configuration</code>)</li>
  <li><a href="/oidc/jwks">Signing keys (JWKS)</a></li>
  <li><a href="/healthz">Health</a> · <a href="/metrics">Metrics</a></li>
</ul>
<a class="button" href="/account">Sign in</a>`, { wide: true });
}

export function accountPage(claims: Record<string, unknown>, logoutUrl: string): string {
  const rows = ['preferred_username', 'name', 'email', 'tenant', 'sub']
    .filter((k) => claims[k] !== undefined)
    .map((k) => `<p><code>${esc(k)}</code>: ${esc(claims[k])}</p>`).join('');
  return layout('Your account', `
<h1>Signed in</h1>
<p class="lead">You are signed in to Tessera.</p>
${rows}
<a class="button" href="${esc(logoutUrl)}">Sign out</a>`);
}
