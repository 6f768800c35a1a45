import type { Kysely } from 'kysely';

/**
 * `session_meta.signed_in_tenant`: the tenant the platform session last
 * signed in to (the client's tenant of the authorization request whose own
 * sign-in made or replaced the session). A member of another tenant who signed
 * in to tenant B keeps single sign-on between B's clients
 * (oidc/tenant-policy.ts; docs/identity.md#memberships-in-other-tenants).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('session_meta').addColumn('signed_in_tenant', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('session_meta').dropColumn('signed_in_tenant').execute();
}
