import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Platform } from '../platform.js';
import { adminAudience } from '../admin/access.js';
import { ADMIN_BASE } from '../admin/routing.js';
import { ACR_MFA } from '../oidc/acr.js';
import { pageCsp } from '../http/security.js';
import { pageContext } from '../web/layout.js';
import { CONSOLE_CLIENT_ID, CONSOLE_PATH, CONSOLE_SCOPE, consoleUrls } from './client.js';
import { contentTypeOf, readInside } from './files.js';
import { notBuiltPage } from './views.js';
import type { ConsoleConfig } from './config.js';

export type { ConsoleConfig };

export function consoleConfig(issuer: string, stepUpMaxAge: number): ConsoleConfig {
  const urls = consoleUrls(issuer);
  return {
    issuer,
    client_id: CONSOLE_CLIENT_ID,
    redirect_uri: urls.redirectUri,
    post_logout_redirect_uri: urls.postLogoutRedirectUri,
    resource: adminAudience(issuer),
    scope: CONSOLE_SCOPE,
    api_base: `${issuer}${ADMIN_BASE}`,
    acr_mfa: ACR_MFA,
    step_up_max_age: stepUpMaxAge,
  };
}

/**
 * The SPA's CSP: what a Vite build loads (its module scripts and stylesheets
 * from /admin/assets, images from there or inlined as data: URIs) and what it
 * fetches (discovery, /oidc/token, /api/admin/v1: all on this origin). No
 * inline script or style, no frames, no other origin.
 */
export const CONSOLE_CSP = pageCsp([], { scripts: true });

/** Hashed file names (Vite's `[name]-[hash]`): a changed file gets a new URL, so the old one may be cached for good. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * The admin console (docs/admin.md#console): a Vite-built SPA served from
 * the build directory (settings.consoleDir).
 *
 * | path | answer |
 * |---|---|
 * | `/admin` | redirect to `/admin/` |
 * | `/admin/config.json` | the SPA's settings (issuer, client, admin API) |
 * | `/admin/assets/<file>` | the file, cached for good; 404 when missing (never the SPA) |
 * | `/admin/<file>` | a file at the build's top level (e.g. favicon.svg), revalidated |
 * | `/admin/`, `/admin/<anything else>` | index.html (the SPA routes on the client), never cached; 503 when not built |
 */
export function consoleFeature(app: FastifyInstance, p: Platform): void {
  const dir = p.settings.consoleDir;
  const config = consoleConfig(p.settings.issuer, p.settings.adminStepUpMaxAge);
  let warnedNotBuilt = false;

  app.get(CONSOLE_PATH, async (request, reply) => {
    const q = request.url.indexOf('?');
    return reply.redirect(`${CONSOLE_PATH}/${q === -1 ? '' : request.url.slice(q)}`, 302);
  });

  app.get(`${CONSOLE_PATH}/config.json`, async (_request, reply) => reply.header('cache-control', 'no-store').send(config));

  app.get(`${CONSOLE_PATH}/*`, async (request, reply) => {
    // Decoded once by the router (`%2e%2e` is `..` here); never decoded again.
    const rel = (request.params as { '*': string })['*'];
    if (rel === 'assets' || rel.startsWith('assets/')) {
      const file = await readInside(join(dir, 'assets'), rel.slice('assets/'.length));
      if (!file) return reply.callNotFound();
      return reply.type(contentTypeOf(rel)).header('cache-control', IMMUTABLE).send(file);
    }
    // A `..` segment is nobody's SPA route: refused rather than answered with the app.
    if (rel.split('/').some((s) => s === '..' || s === '.')) return reply.callNotFound();
    const file = rel ? await readInside(dir, rel) : undefined;
    if (file && rel !== 'index.html') return reply.type(contentTypeOf(rel)).header('cache-control', 'no-cache').send(file);
    return sendIndex(request, reply);
  });

  /** The SPA's page, read on every request so a rebuild is served without a restart (it names the new hashed assets). */
  async function sendIndex(request: FastifyRequest, reply: FastifyReply) {
    let html: Buffer | undefined;
    try {
      html = await readInside(dir, 'index.html');
    } catch (err) {
      p.log.warn({ err, dir }, 'admin console: cannot read index.html');
    }
    reply.header('cache-control', 'no-store');
    if (!html) {
      if (!warnedNotBuilt) p.log.warn({ dir }, 'admin console requested but not built: run npm run build:console');
      warnedNotBuilt = true;
      return reply.code(503).type('text/html; charset=utf-8').header('content-security-policy', pageCsp())
        .send(notBuiltPage(pageContext(request)));
    }
    warnedNotBuilt = false;
    return reply.type('text/html; charset=utf-8').header('content-security-policy', CONSOLE_CSP).send(html);
  }
}
