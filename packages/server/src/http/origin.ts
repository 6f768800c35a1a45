import type { FastifyRequest } from 'fastify';

/**
 * Which sites may post Tessera's forms and call its page-only JSON endpoints
 * (passkeys): the issuer's origin plus the origins listed in
 * TESSERA_FORM_ORIGINS (docs/security.md#cross-site-requests).
 *
 * The check compares the browser's `Origin` with these configured origins,
 * never with the request's `Host`: a load balancer or proxy that rewrites
 * `Host` (to the instance's address) must not turn every form POST into a
 * 403, and `Host` is not what the browser saw anyway.
 */
export class SiteCheck {
  private readonly allowed: ReadonlySet<string>;

  constructor(issuer: string, extra: readonly string[] = []) {
    const all = [issuer, ...extra].map((o) => originOf(o));
    if (all.some((o) => o === undefined)) throw new Error('SiteCheck: every origin must be an absolute http(s) URL');
    this.allowed = new Set(all as string[]);
  }

  /** The configured origins, normalised (`https://id.example.com`, default ports dropped). */
  get origins(): string[] {
    return [...this.allowed];
  }

  /**
   * True when the request comes from one of our origins. A request without an
   * `Origin` (or with `null`) is judged by `Sec-Fetch-Site` alone; any request
   * the browser marks `cross-site` is refused whatever its `Origin` says.
   */
  fromOurSite(request: FastifyRequest): boolean {
    const site = request.headers['sec-fetch-site'];
    if (site === 'cross-site') return false;
    const origin = request.headers.origin;
    if (origin === undefined || origin === 'null') return true;
    const normalised = originOf(origin);
    return normalised !== undefined && this.allowed.has(normalised);
  }
}

/** `scheme://host[:port]` of an http(s) URL, lower-cased with the default port dropped; undefined when not one. */
export function originOf(value: string): string | undefined {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}
