import type { ExternalIdentity } from '../interaction/methods.js';
import { claimMapping } from './provider-config.js';
import type { StoredProvider } from './providers.js';

/** What a federated sign-in learnt, after the provider's claim mapping. */
export interface MappedIdentity {
  identity: ExternalIdentity;
  groups: string[];
  /** The upstream's acr/amr matched the provider's `trust_upstream_mfa`. */
  upstreamMfa: boolean;
  givenName?: string;
  familyName?: string;
  name?: string;
}

/** A claim by name; a dotted path reaches nested objects (`realm_access.roles`). A claim whose name has dots wins. */
export function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (path in claims) return claims[path];
  let v: unknown = claims;
  for (const part of path.split('.')) {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v.trim().slice(0, 256) : undefined);

/**
 * Upstream claims → the identity the account step works with. Undefined
 * without a usable subject. The email counts as verified only when the
 * provider is trusted for it and the upstream says so (`email_verified`
 * true, or the string "true" as some upstreams send; a preset without such a
 * claim, Facebook's, leaves it to the trust alone).
 */
export function mapIdentity(p: StoredProvider, claims: Record<string, unknown>): MappedIdentity | undefined {
  const m = claimMapping(p);
  const rawSubject = claimAt(claims, m.subject);
  const subject = typeof rawSubject === 'string' ? rawSubject : typeof rawSubject === 'number' ? String(rawSubject) : undefined;
  if (!subject || subject.length > 512) return undefined;
  const email = text(claimAt(claims, m.email))?.toLowerCase();
  // A preset without a verification claim (''; Facebook) leaves it to trust_email_verified alone.
  const verifiedClaim = m.email_verified === '' ? true : claimAt(claims, m.email_verified);
  const emailVerified = Boolean(email) && p.trust_email_verified && (verifiedClaim === true || verifiedClaim === 'true');
  const rawGroups = claimAt(claims, m.groups);
  const groups = (Array.isArray(rawGroups) ? rawGroups : typeof rawGroups === 'string' ? [rawGroups] : [])
    .filter((g): g is string => typeof g === 'string').slice(0, 1000);
  const acr = typeof claims.acr === 'string' ? claims.acr : undefined;
  const amr = Array.isArray(claims.amr) ? claims.amr.filter((v): v is string => typeof v === 'string') : [];
  const upstreamMfa = (acr !== undefined && p.trust_upstream_mfa.acr.includes(acr)) || amr.some((v) => p.trust_upstream_mfa.amr.includes(v));
  return {
    identity: { provider: p.alias, subject, email: email ?? null, emailVerified, claims },
    groups, upstreamMfa,
    givenName: text(claimAt(claims, m.given_name)), familyName: text(claimAt(claims, m.family_name)), name: text(claimAt(claims, m.name)),
  };
}
