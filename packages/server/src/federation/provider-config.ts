import { z } from 'zod';
import { ID_PATTERN } from '../identity/model.js';
import { ldapFields } from '../directories/ldap/config.js';
import { checkSaml, samlFields } from './saml/config.js';

/**
 * Identity providers (docs/federation.md): the fields every provider has,
 * and a table of provider types with their own fields and secrets. A type
 * is one entry in PROVIDER_TYPES (oidc, oauth2, mock here; ldap and saml
 * add theirs), so the configuration file, the admin API and storage handle
 * every type alike: common fields are typed here, a type's fields are
 * checked by its own schema, and the fields a type lists as `secrets` are
 * write-only (encrypted at rest with the KEK, never returned).
 */

/** A provider's alias: its id, in URLs (`/federation/{alias}/callback`) and in links. */
export const ALIAS_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const aliasSchema = z.string().regex(ALIAS_PATTERN, 'must be 1-63 lower-case letters, digits, "_" or "-", starting with a letter or digit');

const tenantId = z.string().regex(ID_PATTERN, 'must be a tenant id');
const httpUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'https:' || u.protocol === 'http:') && !u.hash;
  } catch {
    return false;
  }
}, 'must be an absolute http(s) URL without a fragment');
const domain = z.string().toLowerCase().regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'must be a domain name such as example.com');
const claimName = z.string().min(1).max(200).regex(/^[^\s]+$/, 'must be a claim name (a dotted path reaches nested claims, e.g. realm_access.roles)');
const scopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'must be a scope token (RFC 6749 §3.3)');
const valueList = z.array(z.string().min(1).max(200)).max(50);

/** Where the person's attributes are in the upstream's claims; presets per well-known upstream. */
export const CLAIM_PRESETS = {
  generic: { subject: 'sub', email: 'email', email_verified: 'email_verified', name: 'name', given_name: 'given_name', family_name: 'family_name', groups: 'groups' },
  google: { subject: 'sub', email: 'email', email_verified: 'email_verified', name: 'name', given_name: 'given_name', family_name: 'family_name', groups: 'groups' },
  // Graph API /me: `id`, no verification flag (Facebook releases only confirmed addresses and no flag): '' = no such claim, trust_email_verified alone decides.
  facebook: { subject: 'id', email: 'email', email_verified: '', name: 'name', given_name: 'first_name', family_name: 'last_name', groups: 'groups' },
  // Entra ID: `oid` is the user's id across applications of the tenant (`sub` is pairwise per application); `email` may be absent.
  entra: { subject: 'oid', email: 'email', email_verified: 'email_verified', name: 'name', given_name: 'given_name', family_name: 'family_name', groups: 'groups' },
  keycloak: { subject: 'sub', email: 'email', email_verified: 'email_verified', name: 'name', given_name: 'given_name', family_name: 'family_name', groups: 'groups' },
  okta: { subject: 'sub', email: 'email', email_verified: 'email_verified', name: 'name', given_name: 'given_name', family_name: 'family_name', groups: 'groups' },
} as const;
export type ClaimPreset = keyof typeof CLAIM_PRESETS;
export type ClaimMapping = Record<keyof (typeof CLAIM_PRESETS)['generic'], string>;

export const groupMappingSchema = z.strictObject({
  /** The upstream group (a value of the mapped `groups` claim). */
  group: z.string().min(1).max(512),
  /** Roles granted while the person is in the group. */
  roles: z.array(z.string().regex(ID_PATTERN, 'must be a role name')).max(50).default([]),
  /** The tenant the roles (and membership) are in; default: the provider's first tenant. */
  tenant: tenantId.optional(),
  /** Also make the person a member of `tenant` (for another tenant than their own). */
  membership: z.boolean().default(false),
});
export type GroupMapping = z.infer<typeof groupMappingSchema>;

