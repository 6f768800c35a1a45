import { createHash } from 'node:crypto';
import type { Persona } from './personas.js';
import { SCENARIO_HELP } from './scenarios.js';

/** Pages are plain HTML forms: no script at all, one inline stylesheet allowed by its hash. */
const CSS = `body{font:15px/1.4 system-ui,sans-serif;margin:2rem auto;max-width:46rem;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.4rem}.banner{background:#fff3cd;border:1px solid #e0c36a;padding:.5rem .75rem;border-radius:4px}
table{border-collapse:collapse;width:100%;margin:1rem 0}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}
.small{color:#555;font-size:.85rem}button{padding:.3rem .8rem;cursor:pointer}select{padding:.25rem}
.error{background:#fde2e1;border:1px solid #d9534f;padding:.5rem .75rem;border-radius:4px}code{background:#f2f2f2;padding:0 .2rem}`;
const CSS_HASH = createHash('sha256').update(CSS).digest('base64');

/**
 * Strict CSP: nothing but the page's own stylesheet; forms post to the mock itself and (Chromium
 * applies form-action to the redirects that follow a submission) to the client's redirect origin.
 */
export function csp(formTargets: string[] = [], scriptHash?: string): string {
  const targets = ["'self'", ...new Set(formTargets)].join(' ');
  const script = scriptHash ? `; script-src 'sha256-${scriptHash}'` : '';
  return `default-src 'none'; style-src 'sha256-${CSS_HASH}'${script}; img-src 'self'; form-action ${targets}; frame-ancestors 'none'; base-uri 'none'`;
}

export const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">`
    + `<title>${escapeHtml(title)}</title><style>${CSS}</style></head><body>`
    + `<p class="banner">Mock identity provider for development. Never use it in production.</p>${body}</body></html>`;
}

export interface PickerView {
  mockLabel: string;
  action: string;
  clientId: string;
  redirectUri?: string;
  personas: Persona[];
  scenarios: readonly string[];
  /** What each scenario does (default: the OIDC mocks' texts). */
  help?: Record<string, string>;
  /** Extra hidden fields every form carries (the SAML request's handle). */
  hidden?: Record<string, string>;
  /** How scripts skip the page (default: the login_hint sentence). */
  skipHint?: string;
  error?: string;
}

/** The persona picker: one form per persona, a scenario select on each, and a cancel button. */
export function pickerPage(v: PickerView): string {
  const help: Record<string, string> = v.help ?? SCENARIO_HELP;
  const hidden = Object.entries(v.hidden ?? {}).map(([k, val]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(val)}">`).join('');
  const options = v.scenarios
    .map((s) => `<option value="${s}"${s === 'ok' ? ' selected' : ''}>${s}: ${escapeHtml(help[s] ?? '')}</option>`)
    .join('');
  const rows = v.personas.map((p) => {
    const details = [p.email ?? '(no email)', p.tenant ? `tenant ${p.tenant}` : '', p.groups.length ? `groups ${p.groups.join(', ')}` : '', p.mfa ? 'MFA' : '']
      .filter(Boolean).map(escapeHtml).join(' · ');
    return `<tr><td><strong>${escapeHtml(p.name)}</strong> <code>${escapeHtml(p.id)}</code><br><span class="small">${details}</span></td>`
      + `<td><form method="post" action="${escapeHtml(v.action)}">${hidden}<input type="hidden" name="persona" value="${escapeHtml(p.id)}">`
      + `<select name="scenario" aria-label="Scenario for ${escapeHtml(p.name)}">${options}</select> `
      + `<button type="submit">Sign in as ${escapeHtml(p.name)}</button></form></td></tr>`;
  }).join('');
  return page(`${v.mockLabel}: choose a persona`, `<h1>${escapeHtml(v.mockLabel)}: sign in to <code>${escapeHtml(v.clientId)}</code></h1>`
    + (v.error ? `<p class="error" role="alert">${escapeHtml(v.error)}</p>` : '')
    + (v.redirectUri ? `<p class="small">Answer goes to ${escapeHtml(v.redirectUri)}</p>` : '')
    + `<table><thead><tr><th>Persona</th><th>Scenario</th></tr></thead><tbody>${rows}</tbody></table>`
    + `<form method="post" action="${escapeHtml(v.action)}">${hidden}<input type="hidden" name="cancel" value="1"><button type="submit">Cancel (deny)</button></form>`
    + `<p class="small">${v.skipHint ?? `Scripts skip this page with <code>login_hint=persona:scenario</code>, e.g. <code>login_hint=${escapeHtml(v.personas[0]?.id ?? 'alice')}:ok</code>.`}</p>`);
}

export function errorPage(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p class="error" role="alert">${escapeHtml(message)}</p>`);
}
