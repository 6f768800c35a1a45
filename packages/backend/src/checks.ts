import type { Caller } from './caller.js';
import { Denied } from './denied.js';

/**
 * Domain authorization checks over a caller. The gateway already decided
 * whether the caller may use the API at all (issuer, audience, route
 * scopes); these decide what it may do with which data. Each `require*`
 * throws a `Denied` that the adapters turn into the right answer; each
 * `has*`/`own*` is the same rule as a boolean or a filter.
 */

/** Tessera's authentication levels, weakest first (docs/mfa.md). */
export const TESSERA_ACR_LEVELS: readonly string[] = ['urn:tessera:acr:pwd', 'urn:tessera:acr:mfa'];
export const ACR_PASSWORD = 'urn:tessera:acr:pwd';
export const ACR_MFA = 'urn:tessera:acr:mfa';

export function hasScope(caller: Caller, ...scopes: string[]): boolean {
  return scopes.every((s) => caller.scopes.has(s));
}

/** @throws Denied 403 `insufficient_scope` naming every scope the operation needs. */
export function requireScopes(caller: Caller, ...scopes: string[]): void {
  if (!hasScope(caller, ...scopes)) throw Denied.insufficientScope(scopes);
}

/** True when the caller holds at least one of the roles. */
export function hasAnyRole(caller: Caller, ...roles: string[]): boolean {
  return roles.some((r) => caller.roles.includes(r));
}

/**
 * The first of `roles` the caller holds (for an audit line's "why allowed").
 * @throws Denied 403 `forbidden` when it holds none.
 */
export function requireAnyRole(caller: Caller, ...roles: string[]): string {
  const held = roles.find((r) => caller.roles.includes(r));
  if (held === undefined) throw Denied.forbidden(`This operation needs the role ${roles.join(' or ')}.`);
  return held;
}

/** @throws Denied 403 `forbidden` for a machine client, where the operation is for people only. */
export function requireUser(caller: Caller): string {
  if (caller.kind !== 'user' || caller.userId === undefined) throw Denied.forbidden('This operation is for signed-in people, not machine clients.');
  return caller.userId;
}

/**
 * Tenant isolation for one item: the item when it belongs to the caller's
 * tenant, else undefined. Use the result as "not found": answering 403 for
 * another tenant's item would confirm that its id exists.
 */
export function ownTenant<T extends { tenant: string }>(caller: Caller, item: T | undefined | null): T | undefined {
  return item && item.tenant === caller.tenant ? item : undefined;
}

/**
 * Like `ownTenant`, throwing.
 * @throws Denied 404 `not_found` when the item is missing or another tenant's (the same answer for both).
 */
export function requireOwnTenant<T extends { tenant: string }>(caller: Caller, item: T | undefined | null, description?: string): T {
  const own = ownTenant(caller, item);
  if (!own) throw Denied.notFound(description);
  return own;
}

/** Tenant isolation for lists: only the caller's tenant's items, never filtered in from elsewhere. */
export function onlyOwnTenant<T extends { tenant: string }>(caller: Caller, items: Iterable<T>): T[] {
  const out: T[] = [];
  for (const item of items) if (item.tenant === caller.tenant) out.push(item);
  return out;
}

export interface AuthenticationRequirement {
  /** The level needed (default: Tessera's MFA level). A stronger level satisfies a weaker one. */
  acr?: string;
  /** The sign-in must be at most this many seconds old (needs the gateway's `x-tessera-auth-time`). */
  maxAge?: number;
  /** Machine clients pass (they have no person to step up); default false: refused with 403. */
  allowClients?: boolean;
  /** Levels weakest first; default Tessera's. */
  levels?: readonly string[];
  now?: () => number;
}

/**
 * Step-up (RFC 9470): the operation needs a person who signed in at `acr`
 * (or stronger), and within `maxAge` seconds. When they did not, the answer
 * is 401 `insufficient_user_authentication` with `acr_values` and
 * `max_age`: the client sends the user through the authorization server
 * with those parameters and retries with the new token. A sign-in time that
 * the token does not carry counts as too old (fail closed).
 * @throws Denied 401 `insufficient_user_authentication`; 403 `forbidden` for machine clients unless allowed.
 */
export function requireAuthentication(caller: Caller, req: AuthenticationRequirement = {}): void {
  if (caller.kind === 'client') {
    if (req.allowClients) return;
    throw Denied.forbidden('This operation needs a signed-in person; machine clients may not do it.');
  }
  const levels = req.levels ?? TESSERA_ACR_LEVELS;
  const wanted = req.acr ?? ACR_MFA;
  const need = levels.indexOf(wanted);
  if (need < 0) throw new TypeError(`requireAuthentication: unknown acr ${wanted}`);
  const strongEnough = caller.acr !== undefined && levels.indexOf(caller.acr) >= need;
  const now = Math.floor((req.now?.() ?? Date.now()) / 1000);
  const recentEnough = req.maxAge === undefined || (caller.authTime !== undefined && now - caller.authTime <= req.maxAge);
  if (strongEnough && recentEnough) return;
  const description = !strongEnough
    ? (req.maxAge === undefined ? 'This operation needs a stronger sign-in.' : 'This operation needs a stronger and recent sign-in.')
    : 'This operation needs a more recent sign-in.';
  throw Denied.stepUp(description, wanted, req.maxAge);
}
