import { esc, layout } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import type { User } from '../identity/model.js';

/** The account area's navigation; pages register their tab here. */
export const ACCOUNT_TABS: { path: string; key: string }[] = [
  { path: '/account', key: 'account.tab.profile' },
];

export function accountLayout(ctx: PageContext, current: string, title: string, body: string, logoutUrl: string): string {
  const tabs = ACCOUNT_TABS.map((tab) =>
    `<a href="${tab.path}"${tab.path === current ? ' aria-current="page"' : ''}>${esc(ctx.t(tab.key))}</a>`).join('');
  return layout(ctx, title, `
<nav class="tabs" aria-label="${esc(ctx.t('account.nav'))}">${tabs}<a href="${esc(logoutUrl)}">${esc(ctx.t('account.signout'))}</a></nav>
${body}`, { wide: true });
}

export function profileOverview(ctx: PageContext, user: User): string {
  const { t } = ctx;
  const rows: [string, string | null][] = [
    ['account.username', user.username],
    ['account.name', [user.givenName, user.familyName].filter(Boolean).join(' ') || null],
    ['account.email', user.email],
    ['account.phone', user.phoneNumber],
    ['account.tenant', user.tenantId],
  ];
  return `<h1>${esc(t('account.title'))}</h1>
<p class="lead">${esc(t('account.lead'))}</p>
<table><tbody>${rows.filter(([, v]) => v).map(([k, v]) => `<tr><th scope="row">${esc(t(k))}</th><td>${esc(v)}</td></tr>`).join('')}</tbody></table>`;
}
