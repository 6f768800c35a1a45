import type { Kysely } from 'kysely';

/**
 * SAML service-provider keys (federation/saml/keys.ts, docs/directories.md#saml):
 * per provider alias, the RSA key Tessera signs AuthnRequests with and the one
 * IdPs encrypt assertions to, each with its self-signed certificate (published
 * in the SP metadata). Generated on first use; private keys encrypted with the KEK.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('saml_sp_keys')
    .addColumn('alias', 'text', (c) => c.primaryKey())
    .addColumn('signing_key', 'text', (c) => c.notNull())
    .addColumn('signing_certificate', 'text', (c) => c.notNull())
    .addColumn('encryption_key', 'text', (c) => c.notNull())
    .addColumn('encryption_certificate', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('saml_sp_keys').execute();
}
