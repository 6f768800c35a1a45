import { z } from 'zod';
import { interactionPolicy } from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { User } from '../identity/model.js';
import type { UserRepository } from '../identity/repository.js';
import { userInRequest } from './account.js';

/**
 * App assignment (docs/b2b.md#app-assignment): `allowed_users` and
 * `allowed_roles` on a client say which of its tenant's users may use it.
 * Unset: every user of the tenant (as before). Checked wherever a user gets
 * tokens through the client: the sign-in pipeline (interaction/flow.ts
 * `checkUsable`), a live session (the login prompt's check below), the
 * password grant (before the password is verified, so an unassigned user's
 * account is never locked through the client), and every token the engine
 * mints for a user (code and refresh_token grants; provider.ts).
 */

const ROLE = /^[A-Za-z0-9._:-]{1,128}$/;

export const assignmentFields = {
  /** Users (username, email or user id) who may use this client; a legacy password-grant client can be bound to its one user. */
  allowed_users: z.array(z.string().trim().min(1, 'must not be empty').max(256, 'must be at most 256 characters'))
    .min(1, 'must list at least one user (leave allowed_users out to allow every user)').max(1000, 'must list at most 1000 users').optional(),
  /** Roles (in the client's tenant) whose members may use this client. */
  allowed_roles: z.array(z.string().regex(ROLE, 'must be a role name'))
    .min(1, 'must list at least one role (leave allowed_roles out to allow every user)').optional(),
};

/** Tessera's own client metadata for assignment (and `resource_server`, introspection-policy.ts), as the engine sees it (extraClientMetadata.properties). */
export const ASSIGNMENT_CLIENT_PROPERTIES = ['allowed_users', 'allowed_roles', 'resource_server'] as const;

type AssignmentFields = { allowed_users?: string[]; allowed_roles?: string[] };

/** What is stored for these fields (config/apply.ts clientMetadata). */
export function assignmentMetadata(c: AssignmentFields): Record<string, unknown> {
  return { allowed_users: c.allowed_users, allowed_roles: c.allowed_roles };
}

/** True when the client lists who may use it. */
export function restrictsUsers(metadata: Record<string, unknown> | undefined): boolean {
  return Array.isArray(metadata?.allowed_users) || Array.isArray(metadata?.allowed_roles);
}

/**
 * Whether `user` may use a client with this metadata: listed in
 * `allowed_users` (by id, username, or email ignoring case) or holding one
 * of `allowed_roles`. A client that lists neither allows everyone.
 */
export function assigned(metadata: Record<string, unknown> | undefined, user: Pick<User, 'id' | 'username' | 'email' | 'roles'>): boolean {
  if (!restrictsUsers(metadata)) return true;
  const users = Array.isArray(metadata!.allowed_users) ? (metadata!.allowed_users as string[]) : [];
  const roles = Array.isArray(metadata!.allowed_roles) ? (metadata!.allowed_roles as string[]) : [];
  const email = user.email?.toLowerCase();
  if (users.some((u) => u === user.id || (user.username !== null && u === user.username) || (email !== undefined && u.toLowerCase() === email))) return true;
  return user.roles.some((r) => roles.includes(r));
}

/** The login prompt's reason when the live session's user is not assigned to the client. */
export const NOT_ASSIGNED = 'not_assigned';

/**
 * Single sign-on does not get around assignment: a live session of a user
 * the client does not list prompts `login` (prompt=none: `login_required`),
 * and the sign-in pipeline then refuses that user with `access_denied`
 * (another, assigned user may sign in instead).
 */
export function withAssignmentCheck(policy: interactionPolicy.DefaultPolicy, deps: { users: Pick<UserRepository, 'findById' | 'findInTenant'> }): interactionPolicy.DefaultPolicy {
  const { Check } = interactionPolicy;
  policy.get('login')!.checks.add(new Check(NOT_ASSIGNED, 'the session\'s user is not assigned to the client', 'login_required',
    async (ctx: KoaContextWithOIDC) => {
      const metadata = ctx.oidc.client as unknown as Record<string, unknown> | undefined;
      const accountId = ctx.oidc.session?.accountId;
      if (!accountId || !restrictsUsers(metadata)) return Check.NO_NEED_TO_PROMPT;
      // Read for the client's tenant (account.ts), as findAccount read it in this request: a member's roles
      // there count; a user who is not of the tenant at all is the tenant check's business (tenant-policy.ts).
      const user = await userInRequest(deps.users, ctx, accountId);
      return user && !assigned(metadata, user) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }));
  return policy;
}

/** The answer at the token endpoint (RFC 6749 §5.2 has no access_denied there): the same as for a grant that is no longer valid. */
export const NOT_ASSIGNED_DESCRIPTION = 'the user is not assigned to this client';
