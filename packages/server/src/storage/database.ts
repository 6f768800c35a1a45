import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type SQLite from 'better-sqlite3';
import type pg from 'pg';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { withStatementCache } from './statement-cache.js';
import { flushWalInBackground } from './wal-flush.js';
import type { Database } from './schema.js';
import { latestMigration, migrationNames, migrationProvider } from './migrations/index.js';
import { allowDirectReads, allowDirectWrites, allowSyncReads, allowSyncWrites } from './sync-reads.js';
import { discardingBrokenClients, GuardedDialect } from './guard.js';
import { withCatalogueNames } from './catalogue-names.js';
import { DatabaseUnavailableError, isUnavailable, mapUnavailable } from './availability.js';
import { namedStatements } from './pg-named.js';
import { requireOnUse } from '../startup/lazy.js';

// Only the driver of the configured engine is loaded (issue 20: pg cost ~60 ms of every SQLite start).
const sqliteDriver = requireOnUse<typeof SQLite>('better-sqlite3');
const pgDriver = requireOnUse<typeof pg>('pg');

export type Engine = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Database>;
  engine: Engine;
  /** Runs all pending migrations; safe to call at every start. */
  migrate(): Promise<void>;
  /** True when the store answers and every known migration has run. */
  ready(): Promise<boolean>;
  /**
   * Why the store is not ready (`database_unavailable`, `migrations_pending`),
   * or undefined when it is; answers within `READY_TIMEOUT_MS`.
   */
  readiness(): Promise<'database_unavailable' | 'migrations_pending' | undefined>;
  /**
   * Where connection-level errors go (a terminated backend, a reset socket):
   * they are handled, never thrown, and the pool replaces the connection.
   * Default: one line on stderr.
   */
  onConnectionError(listener: (err: Error) => void): void;
  close(): Promise<void>;
}

/** SQLite: pages written to the WAL between two automatic checkpoints (SQLite's default: 1 000). */
export const SQLITE_WAL_CHECKPOINT_PAGES = 5_000;
/** Default for `StoreOptions.timeoutMs`. */
export const DEFAULT_DB_TIMEOUT_MS = 10_000;
/** /readyz answers within this, whatever the database does (orchestrators' probes time out after a few seconds). */
export const READY_TIMEOUT_MS = 2_000;

export interface StoreOptions {
  /** PostgreSQL only: the schema to use (created if missing). Tests use one per app for isolation. */
  schema?: string;
  /** PostgreSQL pool size. */
  poolSize?: number;
  /**
   * The longest a query waits for the database. PostgreSQL: for a connection
   * (a free one from the pool, or a new one), and for one statement to run
   * (`statement_timeout`; the client gives up 2 s after that if the server
   * does not answer at all); migrations are exempt. SQLite: for the write
   * lock another process (the CLI) holds. Default 10 000 ms.
   */
  timeoutMs?: number;
  /**
   * PostgreSQL only: the hot statements as server-side prepared statements
   * (pg-named.ts). Default true; `?prepared_statements=false` in the URL
   * turns them off (a pooler that cannot carry them turns them off by itself).
   */
  preparedStatements?: boolean;
}

/**
 * Opens the store named by a `DATABASE_URL`: `sqlite:<path>` (the embedded
 * default, WAL mode) or `postgres://…`.
 * @throws Error when the URL names no supported engine.
 */
export function openStore(url: string, options: StoreOptions = {}): Store {
  if (url.startsWith('sqlite:')) return openSqlite(url.slice('sqlite:'.length), options);
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    // `?schema=NAME` selects a PostgreSQL schema (one database, several Tessera deployments or test runs).
    // `?prepared_statements=false` turns the named statements off (pg-named.ts).
    const parsed = new URL(url);
    const schema = parsed.searchParams.get('schema');
    const prepared = parsed.searchParams.get('prepared_statements');
    if (prepared !== null && prepared !== 'true' && prepared !== 'false') throw new Error(`DATABASE_URL: prepared_statements must be true or false (got "${prepared}")`);
    if (schema || prepared !== null) {
      parsed.searchParams.delete('schema');
      parsed.searchParams.delete('prepared_statements');
      return openPostgres(parsed.toString(), { ...options, schema: options.schema ?? (schema || undefined), preparedStatements: options.preparedStatements ?? (prepared === null ? undefined : prepared === 'true') });
    }
    return openPostgres(url, options);
  }
  throw new Error(`DATABASE_URL must start with sqlite: or postgres:// (got "${url.split(':')[0]}:")`);
}

