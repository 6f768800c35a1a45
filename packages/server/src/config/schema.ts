import { z } from 'zod';
import { inboundSourceFileSchema } from '../inbound/model.js';
import { tenantPolicySchema } from '../identity/policy.js';
import { ID_PATTERN, USERNAME_MAX, usernameProblem } from '../identity/model.js';
import { CIDR_MESSAGE, parseCidr } from '../oidc/cidr.js';
import { REGISTRABLE_GRANTS } from '../oidc/dynamic-registration/policy.js';
import { brandingFileSchema } from '../branding/config.js';
import { attributeConfigSchema, userAttributesConfigSchema } from '../userdata/config.js';
import { attributeClaimsSchema } from '../oidc/attribute-claims.js';
import { SOURCE_NAME } from '../userdata/model.js';
import { protocolClientFields, protocolClientIssues } from '../oidc/protocol-metadata.js';
import { tokenExchangePolicySchema } from '../oidc/token-exchange.js';
import { providerFileSchema } from '../federation/provider-config.js';
import { clientKeyFields, clientKeyIssues, clientKind } from '../oidc/client-keys.js';
import { assignmentFields } from '../oidc/app-assignment.js';

/**
 * One schema for Tessera's configuration: the environment (process settings)
 * and the declarative file (tenants, APIs, clients, users, roles). Every
 * message here is written for the person editing the file.
 */

const absoluteUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return Boolean(u.protocol) && !v.includes('#');
  } catch {
    return false;
  }
}, 'must be an absolute URL without a fragment');

/** The issuer: what clients put in front of every endpoint, so nothing but an http(s) origin (and path). */
const issuerUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'https:' || u.protocol === 'http:') && !u.search && !u.hash && !v.includes('#') && !v.includes('?');
  } catch {
    return false;
  }
}, { error: (iss) => `must be an absolute http:// or https:// URL without a query or fragment, such as https://id.example.com (got "${String(iss.input)}")` });

/** `https://host[:port]` and nothing more (a trailing `/` allowed): what a browser sends as `Origin`. */
function isOrigin(v: string): boolean {
  try {
    const u = new URL(v);
    return (u.protocol === 'https:' || u.protocol === 'http:') && !u.username && !u.password && u.pathname === '/'
      && !u.search && !u.hash && !v.includes('?') && !v.includes('#') && !/^https?:\/\/[^/]*\/./.test(v);
  } catch {
    return false;
  }
}

const id = z.string().regex(ID_PATTERN, 'must be 1-128 letters, digits, ".", "_", ":" or "-"');
const scopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'must be a scope token (RFC 6749 §3.3)');
const seconds = z.number().int('must be a whole number of seconds').positive('must be positive').max(366 * 24 * 3600, 'must be at most a year');

export const tenantSchema = z.strictObject({
  id,
  name: z.string().min(1, 'must not be empty'),
  policy: tenantPolicySchema.optional(),
  /** Name, logo, colours, stylesheet, favicon, page texts (docs/branding.md). */
  branding: brandingFileSchema.optional(),
});

export const apiSchema = z.strictObject({
  identifier: absoluteUrl,
  name: z.string().min(1, 'must not be empty'),
  scopes: z.array(scopeToken).default([]),
  signing_alg: z.enum(['ES256', 'RS256'], 'must be ES256 or RS256').default('ES256'),
  access_token_ttl: seconds.default(3600),
  // jwt: RFC 9068 tokens the API verifies offline; opaque: references it introspects (RFC 7662), revocation bites at once.
  access_token_format: z.enum(['jwt', 'opaque'], 'must be jwt or opaque').default('jwt'),
});

export const roleSchema = z.strictObject({
  name: id,
  tenant: id.default('default'),
  description: z.string().optional(),
});

// `password` is the legacy resource-owner password grant (RFC 6749 §4.3): off unless listed, confidential clients only.
// The device grant (RFC 8628) and token exchange (RFC 8693) are opt-in per client by listing them (docs/protocol.md).
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export { TOKEN_EXCHANGE_GRANT } from '../oidc/token-exchange.js';
import { TOKEN_EXCHANGE_GRANT } from '../oidc/token-exchange.js';
const grantType = z.enum(['authorization_code', 'refresh_token', 'client_credentials', 'password', DEVICE_CODE_GRANT, TOKEN_EXCHANGE_GRANT],
  `must be one of authorization_code, refresh_token, client_credentials, password, ${DEVICE_CODE_GRANT}, ${TOKEN_EXCHANGE_GRANT}`);
