import { errors } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { ipAllowed } from './cidr.js';
import { underEnginePath } from './engine-paths.js';
import { ROUTES } from './provider.js';

/**
 * Per-client IP allowlists (`ip_allowlist` client metadata, a list of CIDR
 * blocks). They apply where a client authenticates itself from its own
 * servers: the token endpoint (every grant), introspection, revocation and
 * pushed authorization requests. Browser-facing endpoints (authorization,
 * end session, UserInfo) see the user's address, not the client's, so an
 * allowlist means nothing there.
 */
export const CLIENT_AUTH_ROUTES: ReadonlySet<string> = new Set(['token', 'introspection', 'revocation', 'pushed_authorization_request']);

/** The `error_description` of a refused request (the status is 401 `invalid_client`, RFC 6749 §5.2). */
export const IP_DENIED_DESCRIPTION = 'client not allowed from this address';

/** A refused request, for the audit log. */
export interface IpDenial {
  clientId: string;
  /** The client's tenant. */
  tenantId: string | null;
  ip: string;
  /** The engine's route name: token, introspection, revocation, pushed_authorization_request. */
  endpoint: string;
  grantType: string | undefined;
  userAgent: string | null;
}

const DENIED = Symbol('tessera.ipDenied');

/**
 * Enforces client IP allowlists inside the engine.
 *
 * The client is known only once the engine has parsed the body and read
 * Basic auth or `client_id`, so the check runs when the engine assigns the
 * client to the request, the moment its own client-based CORS check uses
 * (an `assign.client` listener that throws). That is before the secret or
 * assertion is verified: a caller outside the allowlist learns nothing about
 * the credentials it sent, and nothing is issued. The answer is the engine's
 * `invalid_client` (401, with `WWW-Authenticate` when Basic auth was used),
 * so it also counts as a failed client authentication for the per-IP
 * throttle (app.ts). The address is the engine's `ctx.ip`, which follows
 * `X-Forwarded-For` only when `TESSERA_TRUST_PROXY` is set (`provider.proxy`).
 *
 * `onDenied` (the audit entry) is awaited before the response is sent.
 */
export function enforceClientIpAllowlists(provider: Provider, onDenied: (denial: IpDenial) => Promise<void>): void {
  // Per-provider class (each engine instance has its own), so this touches nothing shared.
  const proto = provider.OIDCContext.prototype as unknown as { entity(key: string, value: unknown): void };
  const assign = proto.entity;
  proto.entity = function entity(this: { ctx: KoaContextWithOIDC; route: string }, key: string, value: unknown) {
    assign.call(this, key, value);
    if (key === 'Client' && CLIENT_AUTH_ROUTES.has(this.route)) check(this.ctx, value as Record<string, unknown>, this.route);
  };

  function check(ctx: KoaContextWithOIDC, client: Record<string, unknown>, route: string): void {
    const allowlist = client.ip_allowlist;
    if (!Array.isArray(allowlist) || ipAllowed(allowlist as string[], ctx.ip)) return;
    const denial: IpDenial = {
      clientId: String(client.clientId),
      tenantId: typeof client.tenant === 'string' ? client.tenant : null,
      ip: ctx.ip,
      endpoint: route,
      grantType: typeof ctx.oidc.params?.grant_type === 'string' ? ctx.oidc.params.grant_type : undefined,
      userAgent: ctx.get('user-agent') || null,
    };
    (ctx.state as Record<symbol, IpDenial>)[DENIED] = denial;
    const err = new errors.InvalidClientAuth(`client ${denial.clientId} not allowed from ${denial.ip}`);
    err.error_description = IP_DENIED_DESCRIPTION;
    throw err;
  }

  // The CLIENT_AUTH_ROUTES: the token endpoint with introspection and revocation below it, and PAR.
  // Requests for other paths are handed on without an async frame (engine-paths.ts).
  const prefixes = [ROUTES.token, ROUTES.pushed_authorization_request];
  provider.use((ctx, next) => (prefixes.some((prefix) => underEnginePath(ctx.path, prefix)) ? auditDenial(ctx, next) : next()));
  async function auditDenial(ctx: { state: unknown }, next: () => Promise<unknown>): Promise<void> {
    await next();
    const denial = (ctx.state as Record<symbol, IpDenial | undefined>)[DENIED];
    if (denial) await onDenied(denial);
  }
}
