import { esc, layout } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import { ADMIN_ROLE } from '../admin/access.js';
import { CONSOLE_PATH } from '../console/client.js';

/**
 * The account area's navigation; pages register their tab here. `also`:
 * pages reached from a tab's page (the email and phone pages from the
 * profile), which show that tab as the current one. Short labels, so the
 * row stays on one line at desktop widths (1280 px; the browser test
 * checks it).
 */
export const ACCOUNT_TABS: { path: string; key: string; also?: string[] }[] = [
  { path: '/account', key: 'account.tab.profile', also: ['/account/email', '/account/phone'] },
  { path: '/account/password', key: 'recovery.tab' },
  // Connected accounts (federation/account-links.ts) is reached from the security page: an eighth tab would not fit.
  { path: '/account/security', key: 'mfa.tab', also: ['/account/connected'] },
  { path: '/account/sessions', key: 'account.tab.sessions' },
  { path: '/account/applications', key: 'account.tab.applications' },
  { path: '/account/data', key: 'privacy.tab' },
  // Custom attributes the tenant shows its users (userdata/account-routes.ts).
  { path: '/account/details', key: 'userdata.tab' },
];

/** Who the page is for: administrators get a link to the admin console. */
export interface AccountViewer {
  roles: readonly string[];
}

export function accountLayout(ctx: PageContext, current: string, title: string, body: string, logoutUrl: string, viewer?: AccountViewer): string {
  const tabs = ACCOUNT_TABS.map((tab) => {
    const here = tab.path === current || (tab.also ?? []).includes(current);
    return `<a href="${tab.path}"${here ? ' aria-current="page"' : ''}>${esc(ctx.t(tab.key))}</a>`;
  }).join('');
  // The console checks the role again on every API call; the link only saves administrators typing /admin/.
  const consoleLink = viewer?.roles.includes(ADMIN_ROLE)
    ? `<a class="console-link" href="${CONSOLE_PATH}/">${esc(ctx.t('account.console'))}</a>` : '';
  return layout(ctx, title, `
<nav class="tabs" aria-label="${esc(ctx.t('account.nav'))}">${tabs}<span class="tabs-end">${consoleLink}<a href="${esc(logoutUrl)}">${esc(ctx.t('account.signout'))}</a></span></nav>
${body}`, { account: true });
}
