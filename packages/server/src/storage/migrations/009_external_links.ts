import type { Kysely } from 'kysely';

/**
 * Links between a Tessera user and an account at an external identity
 * provider (federation: OIDC, SAML, LDAP). A provider's subject is linked to
 * at most one user per tenant; a user may have several links. Deleting the
 * user deletes the links.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('external_links')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    // The identity provider's alias as configured (e.g. `google`, `corp-adfs`).
    .addColumn('provider', 'text', (c) => c.notNull())
    // The provider's stable subject identifier (OIDC `sub`, SAML NameID, LDAP entryUUID).
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // What the provider said the address was when the link was made: shown to administrators, never trusted for sign-in.
    .addColumn('email', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .addPrimaryKeyConstraint('external_links_pk', ['tenant_id', 'provider', 'subject'])
    .execute();
  await db.schema.createIndex('external_links_user').on('external_links').columns(['user_id', 'provider']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('external_links').execute();
}
