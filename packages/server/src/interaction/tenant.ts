import type { ClientRepository } from '../oidc/repository.js';
import { BUILT_IN_CLIENT_IDS } from '../oidc/built-in-clients.js';
import { ID_PATTERN } from '../identity/model.js';

const DEFAULT_TENANT = 'default';

/**
 * The tenant whose users sign in through an authorization request. A
 * client belongs to one tenant and its users sign in there; the built-in
 * apps (the account pages and the admin console, oidc/built-in-clients.ts)
 * serve every tenant, so for them the request's `tenant` parameter decides
 * (`/account/signin?tenant=acme`, `/admin/?tenant=acme`), the `default`
 * tenant without it. An unknown tenant is simply one without users: its
 * sign-in fails like any wrong password.
 */
export async function signInTenant(clients: Pick<ClientRepository, 'find'>, params: Record<string, unknown>): Promise<string> {
  const clientId = typeof params.client_id === 'string' ? params.client_id : '';
  if (BUILT_IN_CLIENT_IDS.includes(clientId)) {
    return typeof params.tenant === 'string' && ID_PATTERN.test(params.tenant) ? params.tenant : DEFAULT_TENANT;
  }
  return (await clients.find(clientId))?.tenantId ?? DEFAULT_TENANT;
}

/**
 * Whether members from other tenants sign in through this request
 * (docs/identity.md#memberships-in-other-tenants): yes for a tenant's own
 * clients; no for the built-in apps, whose tokens are always of the
 * user's home tenant.
 */
export function membersSignIn(params: Record<string, unknown>): boolean {
  return !(typeof params.client_id === 'string' && BUILT_IN_CLIENT_IDS.includes(params.client_id));
}
