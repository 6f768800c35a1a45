import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { GatewaySettings } from './config.js';
import { answers, corsHeaders, preflight, sendAnswer } from './answers.js';
import type { Answer } from './answers.js';
import type { Authenticator } from './authenticate.js';
import type { ForwardFailure, Forwarding, Upstream, UpstreamPools } from './forward.js';
import type { GatewayMetrics, RouteTally } from './metrics.js';
import { authorize } from './policy.js';
import type { RateLimiter } from './rate-limit.js';
import { isSafePath, upstreamPath } from './routes.js';
import type { CompiledRoute, RouteTable } from './routes.js';
import { FAILURE_DESCRIPTIONS } from './token.js';
import type { AuthResult, TokenContext } from './token.js';
import type { JwtVerifier } from './verify.js';
import { DPOP_ALGS, requestUrl, verifyDpopProof } from './dpop.js';
import type { ReplayCache } from './dpop.js';
import { ipAllowed } from './cidr.js';
import { clientAddress } from './ip-policy.js';

export interface HandlerDeps {
  settings: Readonly<GatewaySettings>;
  routes: RouteTable;
  authenticator: Authenticator;
  pools: UpstreamPools;
  limiter: RateLimiter;
  /** DPoP proof jtis (dpop.ts), shared by the instances when GATEWAY_REDIS_URL is set. */
  replay: ReplayCache;
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

/** `DPoP <token>` (RFC 9449 §7.1, scheme case-insensitive). undefined: another scheme; '': malformed. */
export function dpopToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 4 || (header.charCodeAt(0) | 0x20) !== 100 || !/^dpop(\s|$)/i.test(header)) return undefined;
  const token = header.slice(4).trim();
  return /^[A-Za-z0-9\-._~+/]+=*$/.test(token) ? token : '';
}

/**
 * The request pipeline, one named step after the other:
 * path check → route match → CORS preflight → route IP allowlist → bearer
 * token → authenticate (JWT, optionally introspection) → client IP allowlist
 * (the token's ip_allowlist) → per-client rate limit → route policy
 * (client, scopes, roles, acr step-up) → forward with trusted context.
 * Every refusal is answered by the gateway; the upstream never sees it.
 *
 * `path` is the request target without its query (the caller has cut it
 * already to tell the gateway's own paths from proxied ones).
 */
