import type { Kysely } from 'kysely';

/**
 * `declared_passwords`: per user declared in the configuration file with a
 * password, a keyed tag (HMAC-SHA256 under a key derived from TESSERA_SECRET)
 * of the declared password together with the password hash it was applied
 * as (config/declared-passwords.ts). A start whose file still declares that
 * password for that hash skips the argon2 verification it would otherwise run
 * per user (issue 20: start-up independent of the number of declared users).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('declared_passwords')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('tag', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('declared_passwords').execute();
}
