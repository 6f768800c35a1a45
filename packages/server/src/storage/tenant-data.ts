import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * Everything a tenant owns, table by table: what deleting a tenant removes
 * (admin/tenants/deletion.ts) and what "the tenant is empty" means. One list
 * for every bounded context, so that a table added by a new feature is
 * either listed here or named in KEPT_TABLES with a reason; the guard test
 * (test/tenant-deletion.test.ts) reads the migrated schema of both engines
 * and fails for any table with a tenant_id, user_id, account_id or
 * client_id column that is in neither list.
 *
 * Adding a table: one entry in TENANT_DATA, at the stage its foreign keys
 * need (rows that reference users or clients go before `principals`), with
 * `blocks: true` when its rows mean the tenant is in use (a plain DELETE of
 * a tenant that still has them is refused; `cascade=true` removes them).
 */
export type TenantDataStage =
  /** Rows that belong to the tenant's users, clients or the tenant itself, and reference them. */
  | 'dependents'
  /** The tenant's users and clients. */
  | 'principals'
  /** Tenant-level configuration that principals may have referenced (roles). */
  | 'configuration';

export interface TenantDataPart {
  /** The name in counts, answers and the audit entry (e.g. `users`). */
  name: string;
  /** The tables this part deletes from (the guard test checks coverage with it). */
  tables: string[];
  stage: TenantDataStage;
  /** Its rows mean the tenant is in use: a DELETE without cascade is refused while any exist. */
  blocks?: boolean;
  /** Counts the rows that would go (inside the deletion's transaction). */
  count(db: Kysely<Database>, tenantId: string): Promise<number>;
  /** Deletes them; returns how many went. */
  remove(db: Kysely<Database>, tenantId: string): Promise<number>;
}

/**
 * Tables deliberately not cleared with a tenant, and why. Anything else with
 * a tenant_id, user_id, account_id or client_id column must be in TENANT_DATA.
 */
export const KEPT_TABLES: Record<string, string> = {
  audit_log: 'Evidence: who did what, the tenant\'s deletion included, stays queryable by platform administrators.',
  dev_outbox: 'The development outbox (no SMTP/SMS provider): messages already "sent", shown on this machine only.',
};

/** The untyped query builder: parts name tables that other contexts add, so the typed schema may not know them yet. */
const any = (db: Kysely<Database>) => db as unknown as Kysely<Record<string, Record<string, unknown>>>;

const tenantUsers = (db: Kysely<Database>, tenantId: string) => db.selectFrom('users').select('id').where('tenant_id', '=', tenantId);

const n = (v: unknown) => Number(v ?? 0);
const deleted = (res: { numDeletedRows: bigint }) => Number(res.numDeletedRows);

/** Rows with the tenant's id in `column`. */
export function byTenant(name: string, table: string, stage: TenantDataStage, opts: { column?: string; blocks?: boolean } = {}): TenantDataPart {
  const column = opts.column ?? 'tenant_id';
  return {
    name, tables: [table], stage, blocks: opts.blocks,
    async count(db, tenantId) {
      const r = await any(db).selectFrom(table).select((eb) => eb.fn.countAll().as('n')).where(column, '=', tenantId).executeTakeFirst();
      return n(r?.n);
    },
    async remove(db, tenantId) {
      return deleted(await any(db).deleteFrom(table).where(column, '=', tenantId).executeTakeFirst());
    },
  };
}

/** Rows of the tenant's users (by a user id column). */
export function byTenantUsers(name: string, table: string, opts: { column?: string; blocks?: boolean } = {}): TenantDataPart {
  const column = opts.column ?? 'user_id';
  return {
    name, tables: [table], stage: 'dependents', blocks: opts.blocks,
    async count(db, tenantId) {
      const r = await any(db).selectFrom(table).select((eb) => eb.fn.countAll().as('n'))
        .where(column, 'in', tenantUsers(db, tenantId)).executeTakeFirst();
      return n(r?.n);
    },
    async remove(db, tenantId) {
      return deleted(await any(db).deleteFrom(table).where(column, 'in', tenantUsers(db, tenantId)).executeTakeFirst());
    },
  };
}

/** The tenant's clients' ids (for protocol artefacts, which name their client only inside the payload). */
async function tenantClientIds(db: Kysely<Database>, tenantId: string): Promise<string[]> {
  return (await db.selectFrom('clients').select('client_id').where('tenant_id', '=', tenantId).execute()).map((r) => r.client_id);
}