export function createHandler(deps: HandlerDeps): (req: IncomingMessage, res: ServerResponse, requestId: string, path: string) => Promise<void> | void {
  const { settings, routes, authenticator, pools, limiter, replay, metrics, log } = deps;
  const acrLevels = settings.acr_levels;
  // Per-request lines exist only at debug; the level is fixed at boot, so ask once, not per request.
  const debug = log.isLevelEnabled('debug');

  // Everything per route that does not depend on the request, prepared once and found by route index:
  // its way upstream (pool, timeouts), its metric tallies, and the verifier holding its verified-token cache.
  const upstreams: readonly Upstream[] = routes.routes.map((r) =>
    pools.upstream(r.upstreamOrigin, { forwardToken: r.config.forward_token, timeoutMs: r.config.timeout * 1000 }));
  const tallies: readonly RouteTally[] = routes.routes.map((r) => metrics.tally(r.label));
  // Introspected routes never answer from the cache (the issuer must be asked); public ones take no token.
  const verifiers: ReadonlyArray<JwtVerifier | undefined> = routes.routes.map((r) =>
    (r.config.public || r.config.introspect ? undefined : authenticator.verifier(r.audience!)));
  const unmatched = metrics.tally('unmatched');

  const refuse = (res: ServerResponse, tally: RouteTally, answer: Answer, headers: Record<string, string>): void => {
    sendAnswer(res, answer, headers);
    tally.request(answer.status);
  };

  /**
   * Everything that varies per request, handed from step to step and to
   * undici (as the request's opaque): one object per request, with its
   * fields all set in the constructor (one shape) and the completion as a
   * method, so the common path creates no closure.
   */
  class Exchange implements Forwarding {
    declare readonly req: IncomingMessage;
    declare readonly res: ServerResponse;
    declare readonly requestId: string;
    declare readonly route: CompiledRoute;
    declare readonly responseHeaders: Record<string, string> | undefined;
    declare token: TokenContext | undefined;
    /** The request came with a DPoP proof that holds for its token (RFC 9449). */
    declare dpop: boolean;
    declare status: number;
    /** performance.now() when forwarding started. */
    declare started: number;

    constructor(req: IncomingMessage, res: ServerResponse, requestId: string, route: CompiledRoute, cors: Record<string, string> | undefined) {
      this.req = req;
      this.res = res;
      this.requestId = requestId;
      this.route = route;
      this.responseHeaders = cors;
      this.token = undefined;
      this.dpop = false;
      this.status = 0;
      this.started = 0;
    }

    /** Headers on the gateway's own answers: request id, CORS. */
    answerHeaders(): Record<string, string> {
      return this.responseHeaders ? { 'x-request-id': this.requestId, ...this.responseHeaders } : { 'x-request-id': this.requestId };
    }

    /** The forwarded request ended (see UpstreamPools.forward): count it, and answer 502/504 if nothing was sent yet. */
    finished(failure: ForwardFailure | undefined): void {
      const { route, req, res, requestId } = this;
      const tally = tallies[route.index]!;
      tally.upstreamSeconds((performance.now() - this.started) / 1000);
      if (failure === undefined) {
        tally.request(this.status);
        if (debug) log.debug({ requestId, route: route.label, status: this.status, sub: this.token?.sub }, 'forwarded');
        return;
      }
      if (failure === 'client_closed') {
        tally.request(this.status);
        if (debug) log.debug({ requestId, route: route.label }, 'client closed the connection');
        return;
      }
      if (failure === 'aborted') {
        log.warn({ requestId, route: route.label, status: this.status }, 'upstream response aborted');
        tally.request(this.status);
        return;
      }
      log.warn({ requestId, route: route.label, upstream: route.upstreamOrigin, kind: failure }, 'upstream failed');
      // The request body may be half-read: drain it so the client's connection stays usable.
      if (!req.readableEnded) req.resume();
      return refuse(res, tally, failure === 'timeout' ? answers.gatewayTimeout() : answers.badGateway(), this.answerHeaders());
    }
  }

  /**
   * Synchronous as long as nothing has to wait (a token verified moments
   * ago is a cache hit): no promise is created on the common path. Returns
   * a promise only when the token needs verifying or introspecting.
   */
  return function handle(req, res, requestId, path) {
    if (!isSafePath(path)) return refuse(res, unmatched, answers.badPath(), { 'x-request-id': requestId });
    const method = req.method ?? 'GET';
    // A CORS preflight asks about the request it announces: match that method's route (no token: preflights carry none).
    const announced = method === 'OPTIONS' ? req.headers['access-control-request-method'] : undefined;
    if (announced !== undefined && req.headers.origin !== undefined) {
      const target = routes.match(announced.toUpperCase(), path);
      if (target.kind === 'route' && target.route.config.cors) {
        tallies[target.route.index]!.request(preflight(target.route, req, res, { 'x-request-id': requestId }));
        return;
      }
    }
    const match = routes.match(method, path);
    if (match.kind === 'none') return refuse(res, unmatched, answers.notFound(), { 'x-request-id': requestId });
    const route = match.route;
    if (match.kind === 'method') return refuse(res, tallies[route.index]!, answers.methodNotAllowed(match.allow), { 'x-request-id': requestId });
    const x = new Exchange(req, res, requestId, route, route.config.cors ? corsHeaders(route, req) : undefined);

    // Before the token is looked at: an address outside the route's list learns nothing about its token.
    const allowedIps = route.config.allowed_ips;
    if (allowedIps !== undefined && !ipAllowed(allowedIps, clientAddress(req, settings.proxyTrust))) return refuseAddress(x, 'route');
    if (route.config.public) return forward(x);
    const bound = dpopToken(req.headers.authorization);
    if (bound !== undefined) return bound === '' ? admit(x, MALFORMED) : proofOfPossession(x, bound);
    const bearer = bearerToken(req.headers.authorization);
    if (bearer === undefined) {
      metrics.tokenFailure('missing');
      return refuse(res, tallies[route.index]!, answers.missingToken(), x.answerHeaders());
    }
    if (bearer === '') return admit(x, MALFORMED);
    const known = verifiers[route.index]?.lookup(bearer);
    if (known) return admit(x, known);
    return authenticator.authenticate(bearer, route.audience!, route.config.introspect).then((result) => admit(x, result));
  };

  /**
   * `Authorization: DPoP`: the token as usual, then its binding (cnf.jkt)
   * and the request's proof (dpop.ts); the proof's jti is recorded last.
   */
  async function proofOfPossession(x: Exchange, token: string): Promise<void> {
    const result = verifiers[x.route.index]?.lookup(token) ?? await authenticator.authenticate(token, x.route.audience!, x.route.config.introspect);
    if (!result.ok) return admit(x, result);
    if (result.token.jkt === undefined) return admit(x, { ok: false, reason: 'dpop_unbound' });
    const proof = x.req.headers.dpop;
    // Two DPoP headers arrive joined by a comma, which a JWS never contains: refused like a missing one (RFC 9449 §4.3).
    if (typeof proof !== 'string' || proof.includes(',')) return admit(x, { ok: false, reason: 'dpop_proof' });
    const url = requestUrl(x.req, settings.publicOrigin, settings.proxyTrust);
    let failure;
    try {
      failure = await verifyDpopProof(proof, { method: x.req.method ?? 'GET', url, token, jkt: result.token.jkt }, replay, settings.clock_tolerance);
    } catch (err) {
      return admit(x, { ok: false, reason: 'unavailable', detail: `DPoP replay cache: ${String(err)}` });
    }
    if (failure) return admit(x, { ok: false, reason: failure });
    x.dpop = true;
    return admit(x, result);
  }

  /** After authentication: refusal, per-client rate limit, route policy, then forwarding. */
  function admit(x: Exchange, result: AuthResult): void {
    const { route, res, requestId } = x;
    if (!result.ok) {
      metrics.tokenFailure(result.reason);
      if (result.reason === 'unavailable') {
        log.warn({ requestId, route: route.label, detail: result.detail }, 'issuer unavailable; answering 503');
        return refuse(res, tallies[route.index]!, answers.unavailable(), x.answerHeaders());
      }
      if (debug) log.debug({ requestId, route: route.label, reason: result.reason }, 'token refused');
      return refuse(res, tallies[route.index]!, refusal(result.reason), x.answerHeaders());
    }
    const token = result.token;
    // RFC 9449 §7.1: a DPoP-bound token presented as a bearer token is refused (whoever stole it has no key).
    if (token.jkt !== undefined && !x.dpop) {
      metrics.tokenFailure('dpop_required');
      return refuse(res, tallies[route.index]!, refusal('dpop_required'), x.answerHeaders());
    }

    // The client's own list (Tessera's ip_allowlist, carried by its token): the same rule as at the token endpoint.
    if (token.ipAllowlist !== undefined && !ipAllowed(token.ipAllowlist, clientAddress(x.req, settings.proxyTrust))) return refuseAddress(x, 'client', token.clientId);

    const limit = route.config.rate_limit;
    if (limit) {
      const retryAfter = limiter.take(`${route.index} ${token.clientId}`, limit.per_client_per_minute);
      if (retryAfter > 0) return refuse(res, tallies[route.index]!, answers.rateLimited(retryAfter), x.answerHeaders());
    }

    // The clock is read only for routes that limit the sign-in's age.
    const decision = authorize(route, token, acrLevels, route.maxAge === undefined ? 0 : Date.now() / 1000);
    if (!decision.ok) {
      const answer = decision.error === 'insufficient_user_authentication'
        ? answers.stepUp(decision.description, decision.acrValues, decision.maxAge)
        : answers.insufficientScope(decision.description, decision.scope);
      if (debug) log.debug({ requestId, route: route.label, sub: token.sub, client: token.clientId, error: decision.error }, 'policy refused');
      return refuse(res, tallies[route.index]!, answer, x.answerHeaders());
    }
    x.token = token;
    forward(x);
  }

  /** 403 ip_not_allowed, counted by which list refused (docs/b2b.md#ip-policy). */
  function refuseAddress(x: Exchange, source: 'route' | 'client', client?: string): void {
    metrics.ipRefusals.inc({ source });
    if (debug) log.debug({ requestId: x.requestId, route: x.route.label, source, client }, 'address not allowed');
    return refuse(x.res, tallies[x.route.index]!, answers.ipNotAllowed(), x.answerHeaders());
  }

  function refusal(reason: Exclude<AuthResult, { ok: true }>['reason']): Answer {
    const description = FAILURE_DESCRIPTIONS[reason as keyof typeof FAILURE_DESCRIPTIONS];
    if (reason === 'dpop_proof' || reason === 'dpop_replay') return answers.dpop('invalid_dpop_proof', description, DPOP_ALGS);
    if (reason === 'dpop_required' || reason === 'dpop_unbound') return answers.dpop('invalid_token', description, DPOP_ALGS);
    return answers.invalidToken(description);
  }

  /**
   * The upstream's answer goes back with only the CORS headers added: the
   * request id travels upstream (x-request-id) for the service to log or
   * echo; the gateway's own answers carry it. (Every added header costs
   * measurable time per request; see bench/README.md.)
   */
  function forward(x: Exchange): void {
    x.started = performance.now();
    pools.forward(upstreams[x.route.index]!, upstreamPath(x.route, x.req.url ?? '/'), x);
  }
}
