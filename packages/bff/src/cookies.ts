/**
 * Cookie names and attributes. The browser only ever holds opaque random ids;
 * everything else stays server-side.
 */
export interface CookieNames {
  session: string;
  login: string;
}

/**
 * With https, the `__Host-` prefix makes the browser insist on `Secure`,
 * `Path=/` and no `Domain`, so a sibling subdomain cannot plant or overwrite
 * the cookie (cookie tossing, session fixation). Over plain http (local
 * development) the prefix is not allowed, hence the plain names.
 */
export function cookieNames(secure: boolean): CookieNames {
  return secure
    ? { session: '__Host-bff', login: '__Host-bff-login' }
    : { session: 'bff_session', login: 'bff_login' };
}

export interface CookieOptions {
  secure: boolean;
  /** Seconds; omitted = a browser-session cookie; 0 = delete. */
  maxAge?: number;
}

/**
 * `HttpOnly`: scripts (and so XSS) cannot read the id. `SameSite=Lax`: sent on
 * top-level navigations (the platform's redirect back to the callback is a
 * cross-site GET), withheld from cross-site subresource requests and POSTs.
 */
export function serializeCookie(name: string, value: string, opts: CookieOptions): string {
  const parts = [`${name}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Lax'];
  if (opts.secure) parts.push('Secure');
  if (opts.maxAge !== undefined) {
    parts.push(`Max-Age=${opts.maxAge}`);
    if (opts.maxAge === 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  }
  return parts.join('; ');
}

export function clearCookie(name: string, secure: boolean): string {
  return serializeCookie(name, '', { secure, maxAge: 0 });
}

/** Our ids are base64url, so no decoding is needed; anything else is ignored. */
const ID_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

/** Reads one cookie's value from a `Cookie` header; only well-formed ids are returned. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    if (ID_PATTERN.test(value)) return value;
  }
  return undefined;
}
