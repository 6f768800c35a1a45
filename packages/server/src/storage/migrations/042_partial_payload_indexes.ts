import type { Kysely } from 'kysely';
import { sql } from 'kysely';

/**
 * The protocol engine's table (`oidc_payloads`) is written on every token
 * request, and each row it writes updates every index of the table. Most rows
 * are tokens: they have no `uid` or `user_code`, client-credentials tokens and
 * interactions have no `grant_id`, and client-credentials tokens no
 * `account_id`. Those four indexes now hold only the rows with a value
 * (`where … is not null`): a token row updates three B-trees fewer. The
 * grant index also takes the model: a grant row now keeps its own id in
 * `grant_id`, and a token's find reads its grant through it.
 * Every lookup through them compares the column with `=` or `in`, which
 * implies `is not null`, so SQLite and PostgreSQL still use them (issue 20,
 * docs/performance.md#partial-indexes-on-the-token-table-fourth-session-of-2026-12-07).
 */
const PARTIAL: readonly [name: string, columns: string[], column: string, before: string[]][] = [
  // With the model: a token's find reads its grant by `model = 'Grant' and grant_id = …` (oidc/payload-finds.ts).
  ['oidc_payloads_grant', ['grant_id', 'model'], 'grant_id', ['grant_id']],
  ['oidc_payloads_uid', ['model', 'uid'], 'uid', ['model', 'uid']],
  ['oidc_payloads_user_code', ['model', 'user_code'], 'user_code', ['model', 'user_code']],
  ['oidc_payloads_account', ['account_id', 'model'], 'account_id', ['account_id', 'model']],
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const [name, columns, column] of PARTIAL) {
    await db.schema.dropIndex(name).execute();
    await db.schema.createIndex(name).on('oidc_payloads').columns(columns).where(sql.ref(column), 'is not', null).execute();
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const [name, , , before] of PARTIAL) {
    await db.schema.dropIndex(name).execute();
    await db.schema.createIndex(name).on('oidc_payloads').columns(before).execute();
  }
}
