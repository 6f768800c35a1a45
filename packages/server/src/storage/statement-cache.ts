import type { Database as SqliteHandle, Statement } from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/** Distinct SQL texts kept prepared (Tessera issues a few hundred; a bound keeps ad-hoc SQL from growing it for good). */
export const STATEMENT_CACHE_SIZE = 1000;

/**
 * better-sqlite3 as Kysely's SQLite dialect sees it, with prepared
 * statements kept per SQL text. Kysely's driver calls `prepare` on every
 * query, and compiling the SQL each time was about 12 % of a refresh's CPU
 * (issue 20). A statement is reused unless it is `busy` (a streamed query is
 * still iterating it); then a fresh one is prepared and replaces it. SQLite
 * re-prepares a kept statement itself when the schema changes (migrations).
 * Oldest-first eviction past `max`.
 */
export function withStatementCache(db: SqliteHandle, max = STATEMENT_CACHE_SIZE): SqliteDatabase {
  const cache = new Map<string, Statement>();
  return {
    prepare(sql: string) {
      const kept = cache.get(sql);
      if (kept && !kept.busy) return kept;
      const stmt = db.prepare(sql);
      if (!kept && cache.size >= max) cache.delete(cache.keys().next().value!);
      cache.set(sql, stmt);
      return stmt;
    },
    close() {
      cache.clear();
      db.close();
    },
  };
}