function openSqlite(path: string, options: StoreOptions): Store {
  const file = path === ':memory:' ? path : resolve(path);
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const raw = new (sqliteDriver())(file);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('foreign_keys = ON');
  // Short: better-sqlite3 waits synchronously (the event loop stands still); longer waits are asynchronous retries (guard.ts).
  raw.pragma('busy_timeout = 50');
  // The WAL is copied back into the file (a checkpoint, with an fsync) every SQLITE_WAL_CHECKPOINT_PAGES
  // pages instead of SQLite's 1 000: a refresh writes about 8 pages in two commits, and a checkpoint
  // copies each page changed since the last once, however often it changed. Refresh CPU 0.91 paired
  // (docs/performance.md); the WAL file grows to about 20 MiB instead of 4.
  raw.pragma(`wal_autocheckpoint = ${SQLITE_WAL_CHECKPOINT_PAGES}`);
  // Prepared statements kept per SQL text (statement-cache.ts): Kysely's driver would compile every query anew.
  const statements = withStatementCache(raw);
  const dialect = new GuardedDialect(new SqliteDialect({ database: statements }), { waitMs: options.timeoutMs ?? DEFAULT_DB_TIMEOUT_MS });
  const db = new Kysely<Database>({ dialect });
  // The hot lookups and token writes run synchronously while the connection is free (sync-reads.ts).
  allowSyncReads(db, (sql, parameters) => {
    if (!dialect.connectionIdle()) return undefined;
    const statement = statements.prepare(sql);
    return statement.reader ? statement.all(parameters) as unknown[] : undefined;
  });
  allowSyncWrites(db, (sql, parameters) => {
    if (!dialect.connectionIdle()) return undefined;
    const statement = statements.prepare(sql);
    return statement.reader ? undefined : Number(statement.run(parameters).changes);
  });
  const errors = connectionErrors();
  // The WAL reaches the disk between checkpoints, so a checkpoint's sync of it no longer stops the event loop (wal-flush.ts).
  const walFlush = file === ':memory:' ? undefined : flushWalInBackground(raw, `${file}-wal`);
  return finishStore({ db, migrationDb: db, engine: 'sqlite', prepare: async () => undefined, errors, onClose: () => walFlush?.stop() });
}

