import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { GatewaySettings } from './config.js';
import { answers, corsHeaders, preflight, sendAnswer } from './answers.js';
import type { Answer } from './answers.js';
import type { Authenticator } from './authenticate.js';
import type { ForwardOutcome, UpstreamPools } from './forward.js';
import type { GatewayMetrics } from './metrics.js';
import { authorize } from './policy.js';
import type { RateLimiter } from './rate-limit.js';
import { isSafePath, upstreamPath } from './routes.js';
import type { CompiledRoute, RouteTable } from './routes.js';
import { FAILURE_DESCRIPTIONS } from './token.js';
import type { AuthResult, TokenContext } from './token.js';

export interface HandlerDeps {
  settings: Readonly<GatewaySettings>;
  routes: RouteTable;
  authenticator: Authenticator;
  pools: UpstreamPools;
  limiter: RateLimiter;
  metrics: GatewayMetrics;
  log: Logger;
}

const MALFORMED = { ok: false as const, reason: 'malformed' as const };

/** The first six characters spell "bearer" in any letter case. */
function isBearerScheme(header: string): boolean {
  for (let i = 0; i < 6; i++) if ((header.charCodeAt(i) | 0x20) !== 'bearer'.charCodeAt(i)) return false;
  return true;
}

/** `Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1). undefined: no bearer credentials at all; '': malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  // Compared by character code: this runs on every request, and slicing + lower-casing allocates.
  if (header.length < 7 || header.charCodeAt(6) !== 32 || !isBearerScheme(header)) {
    // Another scheme (Basic, DPoP…) is not a bearer token: the request "lacks authentication information".
    return /^bearer$/i.test(header.trim()) ? '' : undefined;
  }
  let start = 7;
  while (header.charCodeAt(start) === 32) start++;
  let end = header.length;
  while (end > start && header.charCodeAt(end - 1) === 32) end--;
  return header.slice(start, end);
}

/**
 * The request pipeline, one named step after the other:
 * path check → route match → CORS preflight → bearer token → authenticate
 * (JWT, optionally introspection) → per-client rate limit → route policy
 * (client, scopes, roles, acr step-up) → forward with trusted context.
 * Every refusal is answered by the gateway; the upstream never sees it.
 */
