import type { Kysely } from 'kysely';

/**
 * Federated logout (federation/logout.ts, docs/federation.md#federated-logout):
 * which Tessera session an upstream sign-in made, with the upstream's `sub`
 * and `sid` (what its back-channel logout tokens name) and, encrypted with
 * the KEK, its ID token (the `id_token_hint` of the upstream end-session
 * request); and the `jti` of the logout tokens already used (replay). Also
 * what an approval request is for (link_requests.approval_kind: `link` of an
 * existing account, or a JIT `account`), which the admin queue shows and acts on.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('federated_sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('provider', 'text', (c) => c.notNull())
    // Set when the sign-in finishes as this user; until then the row waits under the engine interaction.
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('interaction_uid', 'text')
    // The engine Session's uid, once the interaction resumed into a session.
    .addColumn('session_uid', 'text')
    .addColumn('upstream_sub', 'text', (c) => c.notNull())
    .addColumn('upstream_sid', 'text')
    .addColumn('id_token', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('federated_sessions_session').on('federated_sessions').columns(['session_uid']).execute();
  await db.schema.createIndex('federated_sessions_interaction').on('federated_sessions').columns(['interaction_uid']).execute();
  await db.schema.createIndex('federated_sessions_sub').on('federated_sessions').columns(['provider', 'upstream_sub']).execute();
  await db.schema.createIndex('federated_sessions_sid').on('federated_sessions').columns(['provider', 'upstream_sid']).execute();

  await db.schema
    .createTable('federation_logout_jtis')
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('jti', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('federation_logout_jtis_pk', ['provider', 'jti'])
    .execute();

  await db.schema.alterTable('link_requests').addColumn('approval_kind', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('link_requests').dropColumn('approval_kind').execute();
  await db.schema.dropTable('federation_logout_jtis').execute();
  await db.schema.dropTable('federated_sessions').execute();
}
