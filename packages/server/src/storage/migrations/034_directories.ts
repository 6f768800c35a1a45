import type { Kysely } from 'kysely';

/**
 * Enterprise directories (docs/directories.md):
 * - `directory_entries`: what the last sign-in or sync saw of each directory
 *   entry: the account it is tied to, its DN and groups, and the roles the
 *   directory granted (so a group that disappears removes only those).
 * - `directory_leases`: one instance at a time runs a provider's sync (a
 *   lease with an expiry, renewed while it runs); the last run's summary.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('directory_entries')
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('dn', 'text', (c) => c.notNull())
    .addColumn('groups', 'text', (c) => c.notNull())
    .addColumn('roles', 'text', (c) => c.notNull())
    // 1 while the directory has the entry; 0 once a sync found it gone (the account is disabled).
    .addColumn('present', 'integer', (c) => c.notNull())
    .addColumn('seen_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('directory_entries_pk', ['provider', 'subject'])
    .execute();
  await db.schema.createIndex('directory_entries_user').on('directory_entries').columns(['user_id']).execute();
  await db.schema.createIndex('directory_entries_seen').on('directory_entries').columns(['provider', 'present', 'seen_at']).execute();

  await db.schema
    .createTable('directory_leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text')
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('last_run_at', 'bigint')
    .addColumn('last_summary', 'text')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('directory_leases').execute();
  await db.schema.dropTable('directory_entries').execute();
}