function openPostgres(url: string, options: StoreOptions): Store {
  const pg = pgDriver();
  const schema = options.schema;
  if (schema && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
  const timeout = options.timeoutMs ?? DEFAULT_DB_TIMEOUT_MS;
  const errors = connectionErrors();
  const poolConfig = (extra: pg.PoolConfig): pg.PoolConfig => ({
    connectionString: url,
    application_name: 'tessera',
    // bigint (int8) columns hold epoch milliseconds, well inside Number's safe range.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
    // TCP keep-alive notices a peer that vanished without closing (a failover, a dropped NAT entry).
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
    ...extra,
  });
  // Bounded waits: a request during an outage fails within `timeout` (503) instead of hanging.
  const pool = new pg.Pool(poolConfig({
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: timeout,
    statement_timeout: timeout,
    query_timeout: timeout + 2_000,
    // A transaction left open by a stuck request must not hold locks for long.
    idle_in_transaction_session_timeout: Math.max(60_000, timeout),
  }));
  watch(pool, errors);
  const pooled = discardingBrokenClients(pool);
  const db = new Kysely<Database>({ dialect: new GuardedDialect(new PostgresDialect({ pool: pooled as never })) });
  // The hot lookups and token writes compiled once (storage/compiled.ts) run without Kysely's pipeline (sync-reads.ts),
  // as server-side prepared statements (pg-named.ts).
  const named = namedStatements({
    enabled: options.preparedStatements ?? true,
    onDisabled: (reason) => process.stderr.write(`tessera: prepared statements turned off: the database (or a pooler in front of it) refused one: ${reason}\n`),
  });
  const direct = async (text: string, parameters: readonly unknown[]): Promise<pg.QueryResult> => {
    const client = await pooled.connect().catch((err: unknown) => {
      throw err instanceof DatabaseUnavailableError ? err : new DatabaseUnavailableError(err);
    });
    try {
      return await named.query(client, text, parameters) as pg.QueryResult;
    } catch (err) {
      return mapUnavailable(err);
    } finally {
      client.release();
    }
  };
  allowDirectReads(db, async (text, parameters) => (await direct(text, parameters)).rows as unknown[]);
  allowDirectWrites(db, async (text, parameters) => (await direct(text, parameters)).rowCount ?? 0);
  const prepare = async (target: Kysely<Database>) => {
    if (schema) await sql`create schema if not exists ${sql.id(schema)}`.execute(target);
    // Kysely's Migrator, unless told its schema, looks for kysely_migration(_lock) in *every*
    // schema of the database: one migrated schema (another app, another test) makes it skip
    // creating its tables in ours and fail. Name the schema the search_path resolves to.
    const { rows } = await sql<{ s: string | null }>`select current_schema() as s`.execute(target);
    return rows[0]?.s ?? undefined;
  };
  // Migrations may rewrite large tables: they get their own connection without the statement timeout.
  const migrationDb = () => {
    const migrationPool = new pg.Pool(poolConfig({ max: 1, connectionTimeoutMillis: timeout }));
    watch(migrationPool, errors);
    // Kysely's Migrator introspects the catalogue: by name only (catalogue-names.ts), so another schema dropped meanwhile cannot fail it.
    return new Kysely<Database>({ dialect: withCatalogueNames(new GuardedDialect(new PostgresDialect({ pool: migrationPool }))) });
  };
  return finishStore({ db, migrationDb, engine: 'postgres', prepare, errors });
}

interface ConnectionErrors {
  emit(err: Error): void;
  listener: (err: Error) => void;
}

function connectionErrors(): ConnectionErrors {
  const state: ConnectionErrors = {
    listener: (err) => process.stderr.write(`tessera: database connection error: ${err.message}\n`),
    emit: (err) => {
      try {
        state.listener(err);
      } catch {
        // a failing logger must not turn a handled error into a crash
      }
    },
  };
  return state;
}

/**
 * node-postgres emits `error` on a pool (idle client) and on each client
 * (also while checked out) when the server ends the connection: a restart,
 * a failover, `pg_terminate_backend`, a proxy dropping idle connections.
 * An `error` event nobody listens to is thrown by Node and ends the
 * process; with these listeners the error is logged, the query that was
 * running fails (DatabaseUnavailableError → 503), and the pool replaces
 * the connection on the next request.
 */
function watch(pool: pg.Pool, errors: ConnectionErrors): void {
  pool.on('connect', (client) => client.on('error', (err) => errors.emit(err)));
  // The client's own listener (above) has logged it already.
  pool.on('error', () => {});
}

interface StoreParts {
  db: Kysely<Database>;
  /** The database migrations run on (PostgreSQL: a connection without the statement timeout, made when needed). */
  migrationDb: Kysely<Database> | (() => Kysely<Database>);
  engine: Engine;
  prepare: (db: Kysely<Database>) => Promise<string | undefined>;
  errors: ConnectionErrors;
  /** Stops what runs beside the connection (SQLite's WAL flushes), before it closes. */
  onClose?: () => void;
}

function finishStore({ db, migrationDb, engine, prepare, errors, onClose }: StoreParts): Store {
  const readiness = async (): Promise<'database_unavailable' | 'migrations_pending' | undefined> => {
    const check = (async () => {
      try {
        const row = await db
          .selectFrom('kysely_migration' as never)
          .select(sql<string>`max(name)`.as('name'))
          .executeTakeFirst() as { name?: string } | undefined;
        return row?.name === latestMigration ? undefined : 'migrations_pending' as const;
      } catch (err) {
        // No migration table yet is "pending"; anything else (unreachable, locked) is "unavailable".
        return isUnavailable(err) ? 'database_unavailable' as const : 'migrations_pending' as const;
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'database_unavailable'>((resolve) => {
      timer = setTimeout(() => resolve('database_unavailable'), READY_TIMEOUT_MS);
    });
    try {
      return await Promise.race([check, late]);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    db,
    engine,
    async migrate() {
      if (await upToDate(db)) return;
      const target = typeof migrationDb === 'function' ? migrationDb() : migrationDb;
      try {
        const migrationTableSchema = await prepare(target);
        // Unordered: features developed side by side add migrations with interleaved numbers; each
        // migration touches only its own tables, so a store that ran a later number first is still sound.
        // Names compared by code unit (they start with unique numbers): Kysely's default, localeCompare,
        // loads ICU's collation data at every start, about 2 MiB of resident memory (issue 20).
        const migrator = new Migrator({
          db: target, provider: migrationProvider, migrationTableSchema, allowUnorderedMigrations: true, nameComparator: byCodeUnit,
        });
        const { error, results } = await migrator.migrateToLatest();
        const failed = results?.find((r) => r.status === 'Error');
        if (error || failed) {
          throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${String((error as Error)?.message ?? error)}`);
        }
      } finally {
        if (target !== db) await target.destroy();
      }
    },
    async ready() {
      return (await readiness()) === undefined;
    },
    readiness,
    onConnectionError(listener) {
      errors.listener = listener;
    },
    async close() {
      onClose?.();
      await db.destroy();
    },
  };
}

/**
 * True when the database has run exactly this version's migrations: every
 * start then skips Kysely's Migrator, which reads the whole schema's
 * catalogue (every table and column, twice) to find its own two tables, and
 * takes its lock in a transaction; on PostgreSQL it also opens a connection
 * of its own. Anything else (no migration table, one missing, one this
 * version does not know, an error other than an outage) goes to the Migrator, which applies,
 * waits for another instance's run, or refuses as before (issue 20).
 */
async function upToDate(db: Kysely<Database>): Promise<boolean> {
  try {
    const rows = await db.selectFrom('kysely_migration' as never).select(sql<string>`name`.as('name')).execute() as { name: string }[];
    return rows.length === migrationNames.size && rows.every((r) => migrationNames.has(r.name));
  } catch (err) {
    // An outage fails the start now, as the Migrator would after waiting for it once more.
    if (err instanceof DatabaseUnavailableError) throw err;
    return false;
  }
}

/** Plain string order (migration names are ASCII with unique numeric prefixes). */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
