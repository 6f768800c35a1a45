import type { Kysely } from 'kysely';

/**
 * SMS sent per tenant, phone number and client IP (issue 22): the rate
 * limits on SMS hold across instances. Rows older than a day are deleted as
 * new ones are written (identity/phone-codes.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('sms_sends')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('phone', 'text', (c) => c.notNull())
    .addColumn('ip', 'text')
    .addColumn('at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('sms_sends_phone').on('sms_sends').columns(['tenant_id', 'phone', 'at']).execute();
  await db.schema.createIndex('sms_sends_ip').on('sms_sends').columns(['tenant_id', 'ip', 'at']).execute();
  await db.schema.createIndex('sms_sends_at').on('sms_sends').column('at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('sms_sends').execute();
}
