import { registerCatalogue } from '../i18n/index.js';
import type { Catalogue } from '../i18n/index.js';
import { esc, layout } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';

/** The console's server-rendered texts (the SPA carries its own). */
export const consoleCatalogue: Catalogue = {
  en: {
    'console.not_built.title': 'Admin console not available',
    'console.not_built.lead': 'The admin console has not been built on this server.',
    'console.not_built.hint': 'An operator can build it with {command} and reload this page. The admin API works without it.',
  },
  de: {
    'console.not_built.title': 'Verwaltungskonsole nicht verfügbar',
    'console.not_built.lead': 'Die Verwaltungskonsole wurde auf diesem Server nicht gebaut.',
    'console.not_built.hint': 'Eine Betreiberin kann sie mit {command} bauen und diese Seite neu laden. Die Admin-API funktioniert auch ohne sie.',
  },
};
registerCatalogue(consoleCatalogue);

/** The command that builds the console (root package.json). */
export const BUILD_COMMAND = 'npm run build:console';

/** Shown (503) at /admin/ when the build is missing: a deployment problem, not a server error. */
export function notBuiltPage(ctx: PageContext): string {
  // The command is markup (<code>): the text is escaped first, then its placeholder replaced.
  const hint = esc(ctx.t('console.not_built.hint')).replace('{command}', `<code>${esc(BUILD_COMMAND)}</code>`);
  return layout(ctx, ctx.t('console.not_built.title'), `<h1>${esc(ctx.t('console.not_built.title'))}</h1>
<p class="lead">${esc(ctx.t('console.not_built.lead'))}</p>
<p>${hint}</p>`);
}
