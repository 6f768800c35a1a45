import type { Kysely } from 'kysely';

/**
 * Multi-factor authentication (src/mfa/): TOTP authenticators (secret
 * encrypted with the key-encryption key; `last_step` for replay protection),
 * recovery codes (keyed digests only), the per-interaction record of a
 * first factor awaiting its second, and a count of wrong second-factor codes
 * that a correct password does not reset.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('mfa_totp')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('label', 'text', (c) => c.notNull())
    // AES-256-GCM under the key-encryption key (oidc/kek.ts): a database dump alone yields no codes.
    .addColumn('secret', 'text', (c) => c.notNull())
    // The highest RFC 6238 time step accepted so far; a code at or below it is a replay.
    .addColumn('last_step', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    // Null while the enrollment waits for its first code.
    .addColumn('confirmed_at', 'bigint')
    .addColumn('last_used_at', 'bigint')
    // Pending enrollments expire; confirmed authenticators do not.
    .addColumn('expires_at', 'bigint')
    .execute();
  await db.schema.createIndex('mfa_totp_user').on('mfa_totp').columns(['user_id', 'confirmed_at']).execute();

  await db.schema
    .createTable('mfa_recovery_codes')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .addPrimaryKeyConstraint('mfa_recovery_codes_pk', ['user_id', 'code_hash'])
    .execute();

  await db.schema
    .createTable('mfa_login_states')
    // The engine's interaction uid: bound to the browser by the engine's interaction cookie.
    .addColumn('uid', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('amr', 'text', (c) => c.notNull())
    .addColumn('step_up', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('enroll_totp_id', 'text')
    // Set once the second factor succeeded but the page still has something to show (new recovery codes).
    .addColumn('done_amr', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('mfa_login_states_expiry').on('mfa_login_states').column('expires_at').execute();

  await db.schema
    .createTable('mfa_failures')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('window_start', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['mfa_failures', 'mfa_login_states', 'mfa_recovery_codes', 'mfa_totp']) {
    await db.schema.dropTable(table).execute();
  }
}
