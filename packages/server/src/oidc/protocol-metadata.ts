import { z } from 'zod';

/**
 * Per-client protocol settings (issue 21): refresh-token rotation and
 * lifetimes, and the RFC 7591 / OIDC Registration metadata relying parties
 * set (signing algorithms, logo/policy/terms, sign-in age). One definition for the configuration file (config/schema.ts
 * spreads `protocolClientFields` into the client schema), the admin API (derived
 * from it), the stored metadata (`protocolClientMetadata`) and the engine's own
 * check of its extra metadata (`protocolMetadataProblem`). docs/protocol.md
 * lists every setting.
 */

const webUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'https:' || u.protocol === 'http:') && !v.includes('#');
  } catch {
    return false;
  }
}, 'must be an absolute http(s) URL without a fragment');
/** ID tokens and signed UserInfo responses: what discovery publishes (enabledJWA in provider.ts). */
export const SIGNING_ALGS = ['RS256', 'ES256'] as const;

const seconds = z.number().int('must be a whole number of seconds').positive('must be positive').max(366 * 24 * 3600, 'must be at most a year');

/** Refresh tokens: `always` (default) rotates on every use, with reuse detection; `never` keeps one token for the family. */
export const REFRESH_ROTATION = ['always', 'never'] as const;
/** Concurrent refreshes with the same old token within this many seconds get the same new token (refresh-policy.ts). */
export const DEFAULT_REFRESH_GRACE_SECONDS = 10;
export const MAX_REFRESH_GRACE_SECONDS = 60;
export const DEFAULT_REFRESH_TOKEN_TTL = 14 * 24 * 3600;

export const protocolClientFields = {
  /** `always` (default): every refresh returns a new refresh token and a reused one revokes the family. `never`: for confidential clients that cannot store a new token. */
  refresh_token_rotation: z.enum(REFRESH_ROTATION, 'must be always or never').optional(),
  /** Idle lifetime: a refresh token family unused for this long expires (Auth0's inactivity lifetime). Unset: only `refresh_token_ttl` (absolute) applies. */
  refresh_token_idle_ttl: seconds.optional(),
  /** Seconds in which the same rotated-out refresh token, presented again by the same client, returns the same new one (0 turns it off). Default 10. */
  refresh_token_grace_period: z.number().int('must be a whole number of seconds').min(0, 'must be 0 or more')
    .max(MAX_REFRESH_GRACE_SECONDS, `must be at most ${MAX_REFRESH_GRACE_SECONDS}`).optional(),
  /** RFC 7591 / OIDC Registration §2: how ID tokens for this client are signed. */
  id_token_signed_response_alg: z.enum(SIGNING_ALGS, 'must be RS256 or ES256').optional(),
  /** Signed UserInfo responses (`application/jwt`) for this client; unset: plain JSON. */
  userinfo_signed_response_alg: z.enum(SIGNING_ALGS, 'must be RS256 or ES256').optional(),
  /** Shown on the consent page: the client's logo, its privacy policy and terms of service. */
  logo_uri: webUrl.optional(),
  policy_uri: webUrl.optional(),
  tos_uri: webUrl.optional(),
  /** As if every authorization request sent this `max_age` (OIDC Registration §2); the ID token then carries auth_time. */
  default_max_age: z.number().int('must be a whole number of seconds').min(0, 'must be 0 or more').max(366 * 24 * 3600, 'must be at most a year').optional(),
  /** Every ID token carries auth_time. */
  require_auth_time: z.boolean().optional(),
  /** RFC 9126 §6: this client's authorization requests must be pushed (PAR); a plain one is refused. */
  require_pushed_authorization_requests: z.boolean().optional(),
  /** RFC 9449 §5.2: this client's access tokens are always DPoP-bound; a token request without a DPoP proof is refused. */
  dpop_bound_access_tokens: z.boolean().optional(),
};

/** Fields the engine knows as standard client metadata; the others are Tessera's own (extraClientMetadata). */
const STANDARD_METADATA = new Set([
  'id_token_signed_response_alg', 'userinfo_signed_response_alg', 'logo_uri', 'policy_uri', 'tos_uri', 'default_max_age', 'require_auth_time',
  'require_pushed_authorization_requests', 'dpop_bound_access_tokens',
]);

/** Tessera's own fields among the above, as the engine sees them (extraClientMetadata.properties). */
export const PROTOCOL_CLIENT_PROPERTIES = (Object.keys(protocolClientFields) as (keyof typeof protocolClientFields)[])
  .filter((k) => !STANDARD_METADATA.has(k));

type ProtocolFields = { [K in keyof typeof protocolClientFields]?: z.infer<(typeof protocolClientFields)[K]> };
interface ClientShape extends ProtocolFields {
  token_endpoint_auth_method: string;
  refresh_token_ttl?: number;
}

/** Cross-field checks, reported on the field a person must change (config/schema.ts superRefine). */
export function protocolClientIssues(c: ClientShape): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  if (c.refresh_token_rotation === 'never' && c.token_endpoint_auth_method === 'none') {
    // OAuth 2.1 §4.3.1 / RFC 9700 §4.14.2: a public client's refresh tokens must be rotated (or sender-constrained).
    issues.push({ path: 'refresh_token_rotation', message: 'never needs a confidential client (a public client\'s refresh tokens always rotate)' });
  }
  const absolute = c.refresh_token_ttl ?? DEFAULT_REFRESH_TOKEN_TTL;
  if (c.refresh_token_idle_ttl !== undefined && c.refresh_token_idle_ttl > absolute) {
    issues.push({ path: 'refresh_token_idle_ttl', message: `must not exceed refresh_token_ttl (${absolute} seconds)` });
  }
  return issues;
}

/** What is stored for these fields (config/apply.ts clientMetadata); unset fields are left out. */
export function protocolClientMetadata(c: ProtocolFields): Record<string, unknown> {
  return Object.fromEntries(Object.keys(protocolClientFields).map((k) => [k, c[k as keyof ProtocolFields]]));
}

/** The engine's check of these properties (provider.ts extraClientMetadata.validator); a message naming the field, or undefined. */
export function protocolMetadataProblem(key: string, value: unknown): string | undefined {
  if (value === undefined || !(key in protocolClientFields)) return undefined;
  const result = protocolClientFields[key as keyof typeof protocolClientFields].safeParse(value);
  return result.success ? undefined : `${key} ${result.error.issues[0]?.message ?? 'is invalid'}`;
}
