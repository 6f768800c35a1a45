import type { Kysely } from 'kysely';

/**
 * Where an account signed in from before, and the failed sign-ins counted
 * per account and such a source (identity/sign-in-sources.ts; #17 item 7).
 * `source` is a keyed digest (HMAC-SHA256 under a key derived from
 * TESSERA_SECRET) of `device:<id>` (the signed device cookie) or
 * `ip:<address>`: a dump names no address. Failures from sources the account
 * never signed in from are still counted on the users row (the account's
 * bucket for unknown sources).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('sign_in_sources')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('source', 'text', (c) => c.notNull())
    // The last successful sign-in from this source; the source is known while it is recent enough.
    .addColumn('known_at', 'bigint', (c) => c.notNull())
    .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('window_start', 'bigint')
    .addColumn('locked_until', 'bigint')
    .addPrimaryKeyConstraint('sign_in_sources_pk', ['user_id', 'source'])
    .execute();
  await db.schema.createIndex('sign_in_sources_known').on('sign_in_sources').column('known_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('sign_in_sources').execute();
}
