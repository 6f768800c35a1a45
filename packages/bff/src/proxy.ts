import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import type { BffConfig } from './config.js';
import { csrfValid, isStateChanging } from './csrf.js';
import { BffError, ERRORS, LoginRequired, sendError, sendLoginRequired } from './errors.js';
import type { Renewer } from './renewal.js';
import type { LoadedSession, Session } from './session.js';

export interface ProxyDeps {
  config: BffConfig;
  renewer: Renewer;
  /** The request's session, if any (read from the cookie). */
  loadSession(req: FastifyRequest): Promise<LoadedSession | undefined>;
  /** Ends the browser's session: clears the cookie (the store entry is already gone). */
  forgetSession(reply: FastifyReply): void;
  dispatcher?: Dispatcher;
}

export const API_PREFIX = '/api';

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * Request headers never forwarded. Hop-by-hop headers (RFC 9110 §7.6.1) belong
 * to this connection. The browser's cookies and CSRF token are the BFF's own
 * credentials, not the API's. `authorization` is replaced with the session's
 * token. `x-tessera-*` is the gateway's trusted context: a browser must not
 * be able to supply it (the gateway strips it too; this is the second line).
 */
const DROP_REQUEST = new Set(['connection', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'host', 'cookie', 'authorization', 'x-bff-csrf', 'content-length', 'expect', 'origin',
  'referer', 'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip']);

/** Response headers never passed back: hop-by-hop, and cookies (the API must not set cookies on the app's origin). */
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding',
  'upgrade', 'set-cookie', 'set-cookie2']);

/**
 * `ALL /api/*` → `${BFF_API_BASE}/*` with `Authorization: Bearer <access token>`.
 * The body is buffered (up to the body limit) so a request can be replayed once
 * after an upstream `401 invalid_token` and a renewal.
 */
export function registerProxy(app: FastifyInstance, deps: ProxyDeps): void {
  const dispatcher = deps.dispatcher ?? new Agent({
    headersTimeout: deps.config.apiTimeoutSeconds * 1000,
    bodyTimeout: deps.config.apiTimeoutSeconds * 1000,
  });
  if (!deps.dispatcher) app.addHook('onClose', async () => dispatcher.close());

  app.register(async (scope) => {
    // Bodies are passed through untouched, whatever their type.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      const target = targetUrl(deps.config.apiBase, req.url);
      if (!target) return sendError(reply, ERRORS.badPath());
      const loaded = await deps.loadSession(req);
      if (!loaded) {
        deps.forgetSession(reply);
        return sendLoginRequired(req, reply, new LoginRequired('not signed in'));
      }
      if (isStateChanging(req.method) && !csrfValid(req, loaded.session, deps.config.publicOrigin)) {
        req.log.warn({ method: req.method }, 'state-changing API call without a valid CSRF token refused');
        return sendError(reply, ERRORS.csrf());
      }
      try {
        let session: Session = await deps.renewer.fresh(loaded);
        const body = Buffer.isBuffer(req.body) ? req.body : undefined;
        let res = await forward(dispatcher, target, req, body, session.accessToken);
        // The token may be dead before its `exp` (revoked, signing key retired, clock skew):
        // renew once and replay once. A second refusal goes back to the browser as is.
        if (res.statusCode === 401 && invalidToken(res.headers['www-authenticate'])) {
          await res.body.dump();
          session = await deps.renewer.renew(loaded.key, session.accessToken);
          res = await forward(dispatcher, target, req, body, session.accessToken);
        }
        return relay(reply, res);
      } catch (err) {
        if (err instanceof LoginRequired) {
          deps.forgetSession(reply);
          return sendLoginRequired(req, reply, err);
        }
        if (err instanceof BffError) return sendError(reply, err);
        req.log.warn({ err }, 'API request failed');
        return sendError(reply, ERRORS.upstream());
      }
    };
    scope.route({ method: [...METHODS], url: API_PREFIX, handler });
    scope.route({ method: [...METHODS], url: `${API_PREFIX}/*`, handler });
  });
}

/**
 * Maps `/api/rest?query` onto the API base. Dot segments, backslashes and
 * encoded slashes are refused: URL parsers (ours or the API's) would resolve
 * them and a request could climb out of the base path (`/api/../admin`).
 */
export function targetUrl(apiBase: string, rawUrl: string, prefix: string = API_PREFIX): string | undefined {
  if (rawUrl !== prefix && !rawUrl.startsWith(`${prefix}/`) && !rawUrl.startsWith(`${prefix}?`)) return undefined;
  const rest = rawUrl.slice(prefix.length);
  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  if (path.includes('\\')) return undefined;
  for (const segment of path.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return undefined;
    }
    if (decoded === '.' || decoded === '..' || decoded.includes('/') || decoded.includes('\\')) return undefined;
  }
  const target = `${apiBase}${rest}`;
  // Belt and braces: the result must still be under the base.
  const url = new URL(target);
  const base = new URL(apiBase);
  if (url.origin !== base.origin || !`${url.pathname}/`.startsWith(`${base.pathname.replace(/\/$/, '')}/`)) return undefined;
  return target;
}

/** Forwards the browser's request; with an access token as `Authorization`, or without any credential (public routes). */
export function forward(dispatcher: Dispatcher, target: string, req: FastifyRequest, body: Buffer | undefined, accessToken: string | undefined) {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || DROP_REQUEST.has(name) || name.startsWith('x-tessera-')) continue;
    headers[name] = value;
  }
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  // The browser's address as this hop saw it (the gateway decides whether to trust it, e.g. for rate limits).
  headers['x-forwarded-for'] = req.ip;
  return request(target, {
    dispatcher,
    method: req.method as Dispatcher.HttpMethod,
    headers,
    body: body && body.length ? body : undefined,
  });
}

export function relay(reply: FastifyReply, res: Dispatcher.ResponseData): FastifyReply {
  reply.code(res.statusCode);
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined || DROP_RESPONSE.has(name)) continue;
    reply.header(name, value);
  }
  // API responses are data for the app's scripts, never documents: if one is
  // opened directly (a navigation to /api/...), nothing in it may run on the
  // app's origin, whatever its content type.
  reply.header('content-security-policy', "default-src 'none'; sandbox");
  reply.header('x-content-type-options', 'nosniff');
  return reply.send(res.body);
}

/** RFC 6750 §3.1: the API says the token itself is the problem. */
function invalidToken(header: string | string[] | undefined): boolean {
  const value = Array.isArray(header) ? header.join(', ') : header ?? '';
  return /^\s*bearer\b/i.test(value) && /error\s*=\s*"?invalid_token"?/i.test(value);
}
