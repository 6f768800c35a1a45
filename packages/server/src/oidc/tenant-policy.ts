import { interactionPolicy } from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { UserRepository } from '../identity/repository.js';
import type { ClientRepository } from './repository.js';
import { membersSignIn, signInTenant } from '../interaction/tenant.js';
import { homeUserInRequest } from './account.js';

const { Check } = interactionPolicy;

/** The login prompt's reason when the live session belongs to another tenant's user. */
export const TENANT_MISMATCH = 'tenant_mismatch';

export interface TenantCheckDeps {
  users: Pick<UserRepository, 'findById'>;
  clients: Pick<ClientRepository, 'find'>;
  /** Where a session's sign-in tenant is recorded (account/session-meta.ts); without it a member is always asked. */
  sessionMeta?: { find(sid: string): Promise<{ accountId: string; signedInTenant: string | null } | undefined> };
}

/** One answer per request: the interaction policy and the grant loader both ask (provider.ts). */
const answers = new WeakMap<KoaContextWithOIDC, Promise<boolean>>();

/**
 * True when the request's live session belongs to a user of another tenant
 * than the one signing in (interaction/tenant.ts), unless that user, a member
 * of the tenant, signed in to it in this very request. False without a session,
 * or when its account is gone (the engine's own checks deal with that).
 */
export function sessionOfOtherTenant(ctx: KoaContextWithOIDC, deps: TenantCheckDeps): Promise<boolean> {
  let answer = answers.get(ctx);
  if (!answer) {
    answer = (async () => {
      const accountId = ctx.oidc.session?.accountId;
      const user = accountId ? await homeUserInRequest(deps.users, ctx, accountId) : undefined;
      if (!user) return false;
      const tenant = await signInTenant(deps.clients, ctx.oidc.params as Record<string, unknown>);
      if (user.tenantId === tenant) return false;
      if (!membersSignIn(ctx.oidc.params as Record<string, unknown>)) return true;
      // A member from another tenant counts as signed in through this very request's sign-in (the
      // interaction just finished for this account), or through the session's last sign-in when that
      // was to this tenant: the hosted pipeline checked the membership and this tenant's policies (MFA,
      // lockout) there. A session from a sign-in elsewhere, even of a member, asks again, so another
      // tenant's weaker policy never carries over (docs/identity.md#memberships-in-other-tenants). The
      // membership itself is checked again by findAccount at every use.
      if (signedInByThisRequest(ctx, user.id)) return false;
      const sid = ctx.oidc.session?.uid;
      const meta = sid && deps.sessionMeta ? await deps.sessionMeta.find(sid) : undefined;
      return !(meta && meta.accountId === user.id && meta.signedInTenant === tenant);
    })();
    answers.set(ctx, answer);
  }
  return answer;
}

/**
 * Single sign-on stays inside a tenant: a platform session of a user of
 * tenant A does not sign that user in to a client of tenant B (whose users
 * are another user space). The request prompts `login`, and B's sign-in page
 * asks for one of B's users; signing in there replaces the session.
 */
export function withTenantCheck(policy: interactionPolicy.DefaultPolicy, deps: TenantCheckDeps): interactionPolicy.DefaultPolicy {
  policy.get('login')!.checks.add(new Check(TENANT_MISMATCH, 'the session belongs to another tenant', 'login_required',
    async (ctx) => ((await sessionOfOtherTenant(ctx, deps)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT)));
  return policy;
}

/**
 * Whether this authorization request's own sign-in (the hosted login prompt)
 * signed `accountId` in: its result is being resumed now, or it was the
 * submission before the one being resumed (the consent prompt that followed
 * it; Tessera finishes interactions without merging earlier results).
 */
export function signedInByThisRequest(ctx: KoaContextWithOIDC, accountId: string): boolean {
  if (ctx.oidc.result?.login?.accountId === accountId) return true;
  const interaction = ctx.oidc.entities.Interaction as { lastSubmission?: { login?: { accountId?: string } } } | undefined;
  return interaction?.lastSubmission?.login?.accountId === accountId;
}
