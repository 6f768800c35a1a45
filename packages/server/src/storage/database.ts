import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type { Database } from './schema.js';
import { latestMigration, migrationProvider } from './migrations/index.js';

export type Engine = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Database>;
  engine: Engine;
  /** Runs all pending migrations; safe to call at every start. */
  migrate(): Promise<void>;
  /** True when the store answers and every known migration has run. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** PostgreSQL only: the schema to use (created if missing). Tests use one per app for isolation. */
  schema?: string;
  /** PostgreSQL pool size. */
  poolSize?: number;
}

/**
 * Opens the store named by a `DATABASE_URL`: `sqlite:<path>` (the embedded
 * default, WAL mode) or `postgres://…`.
 * @throws Error when the URL names no supported engine.
 */
export function openStore(url: string, options: StoreOptions = {}): Store {
  if (url.startsWith('sqlite:')) return openSqlite(url.slice('sqlite:'.length));
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    // `?schema=NAME` selects a PostgreSQL schema (one database, several Tessera deployments or test runs).
    const parsed = new URL(url);
    const schema = parsed.searchParams.get('schema');
    if (schema) {
      parsed.searchParams.delete('schema');
      return openPostgres(parsed.toString(), { ...options, schema: options.schema ?? schema });
    }
    return openPostgres(url, options);
  }
  throw new Error(`DATABASE_URL must start with sqlite: or postgres:// (got "${url.split(':')[0]}:")`);
}

function openSqlite(path: string): Store {
  const file = path === ':memory:' ? path : resolve(path);
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const raw = new SQLite(file);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) });
  return finishStore(db, 'sqlite', async () => undefined);
}

function openPostgres(url: string, options: StoreOptions): Store {
  const schema = options.schema;
  if (schema && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    // bigint (int8) columns hold epoch milliseconds, well inside Number's safe range.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const prepare = async () => {
    if (schema) await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
    // Kysely's Migrator, unless told its schema, looks for kysely_migration(_lock) in *every*
    // schema of the database: one migrated schema (another app, another test) makes it skip
    // creating its tables in ours and fail. Name the schema the search_path resolves to.
    const { rows } = await sql<{ s: string | null }>`select current_schema() as s`.execute(db);
    return rows[0]?.s ?? undefined;
  };
  return finishStore(db, 'postgres', prepare);
}

function finishStore(db: Kysely<Database>, engine: Engine, prepare: () => Promise<string | undefined>): Store {
  return {
    db,
    engine,
    async migrate() {
      const migrationTableSchema = await prepare();
      // Unordered: features developed side by side add migrations with interleaved numbers; each
      // migration touches only its own tables, so a store that ran a later number first is still sound.
      const migrator = new Migrator({ db, provider: migrationProvider, migrationTableSchema, allowUnorderedMigrations: true });
      const { error, results } = await migrator.migrateToLatest();
      const failed = results?.find((r) => r.status === 'Error');
      if (error || failed) {
        throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${String((error as Error)?.message ?? error)}`);
      }
    },
    async ready() {
      try {
        const row = await db
          .selectFrom('kysely_migration' as never)
          .select(sql<string>`max(name)`.as('name'))
          .executeTakeFirst() as { name?: string } | undefined;
        return row?.name === latestMigration;
      } catch {
        return false;
      }
    },
    async close() {
      await db.destroy();
    },
  };
}
