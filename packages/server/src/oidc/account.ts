import type { Account, AccountClaims, FindAccount } from 'oidc-provider';
import type { UserRepository } from '../identity/repository.js';
import type { User } from '../identity/model.js';
import { actingTenant, isUsable } from '../identity/model.js';
import { userFromJoinedJson } from '../identity/repository.js';
import { takeAccount } from './account-prefetch.js';
import { BUILT_IN_CLIENT_IDS } from './built-in-clients.js';
import { exchangedTenantOf } from './token-exchange.js';
import { MFA_STATE_CLAIMS } from './mfa-claims.js';
import type { MfaStateClaims } from './mfa-claims.js';
import { clientAttributeClaims } from './attribute-claims.js';
import type { AttributeClaimSource, ClaimUse } from './attribute-claims.js';

/** Users read during one engine request, by the request's context (gone with it). */
const readInRequest = new WeakMap<object, Map<string, Promise<User | undefined>>>();

/**
 * The tenant a token of this request is for (docs/identity.md#memberships-in-other-tenants):
 * the tenant of the subject token in a token exchange; else the client's own
 * tenant; undefined (the user's home tenant) for the built-in apps, which
 * serve every tenant, and outside a client.
 */
function tokenTenant(ctx: object | undefined): string | undefined {
  const exchanged = exchangedTenantOf(ctx);
  if (exchanged) return exchanged;
  const client = (ctx as { oidc?: { client?: { clientId?: string; tenant?: unknown } } } | undefined)?.oidc?.client;
  if (!client || typeof client.tenant !== 'string' || BUILT_IN_CLIENT_IDS.includes(client.clientId ?? '')) return undefined;
  return client.tenant;
}

/**
 * The user behind `id` as the request's tenant (tokenTenant) sees them, read
 * once per engine request: `findAccount` and the token hook
 * (`extraTokenClaims`) both need it on every token, and reading it twice cost
 * two of a refresh's statements (issue 20). Nothing in a token request
 * changes the user between the two reads. For a client of another tenant
 * than the user's home, the user's membership there (with its roles), or
 * undefined when there is none: a removed membership ends the tenant's
 * sessions and refresh tokens at their next use, as disabling does. The
 * home read is the request's one (`homeUserInRequest`). Without a context (a
 * call outside a request), a plain read.
 */
export function userInRequest(users: Pick<UserRepository, 'findById' | 'findInTenant'>, ctx: object | undefined, id: string): Promise<User | undefined> {
  const tenant = tokenTenant(ctx);
  if (!ctx) return tenant === undefined ? users.findById(id) : users.findInTenant(id, tenant);
  if (tenant === undefined) return homeUserInRequest(users, ctx, id);
  const read = readsOf(ctx);
  const key = `${id}\u0000${tenant}`;
  let user = read.get(key);
  if (!user) {
    read.set(key, (user = homeUserInRequest(users, ctx, id)
      .then((home) => (!home || home.tenantId === tenant ? home : users.findInTenant(id, tenant, home)))));
  }
  return user;
}

/**
 * The user behind `id` in their home tenant (`findById`), read once per
 * engine request and shared with `userInRequest`: the return from a sign-in
 * checks the session's user (tenant-policy.ts) and then finds the account.
 * The user read with this request's token answers it when there is one
 * (account-prefetch.ts).
 */
export function homeUserInRequest(users: Pick<UserRepository, 'findById'>, ctx: object | undefined, id: string): Promise<User | undefined> {
  if (!ctx) return users.findById(id);
  const read = readsOf(ctx);
  const key = `${id}\u0000`;
  let user = read.get(key);
  if (!user) {
    const kept = takeAccount(ctx, id);
    read.set(key, (user = kept ? Promise.resolve(userFromJoinedJson(kept.rows)) : users.findById(id)));
  }
  return user;
}

function readsOf(ctx: object): Map<string, Promise<User | undefined>> {
  let read = readInRequest.get(ctx);
  if (!read) readInRequest.set(ctx, (read = new Map()));
  return read;
}

/** Which claims each scope releases (OIDC Core §5.4, plus Tessera's `tenant` and `roles`). */
export const SCOPE_CLAIMS = {
  openid: ['sub', 'tenant'],
  profile: ['name', 'given_name', 'family_name', 'preferred_username', 'updated_at'],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  roles: ['roles'],
} as const;

/**
 * The engine's view of a user. Users who may not sign in (pending, disabled,
 * locked, including a temporary lock after failed sign-ins) are not found, so
 * their refresh tokens and sessions stop working at once. When a temporary
 * lock runs out, they work again.
 */
export function createFindAccount(users: UserRepository, mfaState?: MfaStateClaims, attributes?: AttributeClaimSource): FindAccount {
  return async (ctx, sub): Promise<Account | undefined> => {
    const user = await userInRequest(users, ctx, sub);
    if (!user || !isUsable(user)) return undefined;
    return {
      accountId: user.id,
      claims: async (use, scope, requested) => {
        // Computed only when a client asked for them (claims parameter): they cost queries.
        const wantsMfaState = mfaState && MFA_STATE_CLAIMS.some((c) => requested && c in requested);
        const base = wantsMfaState ? { ...userClaims(user), ...(await mfaState(user, ctx?.oidc?.client?.clientId)) } : userClaims(user);
        // Custom attributes: only those this client lists for this use and a granted scope (docs/users.md#claims).
        const extra = await clientAttributeClaims(attributes, ctx?.oidc?.client, user.id, use as ClaimUse, scope);
        return { ...extra, ...base };
      },
    };
  };
}

export function userClaims(user: User): AccountClaims {
  const name = [user.givenName, user.familyName].filter(Boolean).join(' ') || undefined;
  return {
    sub: user.id,
    // The tenant the token is for: a member's other tenant (roles are that tenant's too), else the home tenant.
    tenant: actingTenant(user),
    name,
    given_name: user.givenName ?? undefined,
    family_name: user.familyName ?? undefined,
    preferred_username: user.username ?? undefined,
    updated_at: Math.floor(user.updatedAt / 1000),
    email: user.email ?? undefined,
    email_verified: user.email ? user.emailVerified : undefined,
    phone_number: user.phoneNumber ?? undefined,
    phone_number_verified: user.phoneNumber ? user.phoneNumberVerified : undefined,
    roles: user.roles,
  };
}
