import { mapIdentity } from '../identity.js';
import type { MappedIdentity } from '../identity.js';
import type { StoredProvider } from '../providers.js';
import { ATTRIBUTE_PROFILES } from './config.js';
import type { SamlFields } from './config.js';
import type { ValidAssertion } from './sp.js';

/** An attribute value as node-saml gives it: a string, or an object when the value has child elements (ignored). */
const textOf = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * A validated assertion → the identity the account step works with, through
 * the same mapping as OIDC upstreams (identity.ts mapIdentity): the
 * attribute profile's names, overridden by the provider's `claim_mapping`.
 * The claims an account link keeps: `name_id`, `name_id_format`, each
 * attribute (one value: a string; several: a list; `groups` always a list),
 * `acr` (the AuthnContextClassRef, matched against trust_upstream_mfa.acr)
 * and `email_verified` true when there is an email (SAML has no such flag:
 * `trust_email_verified` decides whether the IdP's address counts as verified).
 */
export function mapSamlIdentity(p: StoredProvider, s: SamlFields, a: ValidAssertion): MappedIdentity | undefined {
  const profile = ATTRIBUTE_PROFILES[s.attribute_profile];
  const claims: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(a.attributes)) {
    const values = (Array.isArray(raw) ? raw : [raw]).map(textOf).filter((v): v is string => v !== undefined).slice(0, 1000);
    if (values.length) claims[name] = values.length === 1 ? values[0] : values;
  }
  const groupsName = p.claim_mapping.groups ?? profile.groups;
  if (typeof claims[groupsName] === 'string') claims[groupsName] = [claims[groupsName]];
  claims.name_id = a.nameId;
  if (a.nameIdFormat) claims.name_id_format = a.nameIdFormat;
  if (a.authnContext) claims.acr = a.authnContext;
  const emailName = p.claim_mapping.email ?? profile.email;
  if (typeof claims[emailName] === 'string') claims.email_verified = true;
  return mapIdentity({ ...p, claim_preset: 'generic', claim_mapping: { ...profile, ...definedOnly(p.claim_mapping) } }, claims);
}

const definedOnly = (m: Record<string, string | undefined>) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined));
