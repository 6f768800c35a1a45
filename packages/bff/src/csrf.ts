import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Session } from './session.js';

/** The header a script sends with the session's CSRF token (from `GET /bff/user`). */
export const CSRF_HEADER = 'x-bff-csrf';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** RFC 9110 §9.2.1 safe methods pass; everything else must prove it comes from our own page. */
export function isStateChanging(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}

/**
 * CSRF defence for state-changing requests, two independent checks:
 *
 * 1. A secret per-session token, sent in a custom header (or, for the no-script
 *    logout form only, a form field). Another site can make the browser send
 *    the cookie (top-level form POSTs carry Lax cookies), but cannot read
 *    `/bff/user` to learn the token (no CORS), and cannot set a custom header
 *    cross-origin without a CORS preflight, which the BFF never grants.
 * 2. When the browser sends `Origin`, it must be the BFF's public origin
 *    (defence in depth; `null` from sandboxed frames and privacy redirects is refused).
 *
 * Compared in constant time, so the token cannot be guessed byte by byte.
 */
export function csrfValid(req: FastifyRequest, session: Session, publicOrigin: string, formToken?: string): boolean {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== publicOrigin) return false;
  const header = req.headers[CSRF_HEADER];
  const presented = typeof header === 'string' ? header : formToken;
  if (typeof presented !== 'string') return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}
