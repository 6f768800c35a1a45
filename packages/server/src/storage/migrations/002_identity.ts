import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Identity features: tenant policies, memberships, lockout state, single-use
 * action tokens (confirmation, reset), the audit log, the development outbox,
 * and the account a protocol artefact belongs to (for "sign out everywhere").
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tenants').addColumn('policy', 'text', (c) => c.notNull().defaultTo('{}')).execute();

  await db.schema.alterTable('users').addColumn('failed_logins', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('users').addColumn('failed_window_start', 'bigint').execute();
  await db.schema.alterTable('users').addColumn('locked_until', 'bigint').execute();
  await db.schema.alterTable('users').addColumn('password_changed_at', 'bigint').execute();
  await db.schema.alterTable('users').addColumn('locale', 'text').execute();

  await db.schema
    .createTable('memberships')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('memberships_pk', ['user_id', 'tenant_id'])
    .execute();
  await db.schema.createIndex('memberships_tenant').on('memberships').column('tenant_id').execute();
  // Every existing user is a member of their home tenant.
  await sql`insert into memberships (user_id, tenant_id, created_at) select id, tenant_id, created_at from users`.execute(db);

  await db.schema
    .createTable('action_tokens')
    // SHA-256 of the token: the token itself is only ever in the message sent to the user.
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('target', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .execute();
  await db.schema.createIndex('action_tokens_user').on('action_tokens').columns(['user_id', 'purpose', 'created_at']).execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('tenant_id', 'text')
    .addColumn('actor_id', 'text')
    .addColumn('subject_id', 'text')
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('details', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_log_subject').on('audit_log').columns(['subject_id', 'at']).execute();
  await db.schema.createIndex('audit_log_action').on('audit_log').columns(['action', 'at']).execute();
  await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();

  await db.schema
    .createTable('dev_outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('recipient', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('dev_outbox_at').on('dev_outbox').column('at').execute();

  await db.schema
    .createTable('session_meta')
    // Device details of an engine session (the engine keeps none): shown on the account's sessions page.
    .addColumn('sid', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('user_agent', 'text')
    .addColumn('ip', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('session_meta_account').on('session_meta').column('account_id').execute();

  await db.schema.alterTable('oidc_payloads').addColumn('account_id', 'text').execute();
  await db.schema.createIndex('oidc_payloads_account').on('oidc_payloads').columns(['account_id', 'model']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['session_meta', 'dev_outbox', 'audit_log', 'action_tokens', 'memberships']) await db.schema.dropTable(t).ifExists().execute();
}
