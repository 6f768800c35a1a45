import { parseCidr } from './cidr.js';

/**
 * What the gateway knows about a caller once its token is validated, and the
 * reasons a token is refused. No HTTP here: the answers are rendered elsewhere.
 */

/** Why a token was refused: a bounded set (it is a metrics label). */
export type FailureReason =
  | 'missing' | 'too_large' | 'malformed' | 'algorithm' | 'unknown_key' | 'signature' | 'expired'
  | 'not_yet_valid' | 'issuer' | 'audience' | 'type' | 'claims' | 'inactive' | 'not_introspectable'
  | 'dpop_required' | 'dpop_unbound' | 'dpop_proof' | 'dpop_replay';

/** `error_description` per reason: fixed ASCII strings, safe inside a quoted header parameter. */
export const FAILURE_DESCRIPTIONS: Record<FailureReason, string> = {
  missing: 'An access token is required.',
  too_large: 'The access token is too large.',
  malformed: 'The access token is malformed.',
  algorithm: 'The access token is signed with an algorithm that is not accepted.',
  unknown_key: 'The access token is not signed by a key of the issuer.',
  signature: 'The access token signature is invalid.',
  expired: 'The access token has expired.',
  not_yet_valid: 'The access token is not valid yet.',
  issuer: 'The access token was issued by another issuer.',
  audience: 'The access token is not meant for this API.',
  type: 'The token is not an access token.',
  claims: 'The access token lacks required claims.',
  inactive: 'The access token is not active (revoked or expired).',
  not_introspectable: 'This API checks revocation with the issuer, and the issuer cannot introspect this token.',
  dpop_required: 'The access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof.',
  dpop_unbound: 'The access token is not DPoP-bound: send it as a Bearer token.',
  dpop_proof: 'The DPoP proof is missing or invalid for this request and token.',
  dpop_replay: 'The DPoP proof was already used.',
};

/** A validated caller; immutable and shared by every request presenting the same token. */
export interface TokenContext {
  readonly sub: string;
  readonly tenant: string;
  readonly clientId: string;
  readonly scope: string;
  readonly scopes: ReadonlySet<string>;
  readonly roles: readonly string[];
  readonly acr: string | undefined;
  /** When the user signed in (epoch seconds), if the token says. */
  readonly authTime: number | undefined;
  /** Expiry, epoch seconds. */
  readonly exp: number;
  /** RFC 9449: the thumbprint of the key the token is bound to (`cnf.jkt`); such a token needs a DPoP proof. */
  readonly jkt: string | undefined;
  /** RFC 8693 §4.1: who acts for the subject (`act.sub`, from a token exchange), forwarded as x-tessera-actor. */
  readonly actor: string | undefined;
  /**
   * The client's `ip_allowlist` (CIDR blocks), copied into its tokens by
   * Tessera: calls from other addresses are refused (ip-policy.ts).
   */
  readonly ipAllowlist: readonly string[] | undefined;
  /** The context headers sent upstream as a flat `[name, value, …]` list, computed once per token. */
  readonly headerList: readonly string[];
}

export type AuthResult =
  | { ok: true; token: TokenContext }
  | { ok: false; reason: FailureReason }
  /** The issuer (keys, introspection) could not be consulted: 503, since the token may be fine. */
  | { ok: false; reason: 'unavailable'; detail: string };

/** A claim value that may travel in an HTTP header: visible ASCII, no spaces. */
const HEADER_TOKEN = /^[\x21-\x7E]{1,512}$/;
/** A scope string: scope tokens separated by single spaces (RFC 6749 §3.3). */
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/;

/**
 * Builds the caller context from validated claims (a verified JWT payload or
 * an introspection answer). Every value that is forwarded in a header is
 * checked to be header-safe, so a token can never smuggle a line break or a
 * forged header to the backend. Returns undefined when a required claim is
 * missing or unusable.
 */
export function contextFromClaims(claims: Record<string, unknown>): TokenContext | undefined {
  const { sub, tenant, scope, acr, roles, exp, auth_time: authTime } = claims;
  const clientId = claims.client_id ?? claims.azp;
  if (typeof sub !== 'string' || !HEADER_TOKEN.test(sub)) return undefined;
  if (typeof tenant !== 'string' || !HEADER_TOKEN.test(tenant)) return undefined;
  if (typeof clientId !== 'string' || !HEADER_TOKEN.test(clientId)) return undefined;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return undefined;
  if (scope !== undefined && (typeof scope !== 'string' || (scope !== '' && !SCOPE.test(scope)))) return undefined;
  if (acr !== undefined && (typeof acr !== 'string' || !HEADER_TOKEN.test(acr))) return undefined;
  if (authTime !== undefined && (typeof authTime !== 'number' || !Number.isFinite(authTime))) return undefined;
  const cnf = claims.cnf as { jkt?: unknown } | undefined;
  if (cnf !== undefined && (typeof cnf !== 'object' || cnf === null)) return undefined;
  const jkt = cnf?.jkt;
  if (jkt !== undefined && (typeof jkt !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(jkt))) return undefined;
  const act = claims.act as { sub?: unknown } | undefined;
  if (act !== undefined && (typeof act !== 'object' || act === null || typeof act.sub !== 'string' || !HEADER_TOKEN.test(act.sub))) return undefined;
  if (roles !== undefined && !(Array.isArray(roles) && roles.length <= 256 && roles.every((r) => typeof r === 'string' && HEADER_TOKEN.test(r)))) {
    return undefined;
  }
  // A list the gateway cannot read fails closed: the token is refused, never let through unrestricted.
  const ipAllowlist = claims.ip_allowlist;
  if (ipAllowlist !== undefined && !(Array.isArray(ipAllowlist) && ipAllowlist.length >= 1 && ipAllowlist.length <= 1000
    && ipAllowlist.every((c) => typeof c === 'string' && parseCidr(c) !== undefined))) {
    return undefined;
  }
  const scopeText = (scope as string | undefined) ?? '';
  const roleList = (roles as string[] | undefined) ?? [];
  const headerList: string[] = ['x-tessera-sub', sub, 'x-tessera-tenant', tenant, 'x-tessera-client', clientId, 'x-tessera-scope', scopeText];
  if (acr !== undefined) headerList.push('x-tessera-acr', acr as string);
  if (roleList.length) headerList.push('x-tessera-roles', roleList.join(' '));
  // Backends answering RFC 9470 step-up with max_age need to know how old the sign-in is (@tessera/backend).
  if (authTime !== undefined) headerList.push('x-tessera-auth-time', String(Math.floor(authTime as number)));
  // Delegation (token exchange): the subject is who the call is for, the actor who makes it.
  if (act !== undefined) headerList.push('x-tessera-actor', act.sub as string);
  return Object.freeze({
    sub,
    tenant,
    clientId,
    scope: scopeText,
    scopes: new Set(scopeText ? scopeText.split(' ') : []),
    roles: Object.freeze([...roleList]),
    acr: acr as string | undefined,
    authTime: authTime as number | undefined,
    exp,
    jkt: jkt as string | undefined,
    actor: act?.sub as string | undefined,
    ipAllowlist: ipAllowlist === undefined ? undefined : Object.freeze([...(ipAllowlist as string[])]),
    headerList: Object.freeze(headerList),
  });
}
