import type { Kysely } from 'kysely';

/**
 * Passkeys (WebAuthn credentials) and the server-side challenges of their
 * ceremonies. Challenges live in the database, not in memory or a cookie, so
 * any instance can finish a ceremony another started, and a challenge can be
 * consumed exactly once (one atomic DELETE) even under races.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('passkeys')
    // The credential id (base64url) as the authenticator chose it: unique across all users (WebAuthn §6.1).
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    // COSE public key, base64url.
    .addColumn('public_key', 'text', (c) => c.notNull())
    // The authenticator's signature counter (up to 2^32 - 1, hence bigint).
    .addColumn('sign_count', 'bigint', (c) => c.notNull().defaultTo(0))
    // JSON array of transports ("internal", "hybrid", "usb"…): hints for the browser.
    .addColumn('transports', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('aaguid', 'text', (c) => c.notNull())
    // 'singleDevice' (device-bound) or 'multiDevice' (may be synced): decides amr hwk vs swk.
    .addColumn('device_type', 'text', (c) => c.notNull())
    .addColumn('backed_up', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .execute();
  await db.schema.createIndex('passkeys_user').on('passkeys').columns(['user_id', 'created_at']).execute();

  await db.schema
    .createTable('webauthn_challenges')
    // The challenge itself (base64url, 32 random bytes): the client echoes it in clientDataJSON.
    .addColumn('challenge', 'text', (c) => c.primaryKey())
    // 'register' (account page), 'login' (passwordless sign-in), 'mfa' (second factor).
    .addColumn('purpose', 'text', (c) => c.notNull())
    // Bound to the user (register, mfa) and/or the sign-in interaction (login, mfa).
    .addColumn('user_id', 'text')
    .addColumn('interaction_uid', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webauthn_challenges_expiry').on('webauthn_challenges').column('expires_at').execute();
  await db.schema.createIndex('webauthn_challenges_binding').on('webauthn_challenges').columns(['purpose', 'interaction_uid', 'user_id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('webauthn_challenges').execute();
  await db.schema.dropTable('passkeys').execute();
}
