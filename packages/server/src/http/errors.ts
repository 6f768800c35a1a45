import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConflictError, NotFoundError, StaleWriteError } from '../storage/errors.js';
import { DeliveryError } from '../notify/senders.js';
import { DatabaseUnavailableError } from '../storage/availability.js';
import { pageCsp } from './security.js';

/**
 * A failure Tessera means to report: a stable `code` (RFC 6749 style), an
 * HTTP status and a message safe to show. Anything else is a bug and becomes
 * a generic 500 whose detail only reaches the log.
 */
export class AppError extends Error {
  constructor(readonly code: string, readonly status: number, readonly publicMessage: string, readonly fields?: Record<string, string>) {
    super(publicMessage);
    this.name = 'AppError';
  }
}

/** Renders an error for a browser page; set per route through `config.html`. */
export type HtmlErrorRenderer = (request: FastifyRequest, status: number, code: string, message: string) => string;

/** The catalogue of codes Tessera's own endpoints answer with (documented in docs/errors.md). */
export const ERROR_CODES = {
  invalid_request: 'The request is malformed: bad syntax, a missing or repeated parameter, or an unsupported body.',
  invalid_encoding: 'The query string or body is not valid UTF-8 (after percent-decoding), or a JSON string holds a lone surrogate.',
  request_too_large: 'The request body is larger than the endpoint accepts.',
  unsupported_media_type: 'The body has a content type the endpoint does not accept.',
  not_found: 'No such endpoint or resource.',
  conflict: 'The write conflicts with existing data.',
  too_many_requests: 'Too many failed attempts from this address; retry after the delay in Retry-After.',
  session_expired: 'The sign-in session is missing or has expired.',
  access_denied: 'The request was refused.',
  csrf_failed: 'A form was submitted without its anti-forgery token (or with a stale one); reload the page.',
  validation_failed: 'Some fields are invalid; `fields` names each one with a stable code.',
  registration_closed: 'The tenant does not accept new accounts.',
  invite_required: 'The tenant accepts new accounts by invitation only, and none was given.',
  invite_invalid: 'The invitation is unknown, expired, already used, or for another tenant.',
  delivery_failed: 'Mail or SMS could not be handed to the provider (SMTP down or refusing); nothing else failed, retry later.',
  passkey_challenge_invalid: 'The WebAuthn challenge is unknown, expired, already used, or was issued for another purpose, user or sign-in.',
  passkey_origin_mismatch: 'The WebAuthn response was made on another origin than the issuer\'s.',
  passkey_rp_mismatch: 'The WebAuthn response is for another RP ID than the issuer\'s host name.',
  passkey_counter_regression: 'The passkey\'s signature counter did not increase: a possibly cloned authenticator; refused.',
  passkey_unknown: 'The passkey is not registered (for this account, tenant or sign-in).',
  passkey_invalid: 'The WebAuthn response failed verification (signature, user verification, ceremony type, attestation).',
  invalid_token: 'The bearer access token is missing, malformed, expired, or not one for this API (admin API; RFC 6750 §3.1).',
  insufficient_scope: 'The access token lacks the scope this endpoint needs (RFC 6750 §3.1).',
  insufficient_user_authentication: 'The operation needs a recent multi-factor sign-in; sign in again as WWW-Authenticate asks (RFC 9470).',
  precondition_required: 'The write needs an If-Match header with the resource\'s current ETag (RFC 6585 §3).',
  precondition_failed: 'The resource changed since the ETag in If-Match was read; read it again and retry (RFC 9110 §13.1.1).',
  tenant_not_empty: 'The tenant still has users, clients or members (named in `fields`); delete them first or pass cascade=true.',
  temporarily_unavailable: 'The database is unreachable, restarting or busy. Retry after the delay in Retry-After (RFC 6749 §4.1.2.1).',
  server_error: 'An unexpected error; the log has the detail under the request id.',
  unknown_identity_provider: 'Federation: no such identity provider for this sign-in (unknown alias, or not one of the tenant\'s providers; also a bad `idp_hint`).',
  identity_provider_disabled: 'Federation: the identity provider is disabled; its sign-ins and callbacks are refused.',
  federation_state_invalid: 'Federation: the callback\'s `state` is missing, unknown, already used, expired, or from another browser.',
  upstream_error: 'Federation: the identity provider answered the sign-in with an error other than access_denied.',
  upstream_unavailable: 'Federation: the identity provider could not be reached or answered with a server error.',
  upstream_timeout: 'Federation: the identity provider did not answer within the provider\'s timeout_seconds.',
  upstream_invalid_response: 'Federation: the identity provider\'s answer failed validation (RFC 9207 `iss`, token response, profile, no subject).',
  upstream_invalid_token: 'Federation: the upstream ID token failed validation (signature, issuer, audience, azp, expiry, nonce).',
  upstream_client_auth_failed: 'Federation: the upstream\'s token endpoint refused Tessera\'s client authentication (invalid_client: a wrong secret, or a private_key_jwt key it does not know).',
  no_account: 'Federation: the upstream identity has no account here and the provider does not create accounts (jit: off).',
  email_not_verified: 'Federation: the upstream email is not verified (or not trusted as verified) and belongs to a local account: no link, no new account.',
  link_refused: 'Federation: the upstream email belongs to a local account and the provider never links (link: never).',
  profile_incomplete: 'Federation: the upstream did not release a name the provider requires for a new account (required_claims; a missing email is asked for instead).',
  approval_pending: 'Federation: the link or account waits for an administrator\'s approval.',
  invalid_signature: 'Inbound contact sync: the Standard Webhooks signature or timestamp is missing, wrong or more than five minutes off, or the source is unknown or disabled; nothing was applied.',
  logout_token_invalid: 'Federation: an upstream back-channel logout token failed validation (signature, iss, aud, iat, typ, events, sub/sid, nonce, or a replayed jti).',
  last_login_method: 'The link is the account\'s last way to sign in (no password, passkey or other link): unlinking it is refused.',
} as const;