export function createHandler(deps: HandlerDeps): (req: IncomingMessage, res: ServerResponse, requestId: string) => Promise<void> | void {
  const { settings, routes, authenticator, pools, limiter, metrics, log } = deps;
  const acrLevels = settings.acr_levels;
  // Per-request lines exist only at debug; the level is fixed at boot, so ask once, not per request.
  const debug = log.isLevelEnabled('debug');

  const refuse = (res: ServerResponse, label: string, answer: Answer, headers: Record<string, string>): void => {
    sendAnswer(res, answer, headers);
    metrics.request(label, answer.status);
  };

  /** Everything that varies per request, handed from step to step. */
  interface Exchange {
    req: IncomingMessage;
    res: ServerResponse;
    requestId: string;
    url: string;
    route: CompiledRoute;
    /** Headers on the gateway's own answers: request id, CORS. */
    headers: Record<string, string>;
    cors: Record<string, string> | undefined;
  }

  /**
   * Synchronous as long as nothing has to wait (a token verified moments
   * ago is a cache hit): no promise is created on the common path. Returns
   * a promise only when the token needs verifying or introspecting.
   */
  return function handle(req, res, requestId) {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const base: Record<string, string> = { 'x-request-id': requestId };

    if (!isSafePath(path)) return refuse(res, 'unmatched', answers.badPath(), base);
    const method = req.method ?? 'GET';
    // A CORS preflight asks about the request it announces: match that method's route (no token: preflights carry none).
    const announced = method === 'OPTIONS' ? req.headers['access-control-request-method'] : undefined;
    if (announced !== undefined && req.headers.origin !== undefined) {
      const target = routes.match(announced.toUpperCase(), path);
      if (target.kind === 'route' && target.route.config.cors) {
        metrics.request(target.route.label, preflight(target.route, req, res, base));
        return;
      }
    }
    const match = routes.match(method, path);
    if (match.kind === 'none') return refuse(res, 'unmatched', answers.notFound(), base);
    if (match.kind === 'method') return refuse(res, match.route.label, answers.methodNotAllowed(match.allow), base);
    const route = match.route;
    const cors = route.config.cors ? corsHeaders(route, req) : undefined;
    const x: Exchange = { req, res, requestId, url, route, headers: cors ? { ...base, ...cors } : base, cors };

    if (route.config.public) return forward(x, undefined);
    const bearer = bearerToken(req.headers.authorization);
    if (bearer === undefined) {
      metrics.tokenFailure('missing');
      return refuse(res, route.label, answers.missingToken(), x.headers);
    }
    if (bearer === '') return admit(x, MALFORMED);
    const known = authenticator.lookup(bearer, route.audience!, route.config.introspect);
    if (known) return admit(x, known);
    return authenticator.authenticate(bearer, route.audience!, route.config.introspect).then((result) => admit(x, result));
  };

  /** After authentication: refusal, per-client rate limit, route policy, then forwarding. */
  function admit(x: Exchange, result: AuthResult): void {
    const { route, res, requestId } = x;
    if (!result.ok) {
      metrics.tokenFailure(result.reason);
      if (result.reason === 'unavailable') {
        log.warn({ requestId, route: route.label, detail: result.detail }, 'issuer unavailable; answering 503');
        return refuse(res, route.label, answers.unavailable(), x.headers);
      }
      if (debug) log.debug({ requestId, route: route.label, reason: result.reason }, 'token refused');
      return refuse(res, route.label, answers.invalidToken(FAILURE_DESCRIPTIONS[result.reason]), x.headers);
    }
    const token = result.token;

    const limit = route.config.rate_limit;
    if (limit) {
      const retryAfter = limiter.take(`${route.index} ${token.clientId}`, limit.per_client_per_minute);
      if (retryAfter > 0) return refuse(res, route.label, answers.rateLimited(retryAfter), x.headers);
    }

    const decision = authorize(route, token, acrLevels, Date.now() / 1000);
    if (!decision.ok) {
      const answer = decision.error === 'insufficient_user_authentication'
        ? answers.stepUp(decision.description, decision.acrValues, decision.maxAge)
        : answers.insufficientScope(decision.description, decision.scope);
      if (debug) log.debug({ requestId, route: route.label, sub: token.sub, client: token.clientId, error: decision.error }, 'policy refused');
      return refuse(res, route.label, answer, x.headers);
    }
    forward(x, token);
  }

  /**
   * The upstream's answer goes back with only the CORS headers added: the
   * request id travels upstream (x-request-id) for the service to log or
   * echo; the gateway's own answers carry it. (Every added header costs
   * measurable time per request; see bench/README.md.)
   */
  function forward(x: Exchange, token: TokenContext | undefined): void {
    const { route, req, res, requestId } = x;
    const started = performance.now();
    pools.forward(route.upstreamOrigin, req, res, {
      path: upstreamPath(route, x.url),
      requestId,
      token,
      forwardToken: route.config.forward_token,
      upstreamSecret: settings.upstreamSecret,
      trustProxy: settings.trustProxy,
      timeoutMs: route.config.timeout * 1000,
      responseHeaders: x.cors,
    }, (outcome) => settle(x, token, outcome, started));
  }

  function settle(x: Exchange, token: TokenContext | undefined, outcome: ForwardOutcome, started: number): void {
    const { route, req, res, requestId } = x;
    metrics.upstreamSeconds(route.label, (performance.now() - started) / 1000);
    if (outcome.ok) {
      metrics.request(route.label, outcome.status);
      if (debug) log.debug({ requestId, route: route.label, status: outcome.status, sub: token?.sub }, 'forwarded');
      return;
    }
    if (outcome.kind === 'client_closed') {
      metrics.request(route.label, outcome.status);
      if (debug) log.debug({ requestId, route: route.label }, 'client closed the connection');
      return;
    }
    if (outcome.kind === 'aborted') {
      log.warn({ requestId, route: route.label, status: outcome.status }, 'upstream response aborted');
      metrics.request(route.label, outcome.status);
      return;
    }
    log.warn({ requestId, route: route.label, upstream: route.upstreamOrigin, kind: outcome.kind }, 'upstream failed');
    // The request body may be half-read: drain it so the client's connection stays usable.
    if (!req.readableEnded) req.resume();
    return refuse(res, route.label, outcome.kind === 'timeout' ? answers.gatewayTimeout() : answers.badGateway(), x.headers);
  }
}
