import { SqliteAdapter, sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Registration: an invitation is an action token (purpose `invite`) sent to
 * an email address that has no account yet, so `action_tokens.user_id`
 * becomes nullable. PostgreSQL drops the constraint in place; SQLite cannot
 * alter a column, so the table is rebuilt (same columns, same index) in one
 * transaction.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) {
    await sql`alter table action_tokens alter column user_id drop not null`.execute(db);
    return;
  }
  await db.transaction().execute(async (trx) => {
    await sql`create table action_tokens_new (
      id text primary key,
      user_id text references users(id) on delete cascade,
      tenant_id text not null,
      purpose text not null,
      target text,
      created_at bigint not null,
      expires_at bigint not null,
      used_at bigint
    )`.execute(trx);
    await sql`insert into action_tokens_new (id, user_id, tenant_id, purpose, target, created_at, expires_at, used_at)
      select id, user_id, tenant_id, purpose, target, created_at, expires_at, used_at from action_tokens`.execute(trx);
    await sql`drop table action_tokens`.execute(trx);
    await sql`alter table action_tokens_new rename to action_tokens`.execute(trx);
    await sql`create index action_tokens_user on action_tokens (user_id, purpose, created_at)`.execute(trx);
  });
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Invitations have no user; they go before the column can be required again.
  await sql`delete from action_tokens where user_id is null`.execute(db);
  if (!(db.getExecutor().adapter instanceof SqliteAdapter)) {
    await sql`alter table action_tokens alter column user_id set not null`.execute(db);
  }
}
