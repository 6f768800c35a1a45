/**
 * Table shapes as Kysely sees them. One schema serves SQLite and PostgreSQL:
 * timestamps are epoch milliseconds (bigint), booleans are 0/1 integers and
 * JSON documents are text, so the same queries run unchanged on both engines.
 */
import type { Generated } from 'kysely';

export interface TenantsTable {
  id: string;
  name: string;
  /** Tenant policy (registration, password, lockout…) as JSON text; see identity/policy.ts. */
  policy: string;
  created_at: number;
  updated_at: number;
  version: Generated<number>;
}

export interface UsersTable {
  id: string;
  tenant_id: string;
  username: string | null;
  username_normalized: string | null;
  email: string | null;
  email_normalized: string | null;
  email_verified: number;
  given_name: string | null;
  family_name: string | null;
  phone_number: string | null;
  phone_number_verified: number;
  password_hash: string | null;
  status: string;
  created_at: number;
  updated_at: number;
  failed_logins: number;
  failed_window_start: number | null;
  locked_until: number | null;
  password_changed_at: number | null;
  locale: string | null;
  /** Bumped by every versioned write (migration 007): the admin API's If-Match is a conditional UPDATE on it. */
  version: Generated<number>;
  /** Derived, normalised "family given" and "given family" names for prefix search (identity/model.ts nameKeys). */
  name_family_first: string | null;
  name_given_first: string | null;
  /** When an account created without a password got one through its activation link (migration 017). */
  activated_at: number | null;
}

export interface RolesTable {
  tenant_id: string;
  name: string;
  description: string | null;
  created_at: number;
}

export interface UserRolesTable {
  user_id: string;
  tenant_id: string;
  role: string;
}

export interface ClientsTable {
  client_id: string;
  tenant_id: string;
  /** RFC 7591 metadata, JSON text, without the secret. */
  metadata: string;
  /** Salted hash of the client secret (see oidc/client-secret.ts); never the secret. */
  secret_hash: string | null;
  first_party: number;
  created_at: number;
  updated_at: number;
  version: Generated<number>;
  /** After a secret rotation (migration 007): the old secret's digest, valid until `previous_secret_expires_at`. */
  previous_secret_hash: string | null;
  previous_secret_expires_at: number | null;
}

export interface ApisTable {
  identifier: string;
  name: string;
  /** JSON array of scope names. */
  scopes: string;
  signing_alg: string;
  access_token_ttl: number;
  /** 'jwt' | 'opaque' (migration 008). */
  access_token_format: Generated<string>;
  created_at: number;
  updated_at: number;
  version: Generated<number>;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  /** Public JWK as JSON text. */
  public_jwk: string;
  /** Private JWK encrypted with the key-encryption key (oidc/kek.ts). */
  private_jwk: string;
  /** 'active' signs and is published; 'retiring' is only published; 'retired' is neither. */
  status: string;
  created_at: number;
  /** When a retiring key stops being published (epoch ms). */
  retire_at: number | null;
}

export interface OidcPayloadsTable {
  model: string;
  id: string;
  payload: string;
  grant_id: string | null;
  user_code: string | null;
  uid: string | null;
  expires_at: number | null;
  consumed_at: number | null;
  account_id: string | null;
}

export interface MembershipsTable {
  user_id: string;
  tenant_id: string;
  created_at: number;
}

export interface ActionTokensTable {
  id: string;
  /** Null for an invitation (migration 003): it is sent to an address that has no account yet. */
  user_id: string | null;
  tenant_id: string;
  purpose: string;
  target: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  /** Wrong guesses against a code (migration 005). */
  attempts: Generated<number>;
}

export interface AuditLogTable {
  id: string;
  at: number;
  action: string;
  tenant_id: string | null;
  actor_id: string | null;
  subject_id: string | null;
  ip: string | null;
  user_agent: string | null;
  details: string;
}

export interface DevOutboxTable {
  id: string;
  at: number;
  channel: string;
  recipient: string;
  subject: string;
  body: string;
}

