import type { Kysely } from 'kysely';

/**
 * User data (docs/users.md): a typed attribute schema per tenant, attribute
 * values on users, external ids (the user's id in another system), and when
 * an account without a password was activated.
 *
 * - Values live one row per (user, attribute), JSON text. A unique
 *   attribute's value is copied into `lookup`, under a unique index on
 *   (tenant, attribute, lookup): the index both enforces uniqueness (NULLs,
 *   the non-unique attributes, never collide on either engine) and answers
 *   "who has member_no 42" with one index probe at any number of users.
 * - External ids are keyed by (tenant, source, id), so `secutix:123` names
 *   at most one user per tenant and is found with one primary-key probe; a
 *   user has at most one id per source (unique (user, source)).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('attribute_definitions')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('required', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('unique_values', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('source', 'text')
    // JSON array of the allowed values of an enum.
    .addColumn('enum_values', 'text')
    .addColumn('account', 'text', (c) => c.notNull().defaultTo('hidden'))
    .addColumn('description', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('attribute_definitions_pk', ['tenant_id', 'name'])
    .execute();

  await db.schema
    .createTable('user_attributes')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('lookup', 'text')
    .addPrimaryKeyConstraint('user_attributes_pk', ['user_id', 'name'])
    .execute();
  await db.schema.createIndex('user_attributes_lookup').unique().on('user_attributes').columns(['tenant_id', 'name', 'lookup']).execute();

  await db.schema
    .createTable('user_external_ids')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('external_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('user_external_ids_pk', ['tenant_id', 'source', 'external_id'])
    .execute();
  await db.schema.createIndex('user_external_ids_user').unique().on('user_external_ids').columns(['user_id', 'source']).execute();

  await db.schema.alterTable('users').addColumn('activated_at', 'bigint').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('activated_at').execute();
  for (const t of ['user_external_ids', 'user_attributes', 'attribute_definitions']) await db.schema.dropTable(t).ifExists().execute();
}
