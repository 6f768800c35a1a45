import { z } from 'zod';

/**
 * Key-based client authentication (docs/b2b.md#key-based-client-authentication):
 * `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9) with the client's public
 * keys declared as `jwks` (inline) or `jwks_uri` (fetched, cached, refreshed
 * on an unknown `kid` by the engine). One definition for the configuration
 * file (config/schema.ts spreads `clientKeyFields`), the admin API (derived
 * from it), the console and the CLI. The engine checks `iss`/`sub` (the
 * client id), `aud` (the issuer, the token endpoint or the endpoint called),
 * `exp`, the signature and `jti`; the `jti` record is one atomic insert in the
 * shared store (provider.ts `dpopReplayCache`, payload-store.ts `insertOnce`),
 * so an assertion is accepted once across every instance.
 */

/** Signing algorithms a client may use for its assertions (provider.ts enabledJWA.clientAuthSigningAlgValues). */
export const CLIENT_AUTH_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

/** The private members of RSA/EC/OKP keys and the symmetric key value: a client publishes only public keys. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

const jwk = z.looseObject({
  kty: z.enum(['RSA', 'EC', 'OKP'], 'must be RSA, EC or OKP (a public key; symmetric keys are not accepted)'),
  kid: z.string().min(1).max(256).optional(),
  alg: z.enum(CLIENT_AUTH_ALGS, `must be one of ${CLIENT_AUTH_ALGS.join(', ')}`).optional(),
  use: z.literal('sig', 'must be sig').optional(),
}).superRefine((k, ctx) => {
  const found = PRIVATE_MEMBERS.filter((m) => m in k);
  if (found.length) {
    ctx.addIssue({ code: 'custom', message: `must be a public key: it contains the private member ${found.join(', ')} (publish only the public half)` });
  }
});

/** https, or http on a loopback host (a partner's key server on the same machine, tests). */
const jwksUri = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return !v.includes('#') && !u.username && !u.password && (u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK.has(u.hostname)));
  } catch {
    return false;
  }
}, 'must be an https:// URL without a fragment or credentials (http:// only on a loopback host)');

export const clientKeyFields = {
  /** The client's public keys (a JWK Set), for `private_key_jwt`. */
  jwks: z.strictObject({
    keys: z.array(jwk).min(1, 'must list at least one key').max(20, 'must list at most 20 keys'),
  }).optional(),
  /** Where the client publishes its public keys (a JWK Set); fetched and cached, refetched for an unknown kid. */
  jwks_uri: jwksUri.optional(),
  /** The one algorithm the client's assertions must use; unset: any of CLIENT_AUTH_ALGS. */
  token_endpoint_auth_signing_alg: z.enum(CLIENT_AUTH_ALGS, `must be one of ${CLIENT_AUTH_ALGS.join(', ')}`).optional(),
};

type KeyFields = { [K in keyof typeof clientKeyFields]?: z.infer<(typeof clientKeyFields)[K]> };
interface ClientShape extends KeyFields {
  token_endpoint_auth_method: string;
}

/** Cross-field checks, reported on the field a person must change (config/schema.ts superRefine). */
export function clientKeyIssues(c: ClientShape): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  const keyAuth = c.token_endpoint_auth_method === 'private_key_jwt';
  if (keyAuth && !c.jwks && !c.jwks_uri) issues.push({ path: 'jwks', message: 'or jwks_uri is required when token_endpoint_auth_method is private_key_jwt' });
  if (c.jwks && c.jwks_uri) issues.push({ path: 'jwks_uri', message: 'must not be set together with jwks (declare the keys one way)' });
  if (!keyAuth && (c.jwks || c.jwks_uri)) {
    issues.push({ path: c.jwks ? 'jwks' : 'jwks_uri', message: 'needs token_endpoint_auth_method: private_key_jwt' });
  }
  if (!keyAuth && c.token_endpoint_auth_signing_alg) {
    issues.push({ path: 'token_endpoint_auth_signing_alg', message: 'needs token_endpoint_auth_method: private_key_jwt' });
  }
  return issues;
}

/** What is stored for these fields (config/apply.ts clientMetadata); unset fields are left out. */
export function clientKeyMetadata(c: KeyFields): Record<string, unknown> {
  return { jwks: c.jwks, jwks_uri: c.jwks_uri, token_endpoint_auth_signing_alg: c.token_endpoint_auth_signing_alg };
}

/** How a client proves who it is: the kind decides whether it has a secret. */
export type ClientKind = 'public' | 'secret' | 'key';
export function clientKind(tokenEndpointAuthMethod: unknown): ClientKind {
  if (tokenEndpointAuthMethod === 'none') return 'public';
  if (tokenEndpointAuthMethod === 'private_key_jwt') return 'key';
  return 'secret';
}