export interface SessionMetaTable {
  sid: string;
  account_id: string;
  user_agent: string | null;
  ip: string | null;
  created_at: number;
  last_seen_at: number;
  signed_in_tenant: string | null;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface PasskeysTable {
  /** Credential id, base64url (migration 006). */
  id: string;
  user_id: string;
  tenant_id: string;
  /** COSE public key, base64url. */
  public_key: string;
  sign_count: number;
  /** JSON array of transport hints. */
  transports: string;
  aaguid: string;
  device_type: string;
  backed_up: number;
  name: string;
  created_at: number;
  last_used_at: number | null;
}

export interface WebauthnChallengesTable {
  challenge: string;
  purpose: string;
  user_id: string | null;
  interaction_uid: string | null;
  created_at: number;
  expires_at: number;
}

export interface MfaTotpTable {
  id: string;
  user_id: string;
  label: string;
  /** Encrypted with the key-encryption key (migration 005). */
  secret: string;
  last_step: number | null;
  created_at: number;
  confirmed_at: number | null;
  last_used_at: number | null;
  expires_at: number | null;
}

export interface MfaRecoveryCodesTable {
  user_id: string;
  /** Keyed digest of the code (mfa/recovery-codes.ts), never the code. */
  code_hash: string;
  created_at: number;
  used_at: number | null;
}

export interface MfaLoginStatesTable {
  uid: string;
  user_id: string;
  /** JSON array: the first factor's amr values. */
  amr: string;
  step_up: number;
  enroll_totp_id: string | null;
  done_amr: string | null;
  created_at: number;
  expires_at: number;
  /** JSON: the methods completed in this sign-in (migration 013, interaction/state.ts). */
  completed: string | null;
  /** JSON object: methods' scratch values (migration 013). */
  data: string | null;
}

/** Sources an account signed in from, with failures counted per account and source (migration 010). */
export interface SignInSourcesTable {
  user_id: string;
  source: string;
  known_at: number;
  failures: Generated<number>;
  window_start: number | null;
  locked_until: number | null;
}

export interface MfaFailuresTable {
  user_id: string;
  failures: number;
  window_start: number;
}

export interface ExternalLinksTable {
  tenant_id: string;
  provider: string;
  subject: string;
  user_id: string;
  email: string | null;
  created_at: number;
  last_used_at: number | null;
}

/** A tenant's attribute schema (migration 017; userdata/). */
export interface AttributeDefinitionsTable {
  tenant_id: string;
  name: string;
  type: string;
  required: number;
  unique_values: number;
  source: string | null;
  /** JSON array (enum). */
  enum_values: string | null;
  account: string;
  description: string | null;
  created_at: number;
  updated_at: number;
}

export interface UserAttributesTable {
  user_id: string;
  tenant_id: string;
  name: string;
  /** JSON text. */
  value: string;
  /** A unique attribute's value, under the unique (tenant_id, name, lookup) index; null otherwise. */
  lookup: string | null;
}

export interface UserExternalIdsTable {
  tenant_id: string;
  source: string;
  external_id: string;
  user_id: string;
  created_at: number;
}

/** SMS sent, for the per-number and per-IP limits (migration 026). */
export interface SmsSendsTable {
  id: string;
  tenant_id: string;
  phone: string;
  ip: string | null;
  at: number;
}

export interface TenantBrandingTable {
  tenant_id: string;
  /** Name, colours, texts, authenticator issuer (branding/model.ts), JSON text (migration 024). */
  settings: string;
  logo: string | null;
  logo_type: string | null;
  favicon: string | null;
  favicon_type: string | null;
  stylesheet: string | null;
  updated_at: number;
}

/** Admin API import jobs (migration 018; userdata/import). */
export interface UserImportJobsTable {
  id: string;
  tenant_id: string;
  status: string;
  format: string;
  options: string;
  payload: string;
  total_bytes: number;
  bytes_done: Generated<number>;
  lines_done: Generated<number>;
  counts: string;
  actor_id: string | null;
  created_at: number;
  started_at: number | null;
  heartbeat_at: number | null;
  finished_at: number | null;
}

export interface UserImportErrorsTable {
  job_id: string;
  seq: number;
  line: number;
  field: string | null;
  code: string;
  message: string;
}

export interface ActivationQueueTable {
  user_id: string;
  tenant_id: string;
  queued_at: number;
  not_before: number;
  attempts: Generated<number>;
  claimed_at: number | null;
  last_error: string | null;
}

/** Upstream identity providers (migration 014; federation/providers.ts). */
export interface IdentityProvidersTable {
  alias: string;
  type: string;
  enabled: number;
  /** JSON: every non-secret field. */
  config: string;
  /** KEK-encrypted JSON of the type's secret fields. */
  secrets: string | null;
  source: string;
  created_at: number;
  updated_at: number;
}

/** A named lease (migration 037, storage/leases.ts). */
export interface LeasesTable {
  name: string;
  holder: string;
  acquired_at: number;
  expires_at: number;
}

/** Shared throttle and rate-limit hits (migration 037, http/shared-counters.ts). */
export interface RateCountersTable {
  key: string;
  bucket: number;
  hits: number;
  expires_at: number;
}

/** A version per change topic (migration 037, storage/changes.ts). */
export interface ChangeSignalsTable {
  topic: string;
  version: number;
  changed_at: number;
}

/** Outbound webhook receivers (migration 031; webhooks/). */
export interface WebhookSubscriptionsTable {
  id: string;
  tenant_id: string;
  url: string;
  /** JSON array of event names. */
  events: string;
  /** Sealed with the key-encryption key. */
  secret: string;
  mode: string;
  interval_minutes: number | null;
  payload: string;
  enabled: number;
  description: string | null;
  created_at: number;
  updated_at: number;
}

export interface WebhookOutboxTable {
  subscription_id: string;
  event_id: string;
  tenant_id: string;
  at: number;
}

export interface WebhookDeliveriesTable {
  id: string;
  subscription_id: string;
  tenant_id: string;
  /** JSON array of audit_log ids, in order. */
  event_ids: string;
  status: string;
  replay: number;
  attempts: number;
  /** JSON array of { at, status, error, next_attempt_at }. */
  attempts_log: string;
  next_attempt_at: number;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  delivered_at: number | null;
}

/** Inbound contact sources (migration 032; inbound/). */
export interface InboundSourcesTable {
  id: string;
  tenant_id: string;
  name: string;
  /** The Standard Webhooks secret, sealed with the KEK. */
  secret: string;
  /** JSON array of CIDR blocks, or null (any address). */
  ip_allowlist: string | null;
  /** JSON: { fields: {tessera field: payload path}, attributes: {attribute: payload path} }. */
  mapping: string;
  enabled: number;
  /** `file` (the configuration file owns it) or `api`. */
  origin: string;
  created_at: number;
  updated_at: number;
}

/** Event ids of contact sync batches that were applied, with their per-item result (migration 032). */
export interface InboundEventsTable {
  tenant_id: string;
  source: string;
  event_id: string;
  message_id: string;
  result: string;
  applied_at: number;
}

/** Per contact of a source: the change time last applied and its state (migration 032). */
export interface InboundContactsTable {
  tenant_id: string;
  source: string;
  external_id: string;
  user_id: string;
  changed_at: number;
  /** `active`, `merged` or `anonymized`. */
  state: string;
  updated_at: number;
}

/** A user merged into another (migration 032): its external ids resolve to the survivor. */
export interface UserMergesTable {
  user_id: string;
  tenant_id: string;
  survivor_id: string;
  source: string;
  merged_at: number;
}

/** Upstream round trips in flight (migration 015; federation/flows.ts). */
export interface FederationFlowsTable {
  state_hash: string;
  uid: string;
  provider: string;
  tenant_id: string;
  browser_hash: string;
  status: string;
  /** KEK-encrypted JSON. */
  data: string;
  created_at: number;
  expires_at: number;
}

/** Upstream sign-ins behind Tessera sessions, for federated logout (migration 016; federation/sessions.ts). */
export interface FederatedSessionsTable {
  id: string;
  tenant_id: string;
  provider: string;
  user_id: string | null;
  interaction_uid: string | null;
  session_uid: string | null;
  upstream_sub: string;
  upstream_sid: string | null;
  /** KEK-encrypted upstream ID token. */
  id_token: string | null;
  created_at: number;
  expires_at: number;
}

/** `jti`s of upstream back-channel logout tokens already used (migration 016). */
export interface FederationLogoutJtisTable {
  provider: string;
  jti: string;
  expires_at: number;
}

/** Links waiting for proof or approval (migration 015; federation/link-requests.ts). */
export interface LinkRequestsTable {
  id: string;
  tenant_id: string;
  provider: string;
  subject: string;
  user_id: string;
  email: string | null;
  kind: string;
  /** Of an approval: link or account (migration 016). */
  approval_kind: string | null;
  uid: string | null;
  status: string;
  created_at: number;
  expires_at: number;
  decided_at: number | null;
  decided_by: string | null;
}

/** Roles and memberships granted by group mappings (migration 015; federation/groups.ts). */
export interface FederatedGrantsTable {
  user_id: string;
  tenant_id: string;
  provider: string;
  role: string;
  created_at: number;
}

/** Initial access tokens for dynamic client registration (migration 022; oidc/dynamic-registration/tokens.ts). */
export interface RegistrationTokensTable {
  id: string;
  tenant_id: string;
  /** SHA-256 of the token, base64url: the token itself is never stored. */
  token_hash: string;
  description: string | null;
  /** API scopes granted to the clients registered with this token (space-separated). */
  scope: string | null;
  max_uses: number | null;
  uses: Generated<number>;
  created_by: string | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

/** Clients registered through dynamic registration (migration 022): the per-tenant quota counts them. */
export interface RegisteredClientsTable {
  client_id: string;
  tenant_id: string;
  token_id: string | null;
  registered_at: number;
}

/** Migration 040: the declared password last applied per user, as a keyed tag (config/declared-passwords.ts). */
export interface DeclaredPasswordsTable {
  user_id: string;
  tag: string;
}

export interface Database {
  declared_passwords: DeclaredPasswordsTable;
  tenants: TenantsTable;
  users: UsersTable;
  roles: RolesTable;
  user_roles: UserRolesTable;
  clients: ClientsTable;
  apis: ApisTable;
  signing_keys: SigningKeysTable;
  oidc_payloads: OidcPayloadsTable;
  tessera_meta: MetaTable;
  tenant_branding: TenantBrandingTable;
  memberships: MembershipsTable;
  action_tokens: ActionTokensTable;
  audit_log: AuditLogTable;
  dev_outbox: DevOutboxTable;
  session_meta: SessionMetaTable;
  mfa_totp: MfaTotpTable;
  mfa_recovery_codes: MfaRecoveryCodesTable;
  mfa_login_states: MfaLoginStatesTable;
  mfa_failures: MfaFailuresTable;
  sign_in_sources: SignInSourcesTable;
  passkeys: PasskeysTable;
  webauthn_challenges: WebauthnChallengesTable;
  external_links: ExternalLinksTable;
  identity_providers: IdentityProvidersTable;
  federation_flows: FederationFlowsTable;
  federated_sessions: FederatedSessionsTable;
  federation_logout_jtis: FederationLogoutJtisTable;
  link_requests: LinkRequestsTable;
  federated_grants: FederatedGrantsTable;
  attribute_definitions: AttributeDefinitionsTable;
  user_attributes: UserAttributesTable;
  user_external_ids: UserExternalIdsTable;
  sms_sends: SmsSendsTable;
  user_import_jobs: UserImportJobsTable;
  user_import_errors: UserImportErrorsTable;
  activation_queue: ActivationQueueTable;
  leases: LeasesTable;
  rate_counters: RateCountersTable;
  change_signals: ChangeSignalsTable;
  webhook_subscriptions: WebhookSubscriptionsTable;
  webhook_outbox: WebhookOutboxTable;
  webhook_deliveries: WebhookDeliveriesTable;
  inbound_sources: InboundSourcesTable;
  inbound_events: InboundEventsTable;
  inbound_contacts: InboundContactsTable;
  user_merges: UserMergesTable;
  registration_tokens: RegistrationTokensTable;
  registered_clients: RegisteredClientsTable;
}

export type { Generated };
