import type { KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';

/** The tenant whose clients serve every tenant (as for the admin API: docs/admin.md#who-may-call). */
const PLATFORM_TENANT = 'default';

type EngineClient = { clientId: string; clientAuthMethod?: string; tenant?: unknown; resource_server?: unknown };

/**
 * Who may read an introspection answer (RFC 7662 §4 leaves it to the server;
 * the answer carries the subject, tenant and roles, so it is not for anyone
 * with a client credential; docs/b2b.md#introspection):
 * - a client about its own tokens;
 * - an explicit introspector (`resource_server: true`, confidential: an API
 *   or the gateway) about access tokens of its own tenant's clients; a
 *   `default`-tenant introspector about any tenant's;
 * - a refresh token only to its own client (it is never presented to an API).
 * Everything else reads `{ active: false }`, as for an unknown token.
 */
export async function introspectionAllowed(ctx: KoaContextWithOIDC, caller: EngineClient, token: { clientId?: string; kind?: string }): Promise<boolean> {
  if (token.clientId === caller.clientId) return true;
  if (token.kind === 'RefreshToken') return false;
  if (caller.clientAuthMethod === 'none' || caller.resource_server !== true) return false;
  const callerTenant = typeof caller.tenant === 'string' ? caller.tenant : PLATFORM_TENANT;
  if (callerTenant === PLATFORM_TENANT) return true;
  const owner = token.clientId ? await ctx.oidc.provider.Client.find(token.clientId) as unknown as EngineClient | undefined : undefined;
  const ownerTenant = owner && typeof owner.tenant === 'string' ? owner.tenant : PLATFORM_TENANT;
  return ownerTenant === callerTenant;
}

/**
 * Revocation (RFC 7009 §2.1: the server checks the token was issued to the
 * client asking): a client revokes its own tokens only. Another public
 * client's attempt is ignored silently (200, as the RFC allows), another
 * confidential client's is refused.
 */
export async function revocationAllowed(_ctx: KoaContextWithOIDC, caller: EngineClient, token: { clientId?: string }): Promise<boolean> {
  if (token.clientId === caller.clientId) return true;
  if (caller.clientAuthMethod === 'none') return false;
  throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
}