/** The fields of every provider, whatever its type. */
export const commonProviderFields = {
  alias: aliasSchema,
  type: z.string().min(1).max(32),
  display_name: z.string().trim().min(1, 'must not be empty').max(100),
  /** A built-in icon shown on the button (no remote images: the sign-in page's CSP stays strict). */
  icon: z.enum(['google', 'facebook', 'microsoft', 'keycloak', 'okta', 'key', 'building'], 'must be google, facebook, microsoft, keycloak, okta, key or building').optional(),
  enabled: z.boolean().default(true),
  /** Tenants whose sign-in page offers it (and whose users it may sign in). */
  tenants: z.array(tenantId).min(1, 'must list at least one tenant').max(100).default(['default']),
  /** Home-realm discovery: a person whose address is at one of these domains is sent to this provider. */
  email_domains: z.array(domain).max(100).default([]),
  /** Take the upstream's `email_verified` at its word (otherwise a federated address counts as unverified). */
  trust_email_verified: z.boolean().default(false),
  /** Upstream `acr` or `amr` values that prove MFA there; empty: the upstream's MFA never replaces Tessera's. */
  trust_upstream_mfa: z.strictObject({ acr: valueList.default([]), amr: valueList.default([]) }).default({ acr: [], amr: [] }),
  /** Just-in-time accounts for upstream identities without a link: off, create, or create pending an administrator's approval. */
  jit: z.enum(['off', 'create', 'approve'], 'must be off, create or approve').default('off'),
  /** Claims a JIT account needs; missing ones are asked on a profile page (an email is then confirmed by mail). */
  required_claims: z.array(z.enum(['email', 'email_verified', 'name'], 'must be email, email_verified or name')).default(['email']),
  /** Roles a JIT account gets in its tenant. */
  default_roles: z.array(z.string().regex(ID_PATTERN, 'must be a role name')).max(50).default([]),
  /** Further tenants a JIT account becomes a member of. */
  default_memberships: z.array(tenantId).max(50).default([]),
  /** An upstream identity whose email belongs to a local account: never linked, linked after proof of the local account, or after an administrator approves. */
  link: z.enum(['never', 'with_proof', 'admin_approval'], 'must be never, with_proof or admin_approval').default('with_proof'),
  group_mappings: z.array(groupMappingSchema).max(500).default([]),
  /** Signing out of Tessera also ends the upstream session (where the upstream has an end_session_endpoint). */
  federated_logout: z.boolean().default(false),
  /** Longest wait for each upstream request (discovery, token, UserInfo, JWKS). */
  timeout_seconds: z.number().int().min(1).max(60).default(10),
  claim_preset: z.enum(['generic', 'google', 'facebook', 'entra', 'keycloak', 'okta'], 'must be generic, google, facebook, entra, keycloak or okta').default('generic'),
  /** Per-attribute overrides of the preset: the upstream claim that holds it. */
  claim_mapping: z.strictObject({
    subject: claimName.optional(), email: claimName.optional(), email_verified: claimName.optional(), name: claimName.optional(),
    given_name: claimName.optional(), family_name: claimName.optional(), groups: claimName.optional(),
  }).default({}),
};
const commonSchema = z.object(commonProviderFields);
export type CommonProviderConfig = z.infer<typeof commonSchema>;
export const COMMON_KEYS = new Set(Object.keys(commonProviderFields));

const clientAuth = z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
  'must be client_secret_basic, client_secret_post, private_key_jwt or none');
/** private_key_jwt: the assertion's `aud` (docs/federation.md#private_key_jwt). */
const assertionAudience = z.enum(['issuer', 'token_endpoint'], 'must be issuer or token_endpoint').default('issuer');

