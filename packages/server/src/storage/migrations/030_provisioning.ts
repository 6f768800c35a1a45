import type { Kysely } from 'kysely';

/**
 * Provisioning (docs/provisioning.md):
 * - `api_tokens`: per-tenant, scoped credentials for the Okta-compatible
 *   Users API and SCIM. Only a keyed digest of the token is stored (looked up
 *   by its unique index); the token itself is shown once.
 * - `provisioning_states`: the lifecycle states that Okta's API has and
 *   Tessera's own statuses do not (STAGED, PROVISIONED, SUSPENDED,
 *   DEPROVISIONED, RECOVERY), per user; no row means "as the Tessera status says".
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull().unique())
    // The token's first characters, to tell tokens apart in lists (never enough to use it).
    .addColumn('hint', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .addColumn('last_used_at', 'bigint')
    .execute();
  await db.schema.createIndex('api_tokens_tenant').on('api_tokens').columns(['tenant_id', 'created_at']).execute();

  await db.schema
    .createTable('provisioning_states')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('changed_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('provisioning_states').execute();
  await db.schema.dropTable('api_tokens').execute();
}
