import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';
import type { BffConfig } from './config.js';
import { isStateChanging } from './csrf.js';
import { ERRORS, sendError } from './errors.js';
import { METHODS, forward, relay, targetUrl } from './proxy.js';

export const PUBLIC_PREFIX = '/bff/public';

/**
 * Unauthenticated pass-through routes (`BFF_PUBLIC_ROUTES`): a micro-frontend
 * can call the platform's self-service JSON APIs (registration, password
 * reset) on its own origin, with no CORS set-up. Nothing of the session goes
 * along: no cookie, no token, no CSRF header. State-changing calls must come
 * from the app's own pages (`Origin` or `Sec-Fetch-Site`), as another site
 * could otherwise use the BFF to register accounts with the visitor's address.
 */
export function registerPublicRoutes(app: FastifyInstance, config: BffConfig, dispatcher?: Dispatcher): void {
  if (!config.publicRoutes.length) return;
  const pool = dispatcher ?? new Agent({
    headersTimeout: config.apiTimeoutSeconds * 1000,
    bodyTimeout: config.apiTimeoutSeconds * 1000,
  });
  if (!dispatcher) app.addHook('onClose', async () => pool.close());

  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    for (const route of config.publicRoutes) {
      const prefix = `${PUBLIC_PREFIX}/${route.name}`;
      const handler = async (req: FastifyRequest, reply: FastifyReply) => {
        const target = targetUrl(route.target, req.url, prefix);
        if (!target) return sendError(reply, ERRORS.badPath());
        if (isStateChanging(req.method) && !sameOrigin(req, config.publicOrigin)) {
          req.log.warn({ route: route.name }, 'cross-site call to a public route refused');
          return sendError(reply, ERRORS.csrf());
        }
        try {
          const body = Buffer.isBuffer(req.body) ? req.body : undefined;
          return relay(reply, await forward(pool, target, req, body, undefined));
        } catch (err) {
          req.log.warn({ err, route: route.name }, 'public route failed');
          return sendError(reply, ERRORS.upstream());
        }
      };
      scope.route({ method: [...METHODS], url: prefix, handler });
      scope.route({ method: [...METHODS], url: `${prefix}/*`, handler });
    }
  });
}

/** The request comes from a page of the app's own origin (Fetch Metadata, or `Origin`). */
function sameOrigin(req: FastifyRequest, publicOrigin: string): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return false;
  const origin = req.headers.origin;
  if (origin !== undefined) return origin === publicOrigin;
  // Browsers send Origin on every cross-origin state-changing request; a client without
  // either header is not a browser being abused by another site.
  return true;
}
