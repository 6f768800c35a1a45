import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The BFF's errors, each with a stable `error` code for the browser app.
 * `error_description` is for developers; details of platform or upstream
 * failures go to the log only.
 */
export class BffError extends Error {
  constructor(readonly code: string, readonly status: number, readonly description: string) {
    super(description);
    this.name = 'BffError';
  }
}

/** No usable session: none, expired, or its refresh token was refused. */
export class LoginRequired extends BffError {
  constructor(description = 'sign in again') {
    super('login_required', 401, description);
  }
}

export const ERRORS = {
  csrf: () => new BffError('csrf_failed', 403, 'missing or wrong x-bff-csrf header, or a foreign Origin'),
  badPath: () => new BffError('invalid_request', 400, 'path not allowed'),
  upstream: () => new BffError('bad_gateway', 502, 'the API could not be reached'),
  platform: () => new BffError('temporarily_unavailable', 503, 'the identity platform could not be reached; try again'),
} as const;

/**
 * A browser navigation (address bar, link, form) rather than a script's
 * fetch: navigations get redirects, scripts get JSON they can act on.
 */
export function isNavigation(req: FastifyRequest): boolean {
  const mode = req.headers['sec-fetch-mode'];
  if (mode) return mode === 'navigate';
  const accept = String(req.headers.accept ?? '');
  return accept.includes('text/html') && !accept.includes('application/json');
}

/** Safe local path to come back to after sign-in; refuses anything that could leave the origin. */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.includes('\\')) return '/';
  // Control characters could split headers or confuse URL parsers.
  if (value.length > 2000 || [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return '/';
  const base = 'http://bff.invalid';
  const url = new URL(value, base);
  return url.origin === base ? `${url.pathname}${url.search}${url.hash}` : '/';
}

/** JSON error body as every BFF endpoint answers it. */
export function sendError(reply: FastifyReply, err: BffError, extra: Record<string, unknown> = {}): FastifyReply {
  return reply.code(err.status).header('cache-control', 'no-store')
    .send({ error: err.code, error_description: err.description, ...extra });
}

/** `login_required`: JSON with where to sign in for scripts, a redirect for navigations. */
export function sendLoginRequired(req: FastifyRequest, reply: FastifyReply, err: LoginRequired): FastifyReply {
  const returnTo = safeReturnTo(req.url);
  const loginUrl = `/bff/login?returnTo=${encodeURIComponent(returnTo)}`;
  if (isNavigation(req) && req.method === 'GET') return reply.header('cache-control', 'no-store').redirect(loginUrl, 302);
  return sendError(reply, err, { login_url: '/bff/login' });
}

/**
 * What may be logged of a protocol error: its name, message and codes. Not
 * its `cause`, which for openid-client can hold a token response or ID token
 * claims, nor the response it came from.
 */
export function loggableError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const e = err as Error & { code?: unknown; error?: unknown; error_description?: unknown; status?: unknown };
  return Object.fromEntries(Object.entries({
    type: e.name, message: e.message, code: e.code, error: e.error, error_description: e.error_description, status: e.status,
  }).filter(([, v]) => v !== undefined));
}
