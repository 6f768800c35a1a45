import type Provider from 'oidc-provider';

/**
 * With an `https` issuer, every cookie the engine sets is `Secure`, whether
 * or not TESSERA_TRUST_PROXY is set. Behind a proxy that terminates TLS, the
 * engine (a Koa app) otherwise sees a plain-HTTP request (no encrypted
 * socket, and X-Forwarded-Proto ignored without `proxy`) and sets its
 * session and interaction cookies without `Secure`, so a browser would send
 * them over any plain-HTTP connection to the host.
 *
 * The engine's requests are taken to arrive over https, as they do at the
 * issuer's public address: `ctx.secure` is true, so Koa's cookie jar marks
 * every cookie `Secure`. Trusting X-Forwarded-For (client IPs) stays a
 * separate choice (TESSERA_TRUST_PROXY).
 */
export function httpsIssuerCookies(provider: Provider, issuer: string): void {
  if (new URL(issuer).protocol !== 'https:') return;
  const request = (provider as unknown as { request: object }).request;
  Object.defineProperty(request, 'protocol', { configurable: true, get: () => 'https' });
}

/**
 * The engine's absolute URLs (the redirect back to `/oidc/auth/:uid` after an
 * interaction, `urlFor`) use the issuer's host, never the request's `Host`.
 * A load balancer that rewrites `Host` to an instance's address (or a client
 * that sends any `Host` it likes) would otherwise send browsers to an
 * internal address or another site mid-sign-in. The issuer is the one public
 * address (docs/security.md#cross-site-requests).
 */
export function issuerHost(provider: Provider, issuer: string): void {
  const { host, hostname } = new URL(issuer);
  const request = (provider as unknown as { request: object }).request;
  Object.defineProperty(request, 'host', { configurable: true, get: () => host });
  Object.defineProperty(request, 'hostname', { configurable: true, get: () => hostname.replace(/^\[|\]$/g, '') });
}
