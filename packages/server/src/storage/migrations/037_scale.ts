import type { Kysely } from 'kysely';

/**
 * Scale-out (docs/scaling.md):
 * - `leases`: named leases in the database (storage/leases.ts). A job that
 *   must run on one instance (or worker) at a time holds one; a lease that is
 *   not renewed expires, so another instance takes over when its holder dies.
 * - `rate_counters`: throttle and rate-limit hits per key and time bucket,
 *   shared by every worker and instance when Redis is not configured
 *   (http/shared-counters.ts). A row leaves the window at `expires_at`.
 * - `change_signals`: one version number per topic (clients, apis, tenants…);
 *   on SQLite, workers poll it to drop read caches another process made stale
 *   (storage/changes.ts). PostgreSQL uses LISTEN/NOTIFY, Redis pub/sub.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('acquired_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('rate_counters')
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('bucket', 'bigint', (c) => c.notNull())
    .addColumn('hits', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('rate_counters_pk', ['key', 'bucket'])
    .execute();
  await db.schema.createIndex('rate_counters_expires').on('rate_counters').column('expires_at').execute();

  await db.schema
    .createTable('change_signals')
    .addColumn('topic', 'text', (c) => c.primaryKey())
    .addColumn('version', 'bigint', (c) => c.notNull())
    .addColumn('changed_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('change_signals').execute();
  await db.schema.dropTable('rate_counters').execute();
  await db.schema.dropTable('leases').execute();
}