/** LIKE pattern for the payload's `"clientId":"<id>"` (JSON.stringify writes no spaces), % and _ escaped. */
const clientPattern = (clientId: string) => `%${JSON.stringify({ clientId }).slice(1, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * Protocol artefacts (sessions, grants, codes, tokens, interactions): those
 * of the tenant's users (account_id), and those issued to the tenant's
 * clients without a user (client_credentials tokens, device codes, PAR):
 * they hold the client id only in the payload, so they are found by a
 * pattern over it (a scan of the table, acceptable for a rare admin act).
 */
const protocolArtefacts: TenantDataPart = {
  name: 'sessions_and_tokens', tables: ['oidc_payloads'], stage: 'dependents',
  async count(db, tenantId) {
    const clients = await tenantClientIds(db, tenantId);
    const r = await db.selectFrom('oidc_payloads').select((eb) => eb.fn.countAll().as('n'))
      .where((eb) => eb.or([
        eb('account_id', 'in', tenantUsers(db, tenantId)),
        ...clients.map((c) => eb(sql`payload`, 'like', sql`${clientPattern(c)} escape '\\'`)),
      ])).executeTakeFirst();
    return n(r?.n);
  },
  async remove(db, tenantId) {
    let total = deleted(await db.deleteFrom('oidc_payloads').where('account_id', 'in', tenantUsers(db, tenantId)).executeTakeFirst());
    for (const c of await tenantClientIds(db, tenantId)) {
      total += deleted(await db.deleteFrom('oidc_payloads').where(sql`payload`, 'like', sql`${clientPattern(c)} escape '\\'`).executeTakeFirst());
    }
    return total;
  },
};

/**
 * Users of other tenants who are members here (with their roles here): they
 * mean the tenant is in use. They keep their accounts; only the membership goes.
 */
const outsideMembers: TenantDataPart = {
  name: 'members_from_other_tenants', tables: ['memberships', 'user_roles'], stage: 'dependents', blocks: true,
  async count(db, tenantId) {
    const r = await db.selectFrom('memberships').select((eb) => eb.fn.countAll().as('n'))
      .where('tenant_id', '=', tenantId).where('user_id', 'not in', tenantUsers(db, tenantId)).executeTakeFirst();
    return n(r?.n);
  },
  async remove(db, tenantId) {
    await db.deleteFrom('user_roles').where('tenant_id', '=', tenantId).where('user_id', 'not in', tenantUsers(db, tenantId)).execute();
    return deleted(await db.deleteFrom('memberships').where('tenant_id', '=', tenantId)
      .where('user_id', 'not in', tenantUsers(db, tenantId)).executeTakeFirst());
  },
};

/**
 * The registry, in deletion order within each stage. Contexts add their
 * tables here (one entry each); see the module comment.
 */
export const TENANT_DATA: TenantDataPart[] = [
  // dependents: rows of the tenant's users and clients
  protocolArtefacts,
  byTenantUsers('session_details', 'session_meta', { column: 'account_id' }),
  byTenant('action_tokens', 'action_tokens', 'dependents'),
  byTenantUsers('totp_authenticators', 'mfa_totp'),
  byTenantUsers('recovery_codes', 'mfa_recovery_codes'),
  byTenantUsers('mfa_sign_in_states', 'mfa_login_states'),
  byTenantUsers('mfa_failures', 'mfa_failures'),
  byTenantUsers('sign_in_sources', 'sign_in_sources'),
  // config/declared-passwords.ts: the tags that spare argon2 at start for the file's users.
  byTenantUsers('declared_passwords', 'declared_passwords'),
  byTenantUsers('passkeys', 'passkeys'),
  byTenantUsers('passkey_challenges', 'webauthn_challenges'),
  byTenant('external_links', 'external_links', 'dependents'),
  // federation/: round trips in flight, link requests, roles and memberships group mappings granted in the tenant
  byTenant('federation_flows', 'federation_flows', 'dependents'),
  byTenant('federated_sessions', 'federated_sessions', 'dependents'),
  byTenant('link_requests', 'link_requests', 'dependents'),
  byTenant('federated_grants', 'federated_grants', 'dependents'),
  // directories/: what the last sync saw of the tenant's directory users
  byTenant('directory_entries', 'directory_entries', 'dependents'),
  // user data (userdata/): attribute values and external ids of the tenant's users
  byTenant('attribute_values', 'user_attributes', 'dependents'),
  byTenant('external_ids', 'user_external_ids', 'dependents'),
  byTenant('sms_sends', 'sms_sends', 'dependents'),
  byTenant('activation_mails_queued', 'activation_queue', 'dependents'),
  // provisioning/: the tenant's API tokens and its users' Okta lifecycle states
  byTenant('api_tokens', 'api_tokens', 'dependents'),
  byTenant('provisioning_states', 'provisioning_states', 'dependents'),
  // webhooks/: the tenant's subscriptions with their queue and delivery log
  byTenant('webhook_queue', 'webhook_outbox', 'dependents'),
  byTenant('webhook_deliveries', 'webhook_deliveries', 'dependents'),
  byTenant('webhook_subscriptions', 'webhook_subscriptions', 'dependents'),
  // inbound/: contact sync state (applied event ids, contacts' change times), merge pointers, and the sources
  byTenant('inbound_events', 'inbound_events', 'dependents'),
  byTenant('inbound_contacts', 'inbound_contacts', 'dependents'),
  byTenant('user_merges', 'user_merges', 'dependents'),
  byTenant('inbound_sources', 'inbound_sources', 'configuration'),
  // Dynamic client registration (oidc/dynamic-registration/): initial access tokens and the registered-clients ledger.
  byTenant('registration_tokens', 'registration_tokens', 'dependents'),
  byTenant('registered_clients', 'registered_clients', 'dependents'),
  outsideMembers,
  byTenantUsers('memberships', 'memberships'),
  byTenantUsers('role_assignments', 'user_roles'),
  // principals
  byTenant('users', 'users', 'principals', { blocks: true }),
  byTenant('clients', 'clients', 'principals', { blocks: true }),
  // configuration
  byTenant('roles', 'roles', 'configuration'),
  byTenant('branding', 'tenant_branding', 'configuration'),
  byTenant('attribute_definitions', 'attribute_definitions', 'configuration'),
  // import jobs (their error reports go with them: foreign key, on delete cascade)
  byTenant('import_jobs', 'user_import_jobs', 'configuration'),
];

const STAGES: TenantDataStage[] = ['dependents', 'principals', 'configuration'];

/** The parts in the order they are deleted. */
export function deletionOrder(parts: readonly TenantDataPart[] = TENANT_DATA): TenantDataPart[] {
  return STAGES.flatMap((stage) => parts.filter((p) => p.stage === stage));
}