const cidr = z.string().refine((v) => parseCidr(v) !== undefined, CIDR_MESSAGE);

export const clientSchema = z.strictObject({
  client_id: id,
  client_secret: z.string().min(32, 'must be at least 32 characters (use `tessera clients create` to generate one)').optional(),
  client_name: z.string().min(1).optional(),
  redirect_uris: z.array(absoluteUrl).default([]),
  post_logout_redirect_uris: z.array(absoluteUrl).default([]),
  grant_types: z.array(grantType).min(1, 'must name at least one grant type').default(['authorization_code']),
  response_types: z.array(z.literal('code', 'only "code" is supported (implicit and hybrid flows are off)')).default(['code']),
  token_endpoint_auth_method: z.enum(['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    'must be none, client_secret_basic, client_secret_post or private_key_jwt').default('client_secret_basic'),
  /** OpenID and API scopes the client may obtain (client grants, oidc/client-grants.ts; docs/b2b.md). */
  scope: z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, 'must be scope tokens separated by single spaces (RFC 6749 §3.3)').optional(),
  backchannel_logout_uri: absoluteUrl.optional(),
  backchannel_logout_session_required: z.boolean().optional(),
  first_party: z.boolean().default(false),
  tenant: id.default('default'),
  access_token_ttl: seconds.optional(),
  id_token_ttl: seconds.optional(),
  refresh_token_ttl: seconds.optional(),
  /** MFA for sign-ins to this client (docs/mfa.md); unset: the tenant's policy decides. */
  mfa: z.enum(['off', 'optional', 'required'], 'must be off, optional or required').optional(),
  /** Addresses the client may call the token, introspection, revocation and PAR endpoints from (oidc/ip-allowlist.ts). */
  ip_allowlist: z.array(cidr).min(1, 'must list at least one CIDR block (leave ip_allowlist out to allow any address)').optional(),
  /**
   * Admin API scopes this client may use with its own (client_credentials)
   * tokens (docs/admin.md). Any client can ask for a declared scope; the admin
   * API accepts a machine caller only for the scopes listed here.
   */
  admin_scopes: z.array(z.enum(['identity.admin', 'auth.admin'], 'must be identity.admin or auth.admin')).optional(),
  /** Provisioning API scopes this client may use with its own client-credentials tokens (docs/provisioning.md#api-tokens). */
  provisioning_scopes: z.array(z.enum(['users.read', 'users.manage', 'groups.manage'], 'must be users.read, users.manage or groups.manage')).optional(),
  /** Attributes and external ids this client receives as claims, per scope and token (docs/users.md#claims). */
  attribute_claims: attributeClaimsSchema.optional(),
  /** With admin_scopes: the client writes the attributes this source owns (docs/users.md#source-ownership). */
  attribute_source: z.string().regex(SOURCE_NAME, 'must be a source name (lower-case letters, digits, ".", "_" or "-")').optional(),
  /** RP-initiated logout with a valid id_token_hint: `auto` signs out without the question (docs/protocol.md#logout). */
  logout_confirmation: z.enum(['auto', 'always'], 'must be auto or always').optional(),
  /** The API (an `apis[].identifier`) a request is for when it names no `resource` (docs/relying-parties.md). */
  default_resource: absoluteUrl.optional(),
  /** `false`: a confidential client that sends a nonce may leave out PKCE (docs/relying-parties.md#pkce). */
  require_pkce: z.boolean().optional(),
  /** `true`: the granted scopes' claims go in the ID token too, for RPs that read only the ID token (docs/relying-parties.md). */
  id_token_claims: z.boolean().optional(),
  /** Token exchange (RFC 8693): which subject tokens, audiences and scopes (oidc/token-exchange.ts). */
  token_exchange: tokenExchangePolicySchema.optional(),
  // Refresh rotation and lifetimes, and the other protocol settings of issue 21 (oidc/protocol-metadata.ts).
  ...protocolClientFields,
  // private_key_jwt: the client's public keys (oidc/client-keys.ts; docs/b2b.md#key-based-client-authentication).
  ...clientKeyFields,
  // App assignment: which of the tenant's users may use the client (oidc/app-assignment.ts; docs/b2b.md#app-assignment).
  ...assignmentFields,
  /** An explicit introspector (an API or the gateway): may introspect other clients' access tokens (docs/b2b.md#introspection). */
  resource_server: z.boolean().optional(),
}).superRefine((c, ctx) => {
  for (const issue of [...protocolClientIssues(c), ...clientKeyIssues(c)]) ctx.addIssue({ code: 'custom', path: [issue.path], message: issue.message });
  const kind = clientKind(c.token_endpoint_auth_method);
  const confidential = kind !== 'public';
  if (kind === 'secret' && !c.client_secret) {
    ctx.addIssue({ code: 'custom', path: ['client_secret'], message: `is required when token_endpoint_auth_method is ${c.token_endpoint_auth_method}` });
  }
  if (kind === 'public' && c.client_secret) {
    ctx.addIssue({ code: 'custom', path: ['client_secret'], message: 'must not be set for a public client (token_endpoint_auth_method: none)' });
  }
  if (c.resource_server && kind === 'public') {
    ctx.addIssue({ code: 'custom', path: ['resource_server'], message: 'needs a confidential client (an introspector authenticates itself)' });
  }
  if (kind === 'key' && c.client_secret) {
    ctx.addIssue({ code: 'custom', path: ['client_secret'], message: 'must not be set for a private_key_jwt client (it authenticates with its keys)' });
  }
  if (!confidential && c.grant_types.includes('client_credentials')) {
    ctx.addIssue({ code: 'custom', path: ['grant_types'], message: 'client_credentials needs a confidential client' });
  }
  if (!confidential && c.grant_types.includes('password')) {
    ctx.addIssue({ code: 'custom', path: ['grant_types'], message: 'password (the legacy password grant) needs a confidential client' });
  }
  if (c.grant_types.includes(TOKEN_EXCHANGE_GRANT) !== (c.token_exchange !== undefined)) {
    ctx.addIssue({ code: 'custom', path: ['token_exchange'], message: `and the grant ${TOKEN_EXCHANGE_GRANT} go together (a policy enables the grant's use)` });
  }
  if (!confidential && c.grant_types.includes(TOKEN_EXCHANGE_GRANT)) {
    ctx.addIssue({ code: 'custom', path: ['grant_types'], message: 'token exchange needs a confidential client' });
  }
  if (!confidential && c.require_pkce === false) {
    ctx.addIssue({ code: 'custom', path: ['require_pkce'], message: 'cannot be false for a public client (PKCE is its only protection of the code)' });
  }
  if (c.grant_types.includes('authorization_code') && c.redirect_uris.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['redirect_uris'], message: 'must list at least one URI for the authorization_code grant' });
  }
});

