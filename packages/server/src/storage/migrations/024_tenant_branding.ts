import type { Kysely } from 'kysely';

/**
 * A tenant's branding (issue 19): the name shown on its pages, colours,
 * page texts and the authenticator-app issuer name as JSON settings, and its
 * logo, favicon and stylesheet, served by Tessera itself (/branding/…) so
 * the pages' CSP stays `'self'`. One row per tenant; it goes with the tenant.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('tenant_branding')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id').onDelete('cascade'))
    // name, colors, authenticator_issuer, texts (branding/model.ts), JSON text.
    .addColumn('settings', 'text', (c) => c.notNull())
    // Images as base64 text with their media type (one schema for both engines: no bytea/blob split).
    .addColumn('logo', 'text')
    .addColumn('logo_type', 'text')
    .addColumn('favicon', 'text')
    .addColumn('favicon_type', 'text')
    .addColumn('stylesheet', 'text')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('tenant_branding').execute();
}
