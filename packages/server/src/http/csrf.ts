import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { readCookie, setCookie } from './cookies.js';
import { AppError } from './errors.js';

/**
 * CSRF protection for Tessera's own forms: a double-submit token. The token
 * lives in an HttpOnly, SameSite=Strict cookie and in a hidden `_csrf` field;
 * a POST must carry both, equal. A cross-site page can neither read the cookie
 * nor make the browser send it. (Beside this, server.ts refuses cross-site
 * Origins on every form POST.)
 */
export const CSRF_FIELD = '_csrf';

export function csrfCookieName(secure: boolean): string {
  // `__Host-` pins the cookie to this host over https (no subdomain can plant one).
  return secure ? '__Host-tessera_csrf' : 'tessera_csrf';
}

/** Returns the form token for this browser, setting the cookie if it has none. */
export function issueCsrf(request: FastifyRequest, reply: FastifyReply, secure: boolean): string {
  const name = csrfCookieName(secure);
  const existing = readCookie(request, name);
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const token = randomBytes(32).toString('base64url');
  setCookie(reply, name, token, { path: '/', maxAge: 86_400, secure, sameSite: 'Strict' });
  return token;
}

/** @throws AppError 403 `csrf_failed` when the form token is missing or does not match. */
export function verifyCsrf(request: FastifyRequest, secure: boolean): void {
  const cookie = readCookie(request, csrfCookieName(secure));
  const field = (request.body as Record<string, unknown> | undefined)?.[CSRF_FIELD];
  const ok = typeof cookie === 'string' && typeof field === 'string' && cookie.length === field.length
    && timingSafeEqual(Buffer.from(cookie), Buffer.from(field));
  if (!ok) throw new AppError('csrf_failed', 403, 'This form has expired. Reload the page and try again.');
}
