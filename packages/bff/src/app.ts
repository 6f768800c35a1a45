import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Writable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { JWTVerifyGetKey } from 'jose';
import type { BffConfig } from './config.js';
import { clearCookie, cookieNames, readCookie, serializeCookie } from './cookies.js';
import { BffError, sendError } from './errors.js';
import { OidcClient } from './oidc.js';
import { registerProxy } from './proxy.js';
import { Renewer } from './renewal.js';
import { registerBffRoutes } from './routes.js';
import { registerBackchannelLogout } from './backchannel.js';
import { registerPublicRoutes } from './publicroutes.js';
import formbody from '@fastify/formbody';
import { Sessions, TRANSACTION_TTL_SECONDS, Transactions } from './session.js';
import { MemorySessionStore } from './store.js';
import type { SessionStore } from './store.js';

export interface BffDeps {
  /** Sessions; an in-memory store by default. Share one (e.g. Redis) between instances. */
  store?: SessionStore;
  /** Sign-in transactions; a separate bounded in-memory store by default. */
  transactionStore?: SessionStore;
  /** Where JSON logs go (stdout by default). */
  logStream?: Writable;
  /** The clock, for tests that move time. */
  now?: () => number;
  /** The HTTP client pool towards the API. */
  dispatcher?: Dispatcher;
  /** Keys that verify back-channel logout tokens; the platform's JWKS by default. */
  logoutKeys?: JWTVerifyGetKey;
}

/**
 * Builds the BFF: a Fastify app (not yet listening) serving `/bff/*` and
 * proxying `/api/*`. Add the app's own pages to it, then `listen()`.
 * Discovery runs on first use, so this never waits for the platform.
 */
export function createBff(config: BffConfig, deps: BffDeps = {}): FastifyInstance {
  const now = deps.now ?? Date.now;
  const app = Fastify({
    bodyLimit: config.bodyLimitBytes,
    logger: {
      level: config.logLevel,
      ...(deps.logStream ? { stream: deps.logStream } : {}),
      serializers: {
        // Paths only, as the platform logs them: the callback's query carries the
        // authorization code, and API queries may carry anything.
        req: (req: FastifyRequest) => ({ method: req.method, path: req.url.split('?')[0] }),
      },
    },
  });

  const store = deps.store ?? new MemorySessionStore({ now });
  const txStore = deps.transactionStore ?? new MemorySessionStore({ now, maxEntries: 10_000 });
  if (!deps.store) app.addHook('onClose', async () => store.close?.());
  if (!deps.transactionStore) app.addHook('onClose', async () => txStore.close?.());

  const sessions = new Sessions(store, now);
  const transactions = new Transactions(txStore);
  const oidc = new OidcClient(config, now);
  const names = cookieNames(config.cookieSecure);
  const secure = config.cookieSecure;

  const loadSession = async (req: FastifyRequest) => {
    const id = readCookie(req.headers.cookie, names.session);
    return id ? sessions.load(id) : undefined;
  };
  const forgetSession = (reply: FastifyReply) => {
    if (reply.request.headers.cookie?.includes(`${names.session}=`)) appendCookie(reply, clearCookie(names.session, secure));
  };
  const renewer = new Renewer({ oidc, sessions, renewBeforeSeconds: config.renewBeforeSeconds, now, log: app.log });

  registerBffRoutes(app, {
    config, oidc, sessions, transactions, now, loadSession, forgetSession,
    readLoginCookie: (req) => readCookie(req.headers.cookie, names.login),
    // No Max-Age: the cookie ends with the browser; the server enforces the absolute lifetime.
    setSessionCookie: (reply, id) => appendCookie(reply, serializeCookie(names.session, id, { secure })),
    setLoginCookie: (reply, id) => appendCookie(reply, serializeCookie(names.login, id, { secure, maxAge: TRANSACTION_TTL_SECONDS })),
    clearLoginCookie: (reply) => appendCookie(reply, clearCookie(names.login, secure)),
  });
  registerProxy(app, { config, renewer, loadSession, forgetSession, ...(deps.dispatcher ? { dispatcher: deps.dispatcher } : {}) });
  registerPublicRoutes(app, config, deps.dispatcher);
  app.register(async (scope) => {
    // The platform posts logout tokens form-encoded (Back-Channel Logout §2.5).
    await scope.register(formbody);
    registerBackchannelLogout(scope, { config, oidc, sessions, replay: txStore, now, ...(deps.logoutKeys ? { keys: deps.logoutKeys } : {}) });
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof BffError) return sendError(reply, err);
    const status = (err as { statusCode?: number }).statusCode;
    // Fastify's own 4xx (body too large, bad content) are safe to name; anything else is logged, not shown.
    if (status && status >= 400 && status < 500) {
      return sendError(reply, new BffError('invalid_request', status, (err as Error).message));
    }
    req.log.error({ err }, 'unexpected error');
    return sendError(reply, new BffError('server_error', 500, 'unexpected error'));
  });
  app.setNotFoundHandler((_req, reply) => sendError(reply, new BffError('not_found', 404, 'not found')));
  return app;
}

/** Fastify appends repeated `set-cookie` headers rather than replacing them. */
function appendCookie(reply: FastifyReply, value: string): void {
  reply.header('set-cookie', value);
}
