import type { Kysely } from 'kysely';

/**
 * An API's access token format: `jwt` (RFC 9068, verified offline by the
 * resource server) or `opaque` (a reference the resource server introspects,
 * RFC 7662, so a revocation takes effect at once). Existing APIs stay `jwt`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('apis').addColumn('access_token_format', 'text', (c) => c.notNull().defaultTo('jwt')).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('apis').dropColumn('access_token_format').execute();
}