const oidcFields = z.strictObject({
  /** The upstream's issuer; its metadata comes from `{issuer}/.well-known/openid-configuration`. */
  issuer: httpUrl,
  client_id: z.string().min(1).max(512),
  client_secret: z.string().min(1).max(4096).optional(),
  /** How Tessera authenticates at the upstream's token endpoint; private_key_jwt uses a key Tessera generates and publishes. */
  client_auth: clientAuth.default('client_secret_basic'),
  client_assertion_audience: assertionAudience,
  scopes: z.array(scopeToken).min(1).max(50).default(['openid', 'email', 'profile']),
  /** Also call UserInfo and merge its claims (same subject only). */
  userinfo: z.boolean().default(false),
});

const oauth2Fields = z.strictObject({
  /** A label for the upstream, checked against an RFC 9207 `iss` if the upstream sends one; default: the authorization endpoint's origin. */
  issuer: httpUrl.optional(),
  authorization_endpoint: httpUrl,
  token_endpoint: httpUrl,
  /** Where the person's profile is read with the access token (Facebook: https://graph.facebook.com/me?fields=id,name,email). */
  profile_endpoint: httpUrl,
  client_id: z.string().min(1).max(512),
  client_secret: z.string().min(1).max(4096).optional(),
  client_auth: clientAuth.default('client_secret_post'),
  client_assertion_audience: assertionAudience,
  scopes: z.array(scopeToken).max(50).default(['email']),
  /** Facebook's `appsecret_proof` (HMAC-SHA256 of the access token with the app secret) on profile requests. */
  appsecret_proof: z.boolean().default(false),
});

const mockFields = z.strictObject({
  /** Which mock of `tessera mock-providers` (development only: refused with NODE_ENV=production). */
  mock: z.enum(['google', 'facebook', 'entra', 'keycloak'], 'must be google, facebook, entra or keycloak'),
  /** Where `tessera mock-providers` runs. */
  url: httpUrl.default('http://localhost:4000'),
  client_id: z.string().min(1).max(512).default('tessera'),
  client_secret: z.string().min(1).max(4096).default('tessera-mock-secret'),
  client_auth: clientAuth.default('client_secret_basic'),
  scopes: z.array(scopeToken).max(50).optional(),
});

export interface ProviderTypeDef {
  /** The type's own fields (everything but the common ones). */
  fields: z.ZodObject;
  /** Fields that are secrets: write-only, encrypted at rest. */
  secrets: readonly string[];
  /** Development-only types, refused when NODE_ENV=production. */
  developmentOnly?: boolean;
  /** Cross-field checks (e.g. a secret the chosen authentication needs); messages keyed by field. */
  check?(settings: Record<string, unknown>, secrets: Record<string, string>, common: CommonProviderConfig): Record<string, string | { message: string; code: string }>;
}

const needsSecret = (settings: Record<string, unknown>, secrets: Record<string, string>): Record<string, string> => {
  const auth = settings.client_auth;
  if ((auth === 'client_secret_basic' || auth === 'client_secret_post') && !secrets.client_secret) {
    return { client_secret: `is required when client_auth is ${String(auth)}` };
  }
  return {};
};

/**
 * Provider types: their fields, their secrets (a client secret, a bind password).
 */
export const PROVIDER_TYPES: Record<string, ProviderTypeDef> = {
  oidc: { fields: oidcFields, secrets: ['client_secret'], check: needsSecret },
  oauth2: { fields: oauth2Fields, secrets: ['client_secret'], check: needsSecret },
  mock: { fields: mockFields, secrets: ['client_secret'], developmentOnly: true },
  // LDAP / Active Directory: sign-in with the directory password and sync (directories/, docs/directories.md).
  ldap: { fields: ldapFields, secrets: ['bind_password'] },
  // SAML 2.0 identity providers (federation/saml/, docs/directories.md#saml); the SP keys are generated, not declared.
  saml: { fields: samlFields, secrets: [], check: (settings, _secrets, common) => checkSaml(settings, common) },
};

/** A provider as configured: common fields, its type's fields (`settings`) and its secrets (plaintext, in memory only). */
export interface ProviderConfig extends CommonProviderConfig {
  settings: Record<string, unknown>;
  secrets: Record<string, string>;
}

