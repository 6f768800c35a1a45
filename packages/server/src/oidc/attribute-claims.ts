import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ATTRIBUTE_NAME, SOURCE_NAME } from '../userdata/model.js';
import type { UserData } from '../userdata/repository.js';

/**
 * Per-client claims from custom attributes and external ids
 * (docs/users.md#claims). A client's metadata lists, in `attribute_claims`,
 * each attribute (or external id) it receives, under which claim name, the
 * scope that releases it, and where: the ID token, the access token,
 * UserInfo. Nothing else ever leaves: another client, even one asking for
 * the same scope or claim, gets none of it.
 */

/** Claims the engine or OIDC Core define: an attribute must not pose as one of them. */
const RESERVED_CLAIMS = new Set([
  'sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'jti', 'auth_time', 'nonce', 'acr', 'amr', 'azp', 'sid', 'at_hash', 'c_hash', 's_hash',
  'scope', 'client_id', 'cnf', 'tenant', 'roles', 'name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username',
  'profile', 'picture', 'website', 'email', 'email_verified', 'gender', 'birthdate', 'zoneinfo', 'locale', 'phone_number',
  'phone_number_verified', 'address', 'updated_at', 'events', 'txn', 'act', 'may_act', 'typ', 'htm', 'htu', 'ath',
  'mfa_enrolled', 'mfa_required',
]);
const CLAIM_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/;
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;

export const attributeClaimSchema = z.strictObject({
  /** The attribute released (its tenant's schema, docs/users.md#attributes). */
  attribute: z.string().regex(ATTRIBUTE_NAME, 'must be an attribute name').optional(),
  /** Or the user's external id of this source. */
  external_id: z.string().regex(SOURCE_NAME, 'must be a source name').optional(),
  /** The claim's name; default: the attribute's name, or `<source>_id` for an external id. */
  claim: z.string().regex(CLAIM_NAME, 'must be a claim name (letters, digits, "_", ".", ":" or "-")')
    .refine((c) => !RESERVED_CLAIMS.has(c), 'must not be a standard or Tessera claim').optional(),
  /** The scope that releases it: only a token or UserInfo answer for a grant with this scope carries the claim. */
  scope: z.string().regex(SCOPE_TOKEN, 'must be a scope token (RFC 6749 §3.3)'),
  id_token: z.boolean().default(true),
  userinfo: z.boolean().default(true),
  access_token: z.boolean().default(false),
}).superRefine((c, ctx) => {
  if (Boolean(c.attribute) === Boolean(c.external_id)) {
    ctx.addIssue({ code: 'custom', path: ['attribute'], message: 'name either attribute or external_id' });
  }
  if (!c.claim && c.attribute && RESERVED_CLAIMS.has(c.attribute)) {
    ctx.addIssue({ code: 'custom', path: ['claim'], message: `is required: "${c.attribute}" is a standard claim name` });
  }
  if (!c.id_token && !c.userinfo && !c.access_token) {
    ctx.addIssue({ code: 'custom', path: ['id_token'], message: 'release the claim somewhere (id_token, userinfo or access_token)' });
  }
});

export const attributeClaimsSchema = z.array(attributeClaimSchema).max(50, 'at most 50 attribute claims')
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((c, i) => {
      const name = claimName(c);
      if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [i, 'claim'], message: `duplicate claim "${name}"` });
      seen.add(name);
    });
  });
export type AttributeClaim = z.output<typeof attributeClaimSchema>;

export type ClaimUse = 'id_token' | 'userinfo' | 'access_token';

export function claimName(c: Pick<AttributeClaim, 'claim' | 'attribute' | 'external_id'>): string {
  return c.claim ?? c.attribute ?? `${c.external_id}_id`;
}

const parsedLists = new WeakMap<object, AttributeClaim[]>();

/** A client's `attribute_claims` as stored (metadata is checked when written; anything else reads as none). */
export function attributeClaimsOf(metadata: Record<string, unknown> | undefined): AttributeClaim[] {
  const raw = metadata?.attribute_claims;
  if (!Array.isArray(raw) || raw.length === 0) return [];
  let list = parsedLists.get(raw);
  if (!list) {
    const parsed = attributeClaimsSchema.safeParse(raw);
    list = parsed.success ? parsed.data : [];
    parsedLists.set(raw, list);
  }
  return list;
}

/** What the engine's hooks need to release attribute claims. */
export interface AttributeClaimSource {
  catalog: ClaimCatalog;
  dataOf(userId: string): Promise<UserData>;
}

/**
 * The attribute claims `client` (the engine's client, whose metadata holds
 * `attribute_claims`) receives about `userId` for one use, given the
 * granted scopes (space-separated). No query when the client lists none.
 */
export async function clientAttributeClaims(source: AttributeClaimSource | undefined, client: unknown, userId: string, use: ClaimUse,
  scope: string | undefined): Promise<Record<string, unknown>> {
  if (!source || !client || !scope) return {};
  const granted = new Set(scope.split(' '));
  const relevant = attributeClaimsOf(client as Record<string, unknown>).filter((c) => c[use] && granted.has(c.scope));
  if (!relevant.length) return {};
  return releasedClaims(relevant, use, granted, await source.dataOf(userId));
}

/**
 * The claims a client receives for one use: those it lists for that use
 * whose scope was granted, with the user's values (absent values are left
 * out).
 */
export function releasedClaims(claims: AttributeClaim[], use: ClaimUse, grantedScopes: ReadonlySet<string>, data: UserData): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of claims) {
    if (!c[use] || !grantedScopes.has(c.scope)) continue;
    const value = c.attribute ? data.attributes[c.attribute] : data.externalIds[c.external_id!];
    if (value !== undefined) out[claimName(c)] = value;
  }
  return out;
}

/**
 * What the protocol engine must know statically (its configuration is built
 * once): every scope and claim name some client uses. The engine only lets a
 * claim through for scopes it knows; which client gets which claim is still
 * decided per request by `releasedClaims`.
 */
export interface ClaimCatalog {
  scopes: string[];
  claims: string[];
  fingerprint: string;
}

export function claimCatalog(clients: { metadata: Record<string, unknown> }[]): ClaimCatalog {
  const scopes = new Set<string>();
  const claims = new Set<string>();
  for (const client of clients) {
    for (const c of attributeClaimsOf(client.metadata)) {
      scopes.add(c.scope);
      claims.add(claimName(c));
    }
  }
  const sorted = { scopes: [...scopes].sort(), claims: [...claims].sort() };
  return { ...sorted, fingerprint: createHash('sha256').update(JSON.stringify(sorted)).digest('base64url').slice(0, 16) };
}
