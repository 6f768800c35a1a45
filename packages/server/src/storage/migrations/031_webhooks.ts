import type { Kysely } from 'kysely';

/**
 * Outbound webhooks and the one durable event model (docs/webhooks.md):
 * - Events are audit_log rows (their ids are time-ordered from now on,
 *   audit/journal.ts); `webhook_outbox` holds, per subscription, the events
 *   not yet handed to a delivery. Both are written in one transaction.
 * - `webhook_subscriptions`: a receiver per tenant; the signing secret is
 *   sealed with the key-encryption key (it must be recoverable to sign).
 * - `webhook_deliveries`: one signed POST (one event, or a batch), retried
 *   with back-off until delivered or dead; `attempts_log` is its history.
 * One instance at a time delivers: it holds the `webhook-delivery` lease
 * (table `leases`, migration 037, storage/leases.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('webhook_subscriptions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('events', 'text', (c) => c.notNull())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('interval_minutes', 'integer')
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('description', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhook_subscriptions_tenant').on('webhook_subscriptions').columns(['tenant_id', 'created_at']).execute();

  await db.schema
    .createTable('webhook_outbox')
    .addColumn('subscription_id', 'text', (c) => c.notNull().references('webhook_subscriptions.id').onDelete('cascade'))
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('webhook_outbox_pk', ['subscription_id', 'event_id'])
    .execute();

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('subscription_id', 'text', (c) => c.notNull().references('webhook_subscriptions.id').onDelete('cascade'))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('event_ids', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('replay', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('attempts_log', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('last_status', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('delivered_at', 'bigint')
    .execute();
  await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
  await db.schema.createIndex('webhook_deliveries_subscription').on('webhook_deliveries').columns(['subscription_id', 'created_at', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['webhook_deliveries', 'webhook_outbox', 'webhook_subscriptions']) await db.schema.dropTable(t).ifExists().execute();
}
