import { esc, layout } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';

/** The account area's navigation; pages register their tab here. */
export const ACCOUNT_TABS: { path: string; key: string }[] = [
  { path: '/account', key: 'account.tab.profile' },
  { path: '/account/email', key: 'account.tab.email' },
  { path: '/account/phone', key: 'account.tab.phone' },
  { path: '/account/password', key: 'recovery.tab' },
  { path: '/account/security', key: 'mfa.tab' },
  { path: '/account/sessions', key: 'account.tab.sessions' },
  { path: '/account/applications', key: 'account.tab.applications' },
  { path: '/account/data', key: 'privacy.tab' },
  // Custom attributes the tenant shows its users (userdata/account-routes.ts).
  { path: '/account/details', key: 'userdata.tab' },
];

export function accountLayout(ctx: PageContext, current: string, title: string, body: string, logoutUrl: string): string {
  const tabs = ACCOUNT_TABS.map((tab) =>
    `<a href="${tab.path}"${tab.path === current ? ' aria-current="page"' : ''}>${esc(ctx.t(tab.key))}</a>`).join('');
  return layout(ctx, title, `
<nav class="tabs" aria-label="${esc(ctx.t('account.nav'))}">${tabs}<a href="${esc(logoutUrl)}">${esc(ctx.t('account.signout'))}</a></nav>
${body}`, { wide: true });
}
