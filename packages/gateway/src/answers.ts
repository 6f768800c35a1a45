import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CompiledRoute } from './routes.js';

/**
 * The answers the gateway gives itself (never the upstream's): RFC 6750
 * bearer challenges, RFC 9470 step-up, and plain JSON errors. Every answer
 * has a JSON body `{error, error_description}` as well as the header, so
 * both header-reading and body-reading clients learn what happened.
 */

export const REALM = 'tessera';

export interface Answer {
  status: number;
  error: string;
  description: string;
  /** RFC 6750 §3 challenge parameters (401/403 only); absent error = "no token" (§3.1). */
  challenge?: { error?: string; scope?: string; acrValues?: string; maxAge?: number };
  headers?: Record<string, string>;
}

/** Quoted-string content allowed by RFC 6750 §3 (%x20-21 / %x23-5B / %x5D-7E); anything else is dropped. */
const quote = (v: string) => `"${v.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '')}"`;

/** `Bearer realm="tessera", error="…", error_description="…", scope="…", acr_values="…", max_age="…"`. */
export function bearerChallenge(c: NonNullable<Answer['challenge']>, description: string): string {
  const parts = [`realm=${quote(REALM)}`];
  if (c.error) {
    parts.push(`error=${quote(c.error)}`, `error_description=${quote(description)}`);
    if (c.scope) parts.push(`scope=${quote(c.scope)}`);
    if (c.acrValues) parts.push(`acr_values=${quote(c.acrValues)}`);
    if (c.maxAge !== undefined) parts.push(`max_age=${quote(String(c.maxAge))}`);
  }
  return `Bearer ${parts.join(', ')}`;
}

/** Writes an answer on the raw response (the same path for every status, so headers are consistent). */
export function sendAnswer(res: ServerResponse, answer: Answer, extraHeaders: Record<string, string | string[]> | undefined): void {
  const body = JSON.stringify({ error: answer.error, error_description: answer.description });
  const headers: Record<string, string | number | string[]> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    // Answers about credentials must not be cached by anything in between (RFC 6750 §5.3).
    'cache-control': 'no-store',
    ...answer.headers,
    ...extraHeaders,
  };
  if (answer.challenge) headers['www-authenticate'] = bearerChallenge(answer.challenge, answer.description);
  res.writeHead(answer.status, headers);
  res.end(body);
}

export const answers = {
  missingToken: (): Answer => ({
    // RFC 6750 §3.1: no error code in the challenge when the request carries no token at all.
    status: 401, error: 'unauthorized', description: 'An access token is required.', challenge: {},
  }),
  /** RFC 9449 §7.1: a DPoP challenge (with the accepted algorithms) instead of a Bearer one. */
  dpop: (error: 'invalid_token' | 'invalid_dpop_proof', description: string, algs: readonly string[]): Answer => ({
    status: 401, error, description,
    headers: { 'www-authenticate': `DPoP realm=${quote(REALM)}, error=${quote(error)}, error_description=${quote(description)}, algs=${quote(algs.join(' '))}` },
  }),
  invalidToken: (description: string): Answer => ({
    status: 401, error: 'invalid_token', description, challenge: { error: 'invalid_token' },
  }),
  insufficientScope: (description: string, scope?: string): Answer => ({
    status: 403, error: 'insufficient_scope', description, challenge: { error: 'insufficient_scope', ...(scope ? { scope } : {}) },
  }),
  stepUp: (description: string, acrValues: string | undefined, maxAge: number | undefined): Answer => ({
    status: 401, error: 'insufficient_user_authentication', description,
    challenge: { error: 'insufficient_user_authentication', ...(acrValues ? { acrValues } : {}), ...(maxAge !== undefined ? { maxAge } : {}) },
  }),
  rateLimited: (retryAfter: number): Answer => ({
    status: 429, error: 'too_many_requests', description: 'Too many requests from this client; retry later.', headers: { 'retry-after': String(retryAfter) },
  }),
  unavailable: (): Answer => ({
    status: 503, error: 'temporarily_unavailable', description: 'The token issuer cannot be reached; retry later.', headers: { 'retry-after': '5' },
  }),
  notFound: (): Answer => ({ status: 404, error: 'not_found', description: 'No route matches this path.' }),
  methodNotAllowed: (allow: string[]): Answer => ({
    status: 405, error: 'method_not_allowed', description: 'This route does not accept this method.', headers: { allow: allow.join(', ') },
  }),
  badPath: (): Answer => ({ status: 400, error: 'invalid_request', description: 'The request path is not allowed (dot segments or encoded separators).' }),
  badGateway: (): Answer => ({ status: 502, error: 'bad_gateway', description: 'The upstream service could not be reached.' }),
  gatewayTimeout: (): Answer => ({ status: 504, error: 'gateway_timeout', description: 'The upstream service did not answer in time.' }),
  /** docs/b2b.md#ip-policy: the caller's address is outside the route's allowed_ips or the client's ip_allowlist. */
  ipNotAllowed: (): Answer => ({ status: 403, error: 'ip_not_allowed', description: 'Calls from this address are not allowed.' }),
  corsRefused: (): Answer => ({ status: 403, error: 'cors_forbidden', description: 'This origin may not call this API.' }),
};

/**
 * CORS for a route (Fetch standard): the response headers for an allowed
 * origin, or undefined (no CORS headers: the browser refuses to expose the
 * answer). Challenges stay readable to allowed origins through Expose-Headers.
 */
export function corsHeaders(route: CompiledRoute, req: IncomingMessage): Record<string, string> | undefined {
  const cors = route.config.cors;
  const origin = req.headers.origin;
  if (!cors || origin === undefined || !(route.corsAnyOrigin || route.corsOrigins!.has(origin))) return undefined;
  const h: Record<string, string> = {
    'access-control-allow-origin': route.corsAnyOrigin && !cors.credentials ? '*' : origin,
    'access-control-expose-headers': ['www-authenticate', 'retry-after', 'x-request-id', ...cors.expose_headers].join(', '),
    vary: 'Origin',
  };
  if (cors.credentials) h['access-control-allow-credentials'] = 'true';
  return h;
}

/** Answers a CORS preflight itself (it carries no credentials, so no token check applies). */
export function preflight(route: CompiledRoute, req: IncomingMessage, res: ServerResponse, extra: Record<string, string>): number {
  const allowed = corsHeaders(route, req);
  const cors = route.config.cors!;
  const announced = String(req.headers['access-control-request-method']).toUpperCase();
  if (!allowed || !(cors.methods as readonly string[]).includes(announced)) {
    sendAnswer(res, answers.corsRefused(), { ...extra, vary: 'Origin' });
    return 403;
  }
  res.writeHead(204, {
    ...extra,
    ...allowed,
    'access-control-allow-methods': cors.methods.join(', '),
    'access-control-allow-headers': cors.headers.join(', '),
    'access-control-max-age': String(cors.max_age),
  });
  res.end();
  return 204;
}