export const userSchema = z.strictObject({
  username: z.string().trim().min(1, 'must not be empty').max(USERNAME_MAX, `must be at most ${USERNAME_MAX} characters`)
    .refine((v) => usernameProblem(v) !== 'invalid_username', 'must not contain spaces, "@" or control characters').optional(),
  email: z.email('must be an email address').optional(),
  email_verified: z.boolean().default(false),
  given_name: z.string().max(256).optional(),
  family_name: z.string().max(256).optional(),
  phone_number: z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number such as +4930123456').optional(),
  password: z.string().min(8, 'must be at least 8 characters').max(128, 'must be at most 128 characters').optional(),
  tenant: id.default('default'),
  roles: z.array(id).default([]),
  /** Custom attributes (docs/users.md): only those listed are set; source-owned ones are refused. */
  attributes: userAttributesConfigSchema,
}).refine((u) => u.username || u.email, { message: 'needs a username or an email', path: ['username'] });

export const fileSchema = z.strictObject({
  tenants: z.array(tenantSchema).default([]),
  apis: z.array(apiSchema).default([]),
  roles: z.array(roleSchema).default([]),
  clients: z.array(clientSchema).default([]),
  users: z.array(userSchema).default([]),
  /** Tenants' attribute schemas (docs/users.md#attributes). */
  attributes: z.array(attributeConfigSchema).default([]),
  /** Upstream identity providers (docs/federation.md): common fields plus the type's own, checked by federation/provider-config.ts. */
  identity_providers: z.array(providerFileSchema).default([]),
  /** Inbound contact sources (docs/webhooks.md#inbound-contact-sync): signing secret, IP allowlist, mapping. */
  inbound_sources: z.array(inboundSourceFileSchema).default([]),
}).superRefine((f, ctx) => {
  // A default resource must be an API the file declares (an unknown one would fail every request of the client).
  const apis = new Set(f.apis.map((a) => a.identifier));
  f.clients.forEach((c, i) => {
    if (c.default_resource && !apis.has(c.default_resource)) {
      ctx.addIssue({ code: 'custom', path: ['clients', i, 'default_resource'], message: 'must be the identifier of an API in apis' });
    }
  });
});

