import { z } from 'zod';
import type { GroupMapping, ProviderConfig } from '../../federation/provider-config.js';

/**
 * The `ldap` provider type of the identity-provider registry
 * (federation/provider-config.ts; docs/directories.md#fields): an LDAP or
 * Active Directory directory. The common fields (`alias`, `display_name`,
 * `enabled`, `tenants`, `email_domains`, `trust_email_verified`, `jit`,
 * `default_roles`, `group_mappings`, `timeout_seconds`) are the registry's;
 * these are the type's own. `bind_password` is its secret (write-only,
 * encrypted with the KEK).
 */

const dn = z.string().trim().min(3).max(1024)
  .refine((v) => /^[A-Za-z][A-Za-z0-9-]*=/.test(v), 'must be a distinguished name such as ou=people,dc=example,dc=com');
const ldapUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'ldap:' || u.protocol === 'ldaps:') && u.hostname !== '' && (u.pathname === '' || u.pathname === '/');
  } catch {
    return false;
  }
}, 'must be an ldaps:// or ldap:// URL with a host (and optional port), such as ldaps://dc1.example.com:636');
/** An LDAP filter in parentheses; placeholders are escaped as RFC 4515 says when filled in. */
const filter = z.string().trim().min(3).max(2048)
  .refine((v) => v.startsWith('(') && v.endsWith(')'), 'must be an LDAP filter in parentheses, such as (uid={{username}})');
const attr = z.string().min(1).max(64).regex(/^[A-Za-z][A-Za-z0-9-]*$/, 'must be an attribute name');

const DEFAULT_ATTRIBUTES = { username: 'uid', email: 'mail', given_name: 'givenName', family_name: 'sn' };
const DEFAULT_GROUPS = { source: 'member_of' as const, attribute: 'memberOf', filter: '(&(objectClass=groupOfNames)(member={{dn}}))' };

export const ldapFields = z.strictObject({
  /** Directory servers, tried in order. */
  url: z.union([ldapUrl, z.array(ldapUrl).min(1).max(10)]),
  /** Upgrade ldap:// connections with StartTLS (RFC 4513 §3). */
  start_tls: z.boolean().default(false),
  /** Plain ldap:// without StartTLS: passwords cross the network in clear. Only for a directory on the same host. */
  allow_plain_ldap: z.boolean().default(false),
  /** PEM of the CA(s) that signed the directory's certificate (default: the system's trust store). */
  ca_certificate: z.string().max(65_536).includes('-----BEGIN CERTIFICATE-----', { message: 'must be PEM (-----BEGIN CERTIFICATE-----)' }).optional(),
  /** The service account Tessera searches with (read access to people and groups). */
  bind_dn: dn,
  bind_password: z.string().min(1).max(1024),
  user_base: dn,
  /** Finds the person by what they type; `{{username}}` is replaced (escaped). */
  user_filter: filter.refine((v) => v.includes('{{username}}'), 'must contain {{username}}'),
  /** Which entries a sync reads (default: the user filter with `{{username}}` as `*`). */
  sync_filter: filter.optional(),
  /** The stable subject: entryUUID (OpenLDAP, RFC 4530) or objectGUID (Active Directory). */
  subject_attribute: z.enum(['entryUUID', 'objectGUID'], 'must be entryUUID or objectGUID').default('entryUUID'),
  attributes: z.strictObject({
    username: attr.default('uid'), email: attr.default('mail'), given_name: attr.default('givenName'), family_name: attr.default('sn'),
  }).default(DEFAULT_ATTRIBUTES),
  groups: z.strictObject({
    /** `member_of`: the person's memberOf (AD, slapd's memberof overlay); `search`: groups whose member is the person. */
    source: z.enum(['member_of', 'search'], 'must be member_of or search').default('member_of'),
    attribute: attr.default('memberOf'),
    base: dn.optional(),
    /** `{{dn}}` is the person's DN (escaped). */
    filter: filter.default(DEFAULT_GROUPS.filter),
  }).default(DEFAULT_GROUPS),
  connect_timeout_seconds: z.number().int().min(1).max(60).default(5),
  /** Service-account connections kept open for searches (per instance). */
  pool_size: z.number().int().min(1).max(50).default(4),
  /** Scheduled sync: seconds between runs (one instance runs it at a time). Unset: only `tessera ldap sync`. */
  sync_interval_seconds: z.number().int().min(60).max(7 * 86_400).optional(),
}).superRefine((p, ctx) => {
  const urls = Array.isArray(p.url) ? p.url : [p.url];
  if (p.start_tls && urls.some((u) => u.startsWith('ldaps:'))) {
    ctx.addIssue({ code: 'custom', path: ['start_tls'], message: 'is for ldap:// URLs (ldaps:// is TLS already)' });
  }
  if (!p.start_tls && !p.allow_plain_ldap && urls.some((u) => u.startsWith('ldap:'))) {
    ctx.addIssue({ code: 'custom', path: ['url'], message: 'ldap:// sends passwords in clear: use ldaps://, set start_tls: true, or set allow_plain_ldap: true for a directory on this host' });
  }
  if (p.groups.source === 'search' && !p.groups.base) {
    ctx.addIssue({ code: 'custom', path: ['groups', 'base'], message: 'is required with source: search' });
  }
});

type LdapFields = z.infer<typeof ldapFields>;

/** Everything the directory code needs of a provider (the registry's common fields and the type's own, without the secret). */
export interface LdapSettings extends Omit<LdapFields, 'bind_password'> {
  alias: string;
  enabled: boolean;
  /** The first is the tenant whose sign-ins it answers and whose accounts it holds. */
  tenants: string[];
  email_domains: string[];
  trust_email_verified: boolean;
  jit: 'off' | 'create' | 'approve';
  default_roles: string[];
  group_mappings: GroupMapping[];
  /** Per LDAP operation (the registry's timeout_seconds). */
  timeout_ms: number;
}

/** The settings and the service password of a registry entry of type `ldap`. */
export function ldapProviderOf(p: ProviderConfig): { settings: LdapSettings; password: string } {
  const fields = ldapFields.parse({ ...p.settings, bind_password: p.secrets.bind_password ?? 'x' });
  const { bind_password: _unused, ...own } = fields;
  void _unused;
  return {
    settings: {
      ...own, alias: p.alias, enabled: p.enabled, tenants: p.tenants, email_domains: p.email_domains,
      trust_email_verified: p.trust_email_verified, jit: p.jit, default_roles: p.default_roles, group_mappings: p.group_mappings,
      timeout_ms: p.timeout_seconds * 1000,
    },
    password: p.secrets.bind_password ?? '',
  };
}
