import type { Kysely } from 'kysely';

/**
 * Upstream identity providers (federation/providers.ts; docs/federation.md).
 * `config` holds every non-secret field as JSON (the common fields and the
 * type's own); `secrets` the type's secret fields (a client secret, a bind
 * password, a private key) as one JSON object encrypted with the KEK, never
 * returned by any API. `source` says whether the configuration file or the
 * admin API declared it: the file's entries are re-applied at every start,
 * so the admin API does not edit them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('identity_providers')
    .addColumn('alias', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('config', 'text', (c) => c.notNull())
    .addColumn('secrets', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('identity_providers').execute();
}
