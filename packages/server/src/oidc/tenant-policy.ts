import { interactionPolicy } from 'oidc-provider';
import type { UserRepository } from '../identity/repository.js';
import type { ClientRepository } from './repository.js';
import { signInTenant } from '../interaction/tenant.js';

const { Check } = interactionPolicy;

/** The login prompt's reason when the live session belongs to another tenant's user. */
export const TENANT_MISMATCH = 'tenant_mismatch';

/**
 * Single sign-on stays inside a tenant: a platform session of a user of
 * tenant A does not sign that user in to a client of tenant B (whose users
 * are another user space). The request prompts `login`, and B's sign-in page
 * asks for one of B's users; signing in there replaces the session.
 */
export function withTenantCheck(policy: interactionPolicy.DefaultPolicy, deps: { users: Pick<UserRepository, 'findById'>; clients: Pick<ClientRepository, 'find'> }): interactionPolicy.DefaultPolicy {
  policy.get('login')!.checks.add(new Check(TENANT_MISMATCH, 'the session belongs to another tenant', 'login_required', async (ctx) => {
    const accountId = ctx.oidc.session?.accountId;
    if (!accountId) return Check.NO_NEED_TO_PROMPT; // no_session prompts already
    const user = await deps.users.findById(accountId);
    if (!user) return Check.NO_NEED_TO_PROMPT; // the engine's own checks end sessions of accounts that are gone
    const tenant = await signInTenant(deps.clients, ctx.oidc.params as Record<string, unknown>);
    return user.tenantId === tenant ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  }));
  return policy;
}