/** Seconds a client is asked to wait (Retry-After) when the database is unavailable: outages are usually short (a restart, a failover). */
export const UNAVAILABLE_RETRY_AFTER = 5;

export type ErrorCode = keyof typeof ERROR_CODES;

export function toAppError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  if (err instanceof NotFoundError) return new AppError('not_found', 404, err.message);
  if (err instanceof ConflictError) return new AppError('conflict', 409, err.message);
  if (err instanceof StaleWriteError) return new AppError('precondition_failed', 412, `The ${err.entity} was changed meanwhile; read it again and retry.`);
  if (err instanceof DatabaseUnavailableError) return new AppError('temporarily_unavailable', 503, 'The service is temporarily unavailable. Try again in a few seconds.');
  if (err instanceof DeliveryError) return new AppError('delivery_failed', 503, 'The message could not be sent right now. Try again in a few minutes.');
  const fe = err as FastifyError;
  if (fe?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new AppError('request_too_large', 413, 'Request body is too large.');
  if (fe?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new AppError('unsupported_media_type', 415, 'Unsupported content type.');
  if (fe?.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || fe?.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe?.code === 'FST_ERR_VALIDATION'
    || (fe?.statusCode === 400 && typeof fe.code === 'string' && fe.code.startsWith('FST_ERR_'))
    || (fe?.statusCode === 400 && fe instanceof SyntaxError)) {
    return new AppError('invalid_request', 400, 'The request is malformed.');
  }
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new AppError('invalid_request', fe.statusCode, 'The request is malformed.');
  }
  return undefined;
}

/** Renders an AppError: a page for browser routes (or Accept: text/html), RFC 6749-style JSON otherwise. */
function sendError(request: FastifyRequest, reply: FastifyReply, e: AppError, renderHtml: HtmlErrorRenderer) {
  // A route that knows when its window reopens (hourly limits) sets Retry-After itself.
  if (e.status === 429 && !reply.hasHeader('retry-after')) reply.header('retry-after', '60');
  if (e.code === 'temporarily_unavailable') reply.header('retry-after', String(UNAVAILABLE_RETRY_AFTER));
  if (wantsHtml(request)) {
    // An error page is a hosted page like the others: the strict CSP (no script, no forms elsewhere), unless the route set its own.
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', pageCsp());
    return reply.code(e.status).type('text/html; charset=utf-8').send(renderHtml(request, e.status, e.code, e.publicMessage));
  }
  return reply.code(e.status).send({ error: e.code, error_description: e.publicMessage, ...(e.fields ? { fields: e.fields } : {}) });
}

/**
 * For Fastify's `frameworkErrors` option: errors raised while routing, before
 * any hook or the error handler runs (a URL that does not percent-decode, a
 * path parameter over `maxParamLength`). Without it Fastify answers these
 * with its own `{ "error": "Bad Request", "code": "FST_ERR_BAD_URL" }` shape.
 */
export function frameworkErrorHandler(renderHtml: HtmlErrorRenderer) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (err.code === 'FST_ERR_BAD_URL') return sendError(request, reply, new AppError('invalid_request', 400, 'The request URL is malformed.'), renderHtml);
    if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') return sendError(request, reply, new AppError('invalid_request', 414, 'The request URL is too long.'), renderHtml);
    request.log.error({ err }, 'routing error');
    return sendError(request, reply, new AppError('server_error', 500, 'Something went wrong. Quote the request id when reporting it.'), renderHtml);
  };
}

/**
 * For Fastify's `clientErrorHandler`: Node's HTTP parser refused the request
 * (headers or URL over its size limit, a malformed request line) before any
 * request object exists. Answers in the same RFC 6749 shape instead of
 * Fastify's `{ "error": "Request Header Fields Too Large" }`.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, description] = err.code === 'HPE_HEADER_OVERFLOW'
    ? [431, 'Request Header Fields Too Large', 'The request headers or URL are too large.']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', 'The request was not received in time.']
      : [400, 'Bad Request', 'The request is malformed.'];
  const body = JSON.stringify({ error: 'invalid_request', error_description: description });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

/** The one place errors become responses: JSON for APIs, a page for browser routes. */
export function installErrorHandling(app: FastifyInstance, renderHtml: HtmlErrorRenderer): void {
  const send = (request: FastifyRequest, reply: FastifyReply, e: AppError) => sendError(request, reply, e, renderHtml);

  app.setErrorHandler((err, request, reply) => {
    const known = toAppError(err);
    // The driver's detail goes to the log only; one line per refused request, at warn (an outage is not a bug).
    if (err instanceof DatabaseUnavailableError) request.log.warn({ code: err.driverCode, detail: err.message }, 'database unavailable');
    if (known) return send(request, reply, known);
    request.log.error({ err }, 'unhandled error');
    return send(request, reply, new AppError('server_error', 500, 'Something went wrong. Quote the request id when reporting it.'));
  });

  app.setNotFoundHandler((request, reply) => send(request, reply, new AppError('not_found', 404, 'Not found.')));
}

function wantsHtml(request: FastifyRequest): boolean {
  let config: { html?: boolean } | undefined;
  try {
    config = request.routeOptions?.config as { html?: boolean } | undefined;
  } catch {
    config = undefined; // framework errors: no route was matched, so there are no route options
  }
  if (config?.html !== undefined) return config.html;
  return (request.headers.accept ?? '').includes('text/html');
}
