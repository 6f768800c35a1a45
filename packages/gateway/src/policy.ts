import type { TokenContext } from './token.js';

/** What a route demands of a validated caller. */
export interface RoutePolicy {
  scopes: readonly string[];
  roles: readonly string[];
  clients: ReadonlySet<string> | undefined;
  /** The acr value required, and its rank in acr_levels (-1: none required). */
  acr: string | undefined;
  acrRank: number;
  /** Maximum seconds since the user's sign-in (auth_time), if the route demands a recent one. */
  maxAge: number | undefined;
}

export type PolicyDecision =
  | { ok: true }
  /** RFC 6750 §3.1: 403 insufficient_scope (`scope` lists what the route needs, when scopes are the cause). */
  | { ok: false; error: 'insufficient_scope'; description: string; scope?: string }
  /** RFC 9470 §3: 401 insufficient_user_authentication with the acr_values that would satisfy the route. */
  | { ok: false; error: 'insufficient_user_authentication'; description: string; acrValues?: string; maxAge?: number };

/**
 * Route policy for a validated caller, in the order that gives the caller the
 * most useful answer: who is calling (client), what it may do (scopes, roles),
 * and only then how strongly the user signed in. A step-up is offered last,
 * since signing in again cannot fix a missing scope or role.
 */
const OK: PolicyDecision = Object.freeze({ ok: true });

export function authorize(policy: RoutePolicy, token: TokenContext, acrLevels: readonly string[], nowSeconds: number): PolicyDecision {
  if (policy.clients && !policy.clients.has(token.clientId)) {
    return { ok: false, error: 'insufficient_scope', description: 'This client is not allowed to call this API.' };
  }
  for (const scope of policy.scopes) {
    if (!token.scopes.has(scope)) {
      return { ok: false, error: 'insufficient_scope', description: 'The access token lacks a scope this API requires.', scope: policy.scopes.join(' ') };
    }
  }
  if (policy.roles.length && !policy.roles.some((r) => token.roles.includes(r))) {
    return { ok: false, error: 'insufficient_scope', description: 'The user lacks a role this API requires.' };
  }
  if (policy.acrRank >= 0 && acrRank(token.acr, acrLevels) < policy.acrRank) {
    return {
      ok: false,
      error: 'insufficient_user_authentication',
      description: 'A stronger authentication is required.',
      acrValues: acrLevels.slice(policy.acrRank).join(' '),
      ...(policy.maxAge !== undefined ? { maxAge: policy.maxAge } : {}),
    };
  }
  // RFC 9470 §3: a sign-in too long ago (or of unknown age) is answered with max_age, the acr still required alongside.
  if (policy.maxAge !== undefined && (token.authTime === undefined || nowSeconds - token.authTime > policy.maxAge)) {
    return {
      ok: false,
      error: 'insufficient_user_authentication',
      description: 'A more recent authentication is required.',
      maxAge: policy.maxAge,
      ...(policy.acrRank >= 0 ? { acrValues: acrLevels.slice(policy.acrRank).join(' ') } : {}),
    };
  }
  return OK;
}

/** Position of an acr value in acr_levels (weakest first); unknown or absent values rank below everything. */
export function acrRank(acr: string | undefined, acrLevels: readonly string[]): number {
  return acr === undefined ? -1 : acrLevels.indexOf(acr);
}
