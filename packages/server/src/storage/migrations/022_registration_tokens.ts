import type { Kysely } from 'kysely';

/**
 * Dynamic client registration (RFC 7591; docs/b2b.md#dynamic-client-registration):
 * `registration_tokens` holds the initial access tokens administrators hand
 * out, per tenant. Only a SHA-256 digest of each token is stored (the token
 * is 256 random bits, so a fast digest suffices); the token itself is shown
 * once. A revoked or expired row no longer admits registrations. `scope`:
 * the API scopes clients registered with the token may obtain (the
 * registrant cannot choose API scopes itself).
 * `registered_clients`: which clients were registered dynamically, by which
 * token, in which tenant: the per-tenant quota counts them (joined with
 * `clients`, so a client deleted any way stops counting).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('registration_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text')
    .addColumn('scope', 'text')
    .addColumn('max_uses', 'integer')
    .addColumn('uses', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema.createIndex('registration_tokens_tenant').on('registration_tokens').column('tenant_id').execute();

  await db.schema
    .createTable('registered_clients')
    .addColumn('client_id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('token_id', 'text')
    .addColumn('registered_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('registered_clients_tenant').on('registered_clients').column('tenant_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('registered_clients').execute();
  await db.schema.dropTable('registration_tokens').execute();
}
