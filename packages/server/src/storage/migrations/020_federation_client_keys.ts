import type { Kysely } from 'kysely';

/**
 * Federation client keys (federation/client-keys.ts, docs/federation.md#private_key_jwt):
 * the keys Tessera signs `private_key_jwt` client assertions with at an
 * upstream's token endpoint, per provider alias. Generated on first use;
 * the private JWK encrypted with the KEK, the public one published at
 * `/federation/{alias}/jwks`. A rotation adds an `active` key and keeps the
 * previous one published (`retiring`) until `retire_at`, so an upstream
 * that cached the old JWKS still accepts assertions while it refetches.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('federation_client_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('alias', 'text', (c) => c.notNull())
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('private_jwk', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('retire_at', 'bigint')
    .execute();
  await db.schema.createIndex('federation_client_keys_alias').on('federation_client_keys').columns(['alias', 'status']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('federation_client_keys').execute();
}
