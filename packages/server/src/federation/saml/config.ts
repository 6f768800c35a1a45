import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import type { ProviderConfig } from '../provider-config.js';

/**
 * The `saml` provider type of the identity-provider registry
 * (federation/provider-config.ts; docs/directories.md#saml-fields): a SAML
 * 2.0 identity provider (AD FS, Entra ID, Shibboleth, SimpleSAMLphp…) with
 * Tessera as the service provider. The common fields (`alias`, `tenants`,
 * `jit`, `link`, `group_mappings`, `claim_mapping`, `trust_email_verified`,
 * `trust_upstream_mfa.acr`…) are the registry's. The SP's signing and
 * decryption keys are not declared: Tessera generates them (saml/keys.ts).
 */

const httpUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'https:' || u.protocol === 'http:') && !u.hash;
  } catch {
    return false;
  }
}, 'must be an absolute http(s) URL without a fragment');
/** An entity id is a URI (SAML core §8.3.6): a URL or a URN. */
const entityId = z.string().trim().min(1).max(1024).regex(/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/, 'must be a URI (a URL or a urn:)');
/** Checked to parse here, so a bad certificate is refused when declared, not at the first sign-in. */
const certificate = z.string().trim().min(100).max(16_384).refine((v) => {
  if (!/^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----$/.test(v) && !/^[A-Za-z0-9+/=\s]+$/.test(v)) return false;
  const body = v.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  try {
    new X509Certificate(`-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END CERTIFICATE-----\n`);
    return true;
  } catch {
    return false;
  }
}, 'must be an X.509 certificate, PEM or its base64 DER');

/** NameID formats an AuthnRequest asks for (SAML core §8.3). */
export const NAME_ID_FORMATS = {
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  email: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
  transient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
} as const;

/**
 * Where each attribute is found in an assertion, per attribute profile:
 * `name_id` is the Subject's NameID; `acr` its AuthnContextClassRef. The
 * provider's `claim_mapping` overrides single entries.
 */
export const ATTRIBUTE_PROFILES = {
  basic: { subject: 'name_id', email: 'email', email_verified: 'email_verified', name: 'displayName', given_name: 'givenName', family_name: 'surname', groups: 'groups' },
  // AD FS and Entra ID send their claim URIs as attribute names.
  microsoft: {
    subject: 'name_id', email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress', email_verified: 'email_verified',
    name: 'http://schemas.microsoft.com/identity/claims/displayname', given_name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
    family_name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname', groups: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups',
  },
} as const;

export const samlFields = z.strictObject({
  /** The IdP's metadata document, fetched (and refreshed hourly). */
  idp_metadata_url: httpUrl.optional(),
  /** The IdP's metadata document, inline. */
  idp_metadata_xml: z.string().trim().min(50).max(262_144).includes('EntityDescriptor', { message: 'must be a SAML metadata document (an EntityDescriptor)' }).optional(),
  /** Without metadata: the IdP's entity id (the Issuer of its responses). */
  idp_entity_id: entityId.optional(),
  /** Without metadata: the IdP's SingleSignOnService for the HTTP-Redirect binding. */
  idp_sso_url: httpUrl.optional(),
  /** Without metadata: the IdP's signing certificate(s) (several during a rollover). Pinned: no other key is trusted. */
  idp_certificates: z.array(certificate).min(1).max(4).optional(),
  /** Tessera's entity id at this IdP; default {issuer}/federation/{alias}/saml/metadata. */
  sp_entity_id: entityId.optional(),
  name_id_format: z.enum(['persistent', 'email', 'unspecified', 'transient'], 'must be persistent, email, unspecified or transient').default('persistent'),
  /** Attribute names: `basic` (email, givenName, surname, displayName, groups) or `microsoft` (AD FS / Entra ID claim URIs). */
  attribute_profile: z.enum(['basic', 'microsoft'], 'must be basic or microsoft').default('basic'),
  /** Sign AuthnRequests (RSA-SHA256 on the HTTP-Redirect query) with the SP signing key. */
  sign_requests: z.boolean().default(true),
  /** The Assertion itself must carry the IdP's signature (otherwise a signed Response covering it is enough). */
  want_assertions_signed: z.boolean().default(false),
  /** Refuse assertions that are not encrypted to the SP's encryption key. */
  want_assertions_encrypted: z.boolean().default(false),
  /** Accept IdP-initiated (unsolicited) responses: they are validated, then the browser goes to idp_initiated_redirect. */
  allow_idp_initiated: z.boolean().default(false),
  /** An application URL that starts an authorization request with idp_hint={alias} (required with allow_idp_initiated). */
  idp_initiated_redirect: httpUrl.optional(),
  /** Tolerated clock difference for NotBefore / NotOnOrAfter. */
  clock_skew_seconds: z.number().int().min(0).max(300).default(60),
}).superRefine((s, ctx) => {
  const ways = [s.idp_metadata_url, s.idp_metadata_xml, s.idp_sso_url ?? s.idp_certificates ?? s.idp_entity_id].filter((v) => v !== undefined).length;
  if (ways !== 1) {
    ctx.addIssue({ code: 'custom', path: ['idp_metadata_url'], message: 'give exactly one of idp_metadata_url, idp_metadata_xml, or idp_entity_id with idp_sso_url and idp_certificates' });
  } else if (!s.idp_metadata_url && !s.idp_metadata_xml) {
    for (const k of ['idp_entity_id', 'idp_sso_url', 'idp_certificates'] as const) {
      if (s[k] === undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'is required without idp_metadata_url or idp_metadata_xml' });
    }
  }
  if (s.allow_idp_initiated && !s.idp_initiated_redirect) {
    ctx.addIssue({ code: 'custom', path: ['idp_initiated_redirect'], message: 'is required with allow_idp_initiated' });
  }
});

export type SamlFields = z.infer<typeof samlFields>;

/**
 * Cross-field checks with the common fields: a transient NameID changes at
 * every sign-in, so it cannot be the link's subject; the OIDC-only common
 * fields are refused rather than silently ignored.
 */
export function checkSaml(settings: Record<string, unknown>, common: { claim_mapping?: Record<string, unknown>; claim_preset?: string; federated_logout?: boolean }): Record<string, string | { message: string; code: string }> {
  const out: Record<string, string | { message: string; code: string }> = {};
  if (settings.name_id_format === 'transient' && !common.claim_mapping?.subject) {
    out['claim_mapping.subject'] = 'is required with name_id_format transient (a transient NameID changes at every sign-in)';
  }
  if (common.claim_preset && common.claim_preset !== 'generic') {
    out.claim_preset = { message: 'is for OIDC providers: a saml provider uses attribute_profile', code: 'invalid' };
  }
  if (common.federated_logout) out.federated_logout = { message: 'is not supported for saml providers (no single logout)', code: 'invalid' };
  return out;
}

/** The type's settings of a registry entry of type `saml`, with defaults. */
export function samlSettingsOf(p: Pick<ProviderConfig, 'settings'>): SamlFields {
  return samlFields.parse(p.settings);
}
