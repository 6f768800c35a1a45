import type { Kysely } from 'kysely';

/**
 * Inbound contact sync (inbound/, docs/webhooks.md#inbound-contact-sync):
 * - `inbound_sources`: a contact master declared per tenant (file or admin
 *   API): its Standard Webhooks signing secret sealed with the KEK (it must
 *   be recoverable to verify), an optional IP allowlist, and the mapping of
 *   its payload fields to Tessera's fields and attributes.
 * - `inbound_events`: the event ids a source's batches carried that were
 *   applied, with their result, so a batch sent again changes nothing.
 * - `inbound_contacts`: per contact (source, external id) the source's change
 *   time of the last change applied (older changes are skipped) and whether
 *   the contact was merged away or anonymized.
 * - `user_merges`: a merged user points to its survivor, so the loser's
 *   external ids resolve to the survivor.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('inbound_sources')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('ip_allowlist', 'text')
    .addColumn('mapping', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('inbound_sources_name').unique().on('inbound_sources').columns(['tenant_id', 'name']).execute();

  await db.schema
    .createTable('inbound_events')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('result', 'text', (c) => c.notNull())
    .addColumn('applied_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('inbound_events_pk', ['tenant_id', 'source', 'event_id'])
    .execute();

  await db.schema
    .createTable('inbound_contacts')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('external_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('changed_at', 'bigint', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('inbound_contacts_pk', ['tenant_id', 'source', 'external_id'])
    .execute();

  await db.schema
    .createTable('user_merges')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('survivor_id', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('merged_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('user_merges_survivor').on('user_merges').column('survivor_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['user_merges', 'inbound_contacts', 'inbound_events', 'inbound_sources']) await db.schema.dropTable(t).ifExists().execute();
}
