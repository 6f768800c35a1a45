import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { DatabaseUnavailableError } from '../storage/availability.js';
import { UNAVAILABLE_RETRY_AFTER } from '../http/errors.js';

const UNAVAILABLE = Symbol('tessera.engine.unavailable');

/** What a protocol endpoint answers while the database is unavailable (RFC 6749 §4.1.2.1 names the code). */
export const UNAVAILABLE_OUT = {
  error: 'temporarily_unavailable',
  error_description: 'the service is temporarily unavailable; retry shortly',
} as const;

type Ctx = KoaContextWithOIDC & { [UNAVAILABLE]?: boolean };

/**
 * The engine turns any error it did not raise itself into `500 server_error`
 * (and says so in its `server_error` event) from inside each route's own
 * error handler, where Tessera cannot reach. A database outage is not a
 * server bug: this marks such requests from the event and, in a middleware
 * around the engine's routes, rewrites the answer to `503
 * temporarily_unavailable` with `Retry-After`: JSON for API callers, the
 * error page for browsers. (The engine never redirects a server error back
 * to the client: such errors are not `allow_redirect`.)
 */
export function installUnavailableAnswers(provider: Provider, page: (ctx: KoaContextWithOIDC, out: Record<string, string>) => string): void {
  provider.on('server_error', (ctx, err) => {
    if (err instanceof DatabaseUnavailableError) (ctx as Ctx)[UNAVAILABLE] = true;
  });
  provider.use(async (ctx, next) => {
    await next();
    if (!(ctx as Ctx)[UNAVAILABLE]) return;
    ctx.set('retry-after', String(UNAVAILABLE_RETRY_AFTER));
    if (ctx.response.is('html')) {
      ctx.status = 503;
      ctx.body = page(ctx as KoaContextWithOIDC, { ...UNAVAILABLE_OUT });
    } else {
      const state = (ctx.body as { state?: unknown } | undefined)?.state;
      ctx.status = 503;
      ctx.body = { ...UNAVAILABLE_OUT, ...(typeof state === 'string' ? { state } : {}) };
    }
  });
}
