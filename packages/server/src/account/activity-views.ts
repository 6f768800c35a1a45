import { alert, csrfInput, esc } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import type { ApplicationView, SessionView } from './access.js';
import { summarizeUserAgent } from './user-agent.js';

/** Server time in UTC: the server does not know the browser's zone, and pages work without JavaScript. */
export function formatTime(ctx: PageContext, ms: number | null): string {
  if (ms === null) return '—';
  const text = new Intl.DateTimeFormat(ctx.locale === 'de' ? 'de-DE' : 'en-GB', {
    dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC',
  }).format(new Date(ms));
  return `${text} UTC`;
}

/** "Chrome on Linux", "Firefox", "Unknown device". */
export function deviceLabel(ctx: PageContext, userAgent: string | null): string {
  const { browser, os } = summarizeUserAgent(userAgent);
  if (browser && os) return ctx.t('account.sessions.device', { browser, os });
  return browser ?? os ?? ctx.t('account.sessions.unknown_device');
}

export function sessionsPage(ctx: PageContext, sessions: SessionView[], csrf: string, notice?: string): string {
  const { t } = ctx;
  const items = sessions.map((s) => {
    const rows: [string, string][] = [
      ['account.sessions.ip', esc(s.ip ?? '—')],
      ['account.sessions.signed_in', esc(formatTime(ctx, s.signedInAt))],
      ['account.sessions.last_seen', esc(formatTime(ctx, s.lastSeenAt))],
    ];
    if (s.applications.length) rows.push(['account.sessions.applications', esc(s.applications.join(', '))]);
    return `<li class="item">
  <h2>${esc(deviceLabel(ctx, s.userAgent))}${s.current ? ` <span class="badge ok">${esc(t('account.sessions.current'))}</span>` : ''}</h2>
  <dl>${rows.map(([k, v]) => `<dt>${esc(t(k))}</dt><dd>${v}</dd>`).join('')}</dl>
  <form method="post" action="/account/sessions/revoke">
    ${csrfInput(csrf)}
    <input type="hidden" name="session" value="${esc(s.uid)}">
    <button type="submit" class="inline">${esc(t('account.sessions.revoke'))}</button>
  </form>
</li>`;
  }).join('\n');
  return `<h1>${esc(t('account.sessions.title'))}</h1>
<p class="lead">${esc(t('account.sessions.lead'))}</p>
${notice ? alert(notice, 'info') : ''}
${sessions.length ? `<ul class="items">${items}</ul>` : `<p>${esc(t('account.sessions.none'))}</p>`}
<form method="post" action="/account/sessions/revoke-all">
  ${csrfInput(csrf)}
  <button type="submit" class="secondary">${esc(t('account.sessions.revoke_all'))}</button>
</form>`;
}

export function applicationsPage(ctx: PageContext, apps: ApplicationView[], csrf: string, notice?: string): string {
  const { t } = ctx;
  const describe = (s: string) => {
    const key = `scope.${s}`;
    const text = t(key);
    return text === key ? s : text;
  };
  const items = apps.map((a) => {
    const scopes = a.scopes.map((s) => `<li>${esc(describe(s))}</li>`).join('');
    const apis = a.resources.map((r) =>
      `<li>${esc(t('consent.api', { api: r.resource }))} ${r.scopes.map((s) => `<code>${esc(s)}</code>`).join(' ')}</li>`).join('');
    return `<li class="item">
  <h2>${esc(a.name)}</h2>
  <p class="hint">${esc(t('account.apps.granted', { time: formatTime(ctx, a.grantedAt) }))}</p>
  ${scopes || apis ? `<ul class="scopes">${scopes}${apis}</ul>` : ''}
  <form method="post" action="/account/applications/revoke">
    ${csrfInput(csrf)}
    <input type="hidden" name="client_id" value="${esc(a.clientId)}">
    <button type="submit" class="inline">${esc(t('account.apps.revoke'))}</button>
  </form>
</li>`;
  }).join('\n');
  return `<h1>${esc(t('account.apps.title'))}</h1>
<p class="lead">${esc(t('account.apps.lead'))}</p>
${notice ? alert(notice, 'info') : ''}
${apps.length ? `<ul class="items">${items}</ul>` : `<p>${esc(t('account.apps.none'))}</p>`}`;
}
