import type { Kysely } from 'kysely';

/**
 * Federated sign-in (federation/): the upstream round trips in flight, link
 * requests waiting for proof or an administrator, and the roles and
 * memberships group mappings granted (so a group that disappears removes
 * only what it granted).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // One row per round trip: `state` (hashed) is single use, bound to the engine interaction (uid) and to the
  // browser (a cookie's hash); `data` (KEK-encrypted JSON) holds the nonce and PKCE verifier, then the
  // upstream identity between the callback and the interaction's resume.
  await db.schema
    .createTable('federation_flows')
    .addColumn('state_hash', 'text', (c) => c.primaryKey())
    .addColumn('uid', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('browser_hash', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('federation_flows_uid').on('federation_flows').columns(['uid', 'status']).execute();

  // An upstream identity whose email belongs to a local account: linked only after proof (a sign-in to that
  // account in the same interaction) or an administrator's approval; never silently.
  await db.schema
    .createTable('link_requests')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('email', 'text')
    // proof: waits for the person to sign in to the local account in interaction `uid`; approval: for an administrator.
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('uid', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('decided_at', 'bigint')
    .addColumn('decided_by', 'text')
    .execute();
  await db.schema.createIndex('link_requests_uid').on('link_requests').columns(['uid']).execute();
  await db.schema.createIndex('link_requests_status').on('link_requests').columns(['tenant_id', 'status']).execute();

  // What group mappings granted: role (`role` set) or membership (`role` = '') per user, tenant and provider.
  await db.schema
    .createTable('federated_grants')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('federated_grants_pk', ['user_id', 'tenant_id', 'provider', 'role'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('federated_grants').execute();
  await db.schema.dropTable('link_requests').execute();
  await db.schema.dropTable('federation_flows').execute();
}
