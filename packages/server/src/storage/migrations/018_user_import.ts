import type { Kysely } from 'kysely';

/**
 * Bulk import and activation (docs/users.md#import, #activation):
 *
 * - `user_import_jobs`: an import started through the admin API, with its
 *   uploaded file, options, progress and a checkpoint (the byte offset and
 *   line after the last committed batch, written in that batch's
 *   transaction), so a job interrupted by a crash resumes exactly there.
 * - `user_import_errors`: the per-row error report of a job.
 * - `activation_queue`: activation mails waiting to be sent at the
 *   configured rate; a row is queued in the transaction that creates the
 *   user and deleted once the mail is handed to the SMTP server.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('user_import_jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('format', 'text', (c) => c.notNull())
    // JSON: on_conflict, dry_run, send_activation, source.
    .addColumn('options', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('total_bytes', 'bigint', (c) => c.notNull())
    .addColumn('bytes_done', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('lines_done', 'bigint', (c) => c.notNull().defaultTo(0))
    // JSON: created, updated, unchanged, skipped, failed.
    .addColumn('counts', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('heartbeat_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('user_import_jobs_status').on('user_import_jobs').columns(['status', 'created_at']).execute();

  await db.schema
    .createTable('user_import_errors')
    .addColumn('job_id', 'text', (c) => c.notNull().references('user_import_jobs.id').onDelete('cascade'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('line', 'bigint', (c) => c.notNull())
    .addColumn('field', 'text')
    .addColumn('code', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('user_import_errors_pk', ['job_id', 'seq'])
    .execute();

  await db.schema
    .createTable('activation_queue')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('queued_at', 'bigint', (c) => c.notNull())
    .addColumn('not_before', 'bigint', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('claimed_at', 'bigint')
    .addColumn('last_error', 'text')
    .execute();
  await db.schema.createIndex('activation_queue_due').on('activation_queue').columns(['not_before', 'queued_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['activation_queue', 'user_import_errors', 'user_import_jobs']) await db.schema.dropTable(t).ifExists().execute();
}
