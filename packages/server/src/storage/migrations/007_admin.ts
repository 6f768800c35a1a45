import { SqliteAdapter, sql } from 'kysely';
import type { Kysely } from 'kysely';
import { nameKeys } from '../../identity/model.js';

/**
 * Admin APIs (docs/admin.md):
 *
 * - `version` on users, tenants, clients and APIs: bumped by every write the
 *   admin API makes (and by the repositories' profile/upsert writes), so an
 *   `If-Match` edit is one conditional UPDATE (`where version = ?`): two
 *   concurrent edits cannot both win.
 * - User search that stays fast at a million users: keyset pagination over
 *   (tenant, created_at, id) and (tenant, status, created_at, id), and a name
 *   prefix search over two derived, normalised columns ("family given" and
 *   "given family", maintained by the user repository) queried as a range
 *   (`>= prefix and < successor(prefix)`), never `LIKE`: SQLite uses an index
 *   for LIKE only under case-sensitive or NOCASE rules that do not match
 *   Unicode lower-casing, and PostgreSQL only with `text_pattern_ops` or the C
 *   collation. On PostgreSQL the two columns use the "C" collation, so the
 *   range is a byte range there as it is in SQLite (a linguistic collation
 *   may order "ali-x" outside ["ali", "alj")).
 * - A client's previous secret and when it stops working: secret rotation
 *   keeps the old one valid for an overlap window.
 * - Audit log queries by tenant and by actor.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
  const binaryText = sqlite ? sql`text` : sql`text collate "C"`;

  for (const table of ['users', 'tenants', 'clients', 'apis']) {
    await db.schema.alterTable(table).addColumn('version', 'integer', (c) => c.notNull().defaultTo(1)).execute();
  }
  await db.schema.alterTable('users').addColumn('name_family_first', binaryText).execute();
  await db.schema.alterTable('users').addColumn('name_given_first', binaryText).execute();
  await backfillNameKeys(db);

  await db.schema.createIndex('users_tenant_created').on('users').columns(['tenant_id', 'created_at', 'id']).execute();
  await db.schema.createIndex('users_tenant_status_created').on('users').columns(['tenant_id', 'status', 'created_at', 'id']).execute();
  await db.schema.createIndex('users_tenant_name_ff').on('users').columns(['tenant_id', 'name_family_first', 'id']).execute();
  // With the family-first key too: the given-first branch skips users the family-first branch already returned
  // without reading their rows (search.ts).
  await db.schema.createIndex('users_tenant_name_gf').on('users').columns(['tenant_id', 'name_given_first', 'id', 'name_family_first']).execute();

  await db.schema.alterTable('clients').addColumn('previous_secret_hash', 'text').execute();
  await db.schema.alterTable('clients').addColumn('previous_secret_expires_at', 'bigint').execute();

  // With the id: the query orders by (at, id) for its keyset cursor.
  await db.schema.createIndex('audit_log_tenant').on('audit_log').columns(['tenant_id', 'at', 'id']).execute();
  await db.schema.createIndex('audit_log_actor').on('audit_log').columns(['actor_id', 'at', 'id']).execute();
}

/** Existing users get their name keys (computed in JS: SQL lower() is ASCII-only in SQLite and has no NFKC). */
async function backfillNameKeys(db: Kysely<unknown>): Promise<void> {
  const users = db as unknown as Kysely<{ users: { id: string; given_name: string | null; family_name: string | null; name_family_first: string | null; name_given_first: string | null } }>;
  let after = '';
  for (;;) {
    const rows = await users.selectFrom('users').select(['id', 'given_name', 'family_name'])
      .where('id', '>', after).orderBy('id').limit(1000).execute();
    if (!rows.length) return;
    for (const r of rows) {
      if (r.given_name === null && r.family_name === null) continue;
      const keys = nameKeys(r.given_name, r.family_name);
      await users.updateTable('users').set({ name_family_first: keys.familyFirst, name_given_first: keys.givenFirst }).where('id', '=', r.id).execute();
    }
    after = rows.at(-1)!.id;
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const index of ['audit_log_actor', 'audit_log_tenant', 'users_tenant_name_gf', 'users_tenant_name_ff', 'users_tenant_status_created', 'users_tenant_created']) {
    await db.schema.dropIndex(index).ifExists().execute();
  }
  await db.schema.alterTable('clients').dropColumn('previous_secret_expires_at').execute();
  await db.schema.alterTable('clients').dropColumn('previous_secret_hash').execute();
  await db.schema.alterTable('users').dropColumn('name_given_first').execute();
  await db.schema.alterTable('users').dropColumn('name_family_first').execute();
  for (const table of ['apis', 'clients', 'tenants', 'users']) await db.schema.alterTable(table).dropColumn('version').execute();
}
