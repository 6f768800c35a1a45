/**
 * What a dynamically registered client may ask for (docs/b2b.md#registration-policy).
 * Pure: the metadata the engine validated in, a problem out.
 */

export interface RegistrationPolicy {
  /** Grant types a registered client may list. */
  grantTypes: readonly string[];
  /** Redirect URI patterns (redirect_uris and post_logout_redirect_uris must each match one). */
  redirectUriPatterns: readonly string[];
  /** OpenID scopes a registered client may list in `scope` (API scopes come from its initial access token). */
  scopes: readonly string[];
}

/** Grant types the policy may allow: never `password` (a legacy grant, not for self-registered clients). */
export const REGISTRABLE_GRANTS = ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'] as const;

const patternCache = new Map<string, RegExp>();

/**
 * A redirect URI pattern as a regular expression: `*` stands for any
 * characters except `/`, `?`, `#` and `@` (a host label, a port, one path
 * segment), `**` for any characters except `?` and `#` (the rest of a path).
 * Everything else matches literally, and the whole URI must match.
 */
export function patternRegExp(pattern: string): RegExp {
  let re = patternCache.get(pattern);
  if (!re) {
    const body = pattern.split('**').map((part) => part.split('*').map((lit) => lit.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('[^/?#@]*')).join('[^?#]*');
    re = new RegExp(`^${body}$`);
    patternCache.set(pattern, re);
  }
  return re;
}

export function uriAllowed(uri: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => patternRegExp(p).test(uri));
}

/**
 * The first way `md` goes beyond the policy, or undefined.
 * `redirect: true` marks a redirect URI problem (RFC 7591 §3.2.2 `invalid_redirect_uri`).
 */
export function policyProblem(md: Record<string, unknown>, policy: RegistrationPolicy, tesseraFields: readonly string[]): { message: string; redirect?: true } | undefined {
  // Tessera's own fields (first_party, tenant, admin or provisioning scopes, ip_allowlist, token_exchange…) decide
  // what a client may do on the platform: an administrator sets them, never the registrant.
  const own = tesseraFields.find((k) => md[k] !== undefined);
  if (own) return { message: `${own} cannot be registered dynamically` };
  const grants = Array.isArray(md.grant_types) ? md.grant_types as string[] : ['authorization_code'];
  const grant = grants.find((g) => !policy.grantTypes.includes(g));
  if (grant) return { message: `grant_types: ${grant} is not allowed for dynamically registered clients (allowed: ${policy.grantTypes.join(', ')})` };
  for (const key of ['redirect_uris', 'post_logout_redirect_uris'] as const) {
    const uris = Array.isArray(md[key]) ? md[key] as string[] : [];
    const bad = uris.find((u) => !uriAllowed(u, policy.redirectUriPatterns));
    if (bad) return { message: `${key}: ${bad} does not match the registration policy`, redirect: true };
  }
  if (typeof md.scope === 'string') {
    const scope = md.scope.split(' ').find((x) => x && !policy.scopes.includes(x));
    if (scope) return { message: `scope: ${scope} is not allowed for dynamically registered clients (allowed: ${policy.scopes.join(' ')})` };
  }
  return undefined;
}
