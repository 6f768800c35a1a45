import type { Kysely } from 'kysely';

/**
 * Self-service account: wrong guesses against a code (phone confirmation) are
 * counted on the code itself, so a 6-digit code cannot be brute-forced across
 * requests or instances.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('action_tokens').addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('action_tokens').dropColumn('attempts').execute();
}