export interface ProviderIssue {
  path: (string | number)[];
  message: string;
  /** A stable field code (docs/errors.md#admin-api-field-codes): required, unknown_field, invalid. */
  code: string;
}

function issuesOf(error: z.ZodError, input: Record<string, unknown>): ProviderIssue[] {
  return error.issues.flatMap((i): ProviderIssue[] => {
    const path = i.path as (string | number)[];
    if (i.code === 'unrecognized_keys') return i.keys.map((k) => ({ path: [...path, k], message: 'is not a field of this provider type', code: 'unknown_field' }));
    const missing = i.code === 'invalid_type' && path.length === 1 && input[String(path[0])] === undefined;
    return [{ path, message: i.message, code: missing ? 'required' : 'invalid' }];
  });
}

/**
 * Parses one provider declaration (the configuration file's entry or the
 * admin API's body). `partialSecrets`: secrets may be absent (an update that
 * keeps the stored ones); they are then checked by the caller after merging.
 */
export function parseProviderConfig(input: unknown, opts: { partialSecrets?: boolean } = {}): { ok: true; value: ProviderConfig } | { ok: false; issues: ProviderIssue[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { ok: false, issues: [{ path: [], message: 'must be an object', code: 'invalid' }] };
  const raw = input as Record<string, unknown>;
  const common = commonSchema.safeParse(Object.fromEntries(Object.entries(raw).filter(([k]) => COMMON_KEYS.has(k))));
  const issues: ProviderIssue[] = [];
  if (!common.success) issues.push(...issuesOf(common.error, raw));
  const typeName = typeof raw.type === 'string' ? raw.type : '';
  const def = PROVIDER_TYPES[typeName];
  if (!def) {
    if (!issues.some((i) => i.path[0] === 'type')) issues.push({ path: ['type'], message: `must be one of ${Object.keys(PROVIDER_TYPES).join(', ')}`, code: 'invalid' });
    return { ok: false, issues };
  }
  const rest = Object.fromEntries(Object.entries(raw).filter(([k]) => !COMMON_KEYS.has(k)));
  const typed = def.fields.safeParse(rest);
  if (!typed.success) issues.push(...issuesOf(typed.error, raw));
  if (issues.length || !common.success || !typed.success) return { ok: false, issues };
  const settings: Record<string, unknown> = {};
  const secrets: Record<string, string> = {};
  for (const [k, v] of Object.entries(typed.data as Record<string, unknown>)) {
    if (v === undefined) continue;
    if (def.secrets.includes(k)) secrets[k] = String(v);
    else settings[k] = v;
  }
  if (!opts.partialSecrets) {
    for (const [field, found] of Object.entries(def.check?.(settings, secrets, common.data) ?? {})) {
      issues.push(typeof found === 'string' ? { path: [field], message: found, code: 'required' } : { path: [field], ...found });
    }
  }
  const mappings = common.data.group_mappings;
  mappings.forEach((m, i) => {
    if (!m.roles.length && !m.membership) issues.push({ path: ['group_mappings', i], message: 'must grant roles or a membership', code: 'invalid' });
  });
  if (issues.length) return { ok: false, issues };
  return { ok: true, value: { ...common.data, settings, secrets } };
}

/** The configuration file's `identity_providers[]` entry: checked by parseProviderConfig, kept as written (secrets included). */
export const providerFileSchema = z.record(z.string(), z.unknown()).superRefine((v, ctx) => {
  const parsed = parseProviderConfig(v);
  if (!parsed.ok) for (const issue of parsed.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
});

/** The claim mapping in effect: the preset with the provider's overrides. */
export function claimMapping(p: Pick<CommonProviderConfig, 'claim_preset' | 'claim_mapping'>): ClaimMapping {
  return { ...CLAIM_PRESETS[p.claim_preset], ...Object.fromEntries(Object.entries(p.claim_mapping).filter(([, v]) => v !== undefined)) };
}
