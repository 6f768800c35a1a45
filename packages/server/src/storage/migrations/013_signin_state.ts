import type { Kysely } from 'kysely';

/**
 * The sign-in pipeline's state per engine interaction (interaction/state.ts)
 * grows out of the MFA login state: `completed` lists every method the
 * person completed in this sign-in (JSON: method, amr, time, provider,
 * upstream MFA), from which the level is computed at every step; `data`
 * holds methods' scratch values (e.g. a TOTP enrollment shown in the
 * sign-in). The old `amr` column stays filled (the flattened amr) and
 * `enroll_totp_id` is no longer used.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('mfa_login_states').addColumn('completed', 'text').execute();
  await db.schema.alterTable('mfa_login_states').addColumn('data', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('mfa_login_states').dropColumn('data').execute();
  await db.schema.alterTable('mfa_login_states').dropColumn('completed').execute();
}