export type DeclarativeConfig = z.infer<typeof fileSchema>;
export type ClientConfig = z.infer<typeof clientSchema>;
export type UserConfig = z.infer<typeof userSchema>;

/** A comma-separated list, blanks dropped. */
const list = (fallback: string) => z.string().default(fallback).transform((v) => v.split(',').map((x) => x.trim()).filter(Boolean));

export const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  TESSERA_ISSUER: issuerUrl.optional(),
  TESSERA_DATA_DIR: z.string().default('./data'),
  DATABASE_URL: z.string().regex(/^(sqlite:|postgres(ql)?:\/\/)/, 'must start with sqlite: or postgres://').optional(),
  TESSERA_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  TESSERA_CONFIG: z.string().optional(),
  /**
   * How many reverse proxies in front of Tessera to believe (`true`/`yes` = 1, `false`/`no` = 0): the client address is the
   * entry that many from the right of X-Forwarded-For; entries further left are the client's own words (docs/configuration.md).
   */
  TESSERA_TRUST_PROXY: z.string().regex(/^(true|false|yes|no|[0-9]|10)$/, 'must be true, false, or the number of proxies in front (0-10)')
    .default('false').transform((v) => (v === 'true' || v === 'yes' ? 1 : v === 'false' || v === 'no' ? 0 : Number(v))),
  /**
   * Origins besides the issuer's whose pages may post Tessera's forms
   * (comma-separated, e.g. `https://login.example.com`); docs/security.md#cross-site-requests.
   */
  TESSERA_FORM_ORIGINS: z.string().default('').transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean))
    .pipe(z.array(z.string().refine(isOrigin, { error: (iss) => `must list origins such as https://login.example.com (scheme, host and port only; got "${String(iss.input)}")` }))),
  TESSERA_BOOTSTRAP_ADMIN_PASSWORD: z.string().min(8).optional(),
  /** Failed credential attempts allowed per client IP per minute before 429. */
  TESSERA_AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().positive().default(30),
  /** Requests per minute and credential on the provisioning APIs, per instance (docs/provisioning.md). */
  TESSERA_PROVISIONING_REQUESTS_PER_MINUTE: z.coerce.number().int().positive().max(1_000_000).default(600),
  /**
   * Hosts on private or loopback addresses the engine may call (back-channel
   * logout, client JWKS). Empty by default: the engine refuses special-use
   * addresses to prevent SSRF. Comma-separated hostnames, e.g. `127.0.0.1,localhost`.
   */
  TESSERA_OUTBOUND_PRIVATE_HOSTS: z.string().default('').transform((v) => v.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean)),
  /**
   * Dynamic client registration (RFC 7591/7592; docs/b2b.md#dynamic-client-registration): `off` (default),
   * `token` (an initial access token from the admin API is required), `open` (anyone may register into the
   * default tenant; a token, when sent, still decides the tenant). The policy and quota below apply in both.
   */
  TESSERA_CLIENT_REGISTRATION: z.enum(['off', 'token', 'open'], 'must be off, token or open').default('off'),
  TESSERA_CLIENT_REGISTRATION_GRANT_TYPES: list('authorization_code,refresh_token')
    .pipe(z.array(z.enum(REGISTRABLE_GRANTS, `must list grant types among ${REGISTRABLE_GRANTS.join(', ')}`)).min(1)),
  TESSERA_CLIENT_REGISTRATION_REDIRECT_URIS: list('https://**,http://127.0.0.1:*/**,http://localhost:*/**')
    .pipe(z.array(z.string().regex(/^[a-z][a-z0-9+.-]*:\/\/\S+$/i, 'must list redirect URI patterns such as https://*.example.com/** (comma-separated)')).min(1)),
  TESSERA_CLIENT_REGISTRATION_SCOPES: list('openid,profile,email,offline_access')
    .pipe(z.array(z.enum(['openid', 'profile', 'email', 'phone', 'offline_access', 'roles'], 'must list OpenID scopes (openid, profile, email, phone, offline_access, roles)'))),
  /** Dynamically registered clients per tenant (a registration beyond it: 403 access_denied). */
  TESSERA_CLIENT_REGISTRATION_MAX_CLIENTS: z.coerce.number().int().min(0).max(1_000_000).default(100),
  /** SMTP server for outgoing mail, e.g. smtp://user:pass@mail.example:587 or smtps://…; unset: development outbox. */
  SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must start with smtp:// or smtps://').optional(),
  /** Sender address of Tessera's mail. */
  MAIL_FROM: z.string().min(3).default('Tessera <no-reply@localhost>'),
  /**
   * Sensitive admin API operations need a multi-factor sign-in at most this
   * many seconds old (RFC 9470 step-up; docs/admin.md).
   */
  TESSERA_ADMIN_STEP_UP_MAX_AGE: z.coerce.number().int().min(30).max(86_400).default(600),
  /** Seconds a sign-in counts as recent for security changes on the account pages (factors, email, password; account/session.ts). */
  TESSERA_ACCOUNT_REAUTH_MAX_AGE: z.coerce.number().int().min(1).max(86_400).default(600),
  /** The admin console's build (index.html + assets/); unset: packages/console/dist of this installation. */
  TESSERA_CONSOLE_DIR: z.string().min(1).optional(),
  /**
   * `1`: bin/tessera.js runs the TypeScript sources through tsx even when the
   * build in packages/server/dist is up to date (the test suites set it). Read
   * by bin/launch.js before anything else; listed here so it is not reported as unknown.
   */
  TESSERA_FROM_SOURCE: z.enum(['1']).optional(),
  /**
   * PostgreSQL: the longest a request waits for a database connection, and
   * for one statement (`statement_timeout`), before it is answered 503
   * temporarily_unavailable (docs/operations.md#database-outages).
   */
  TESSERA_DB_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  /** Activation mails sent per minute, across all instances (docs/users.md#activation): keeps a bulk import within the SMTP provider's limits. */
  TESSERA_ACTIVATION_MAILS_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(600),
  /** Worker processes of `tessera serve` on one port (docs/scaling.md): a number, or `auto` for one per core. */
  TESSERA_WORKERS: z.union([z.literal('auto'), z.coerce.number().int().min(1).max(256)], 'must be a number from 1 to 256 or auto').default(1),
  /** Redis for shared throttle counts and change notifications (docs/scaling.md); the database when unset. */
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').optional(),
  /** Prefix of Tessera's Redis keys and channels (several deployments on one Redis). */
  TESSERA_REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]{0,64}$/, 'letters, digits, :, _ and - only').default('tessera:'),
  /**
   * Where the engine's short-lived state (sign-ins under way, sessions, codes, pushed requests, replay caches) lives:
   * `redis` (the default when REDIS_URL is set) or `database` (docs/scaling.md#what-lives-where).
   */
  TESSERA_ENGINE_STATE: z.enum(['redis', 'database']).optional(),
  /**
   * Where the lockout's failure counts and known sources' temporary locks live: `redis` (the default when
   * REDIS_URL is set) or `database` (docs/scaling.md#what-lives-where, docs/security.md#lockout-and-throttling).
   */
  TESSERA_LOCKOUT_STATE: z.enum(['redis', 'database']).optional(),
  /** Seconds between /readyz turning 503 and the server closing (a balancer's health checks see it first; docs/scaling.md). */
  TESSERA_SHUTDOWN_DELAY_SECONDS: z.coerce.number().min(0).max(300).default(0),
  /** Webhook delivery (docs/webhooks.md#delivery): how often an idle worker looks for work, its lease, retries, timeout. */
  TESSERA_WEBHOOK_POLL_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
  TESSERA_WEBHOOK_LEASE_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
  TESSERA_WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(30_000),
  TESSERA_WEBHOOK_RETRY_MAX_MS: z.coerce.number().int().min(10).max(86_400_000).default(6 * 3_600_000),
  TESSERA_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(12),
  TESSERA_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'must be one of fatal, error, warn, info, debug, trace, silent').default('info'),
});

export type Env = z.infer<typeof envSchema>;
