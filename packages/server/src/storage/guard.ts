import { CompiledQuery } from 'kysely';
import type { DatabaseConnection, Dialect, Driver, Kysely, QueryCompiler, QueryResult, TransactionSettings } from 'kysely';
import type pg from 'pg';
import { DatabaseUnavailableError, mapUnavailable, isUnavailable } from './availability.js';

/**
 * Wraps a Kysely dialect so that every driver error meaning "the database is
 * unavailable" (availability.ts) leaves the storage layer as a
 * DatabaseUnavailableError, whichever engine and whichever query raised it.
 * On SQLite, transactions start with BEGIN IMMEDIATE: a deferred transaction
 * that reads and then writes while another process (the CLI) commits fails
 * at once with SQLITE_BUSY_SNAPSHOT, where IMMEDIATE waits its busy_timeout
 * for the write lock instead.
 */
export class GuardedDialect implements Dialect {
  private driver: GuardedDriver | undefined;

  constructor(private readonly inner: Dialect, private readonly sqlite?: SqliteBusyPolicy) {}

  createDriver(): Driver {
    return (this.driver = new GuardedDriver(this.inner.createDriver(), this.sqlite));
  }

  /**
   * True when the driver exists and no query or transaction holds its
   * connection (SQLite has one, lent out under a lock): a statement run
   * synchronously now cannot interleave with anyone's transaction
   * (storage/sync-reads.ts).
   */
  connectionIdle(): boolean {
    return this.driver !== undefined && this.driver.held === 0;
  }

  createQueryCompiler(): QueryCompiler {
    return this.inner.createQueryCompiler();
  }

  createAdapter() {
    return this.inner.createAdapter();
  }

  createIntrospector(db: Kysely<unknown>) {
    return this.inner.createIntrospector(db);
  }
}

/**
 * SQLite (one file, one writer at a time): when another process holds the
 * write lock, a statement outside a transaction, or BEGIN IMMEDIATE, is
 * retried after short *asynchronous* pauses until `waitMs` has passed.
 * better-sqlite3 is synchronous, so its own busy_timeout blocks the whole
 * event loop (health checks included) while it waits; the driver keeps that
 * one short and waits here instead.
 */
export interface SqliteBusyPolicy {
  waitMs: number;
}

const isBusy = (err: unknown) => /^SQLITE_BUSY/.test(String((err as { code?: unknown })?.code ?? ''));
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class GuardedConnection implements DatabaseConnection {
  /** True between BEGIN and COMMIT/ROLLBACK: a statement inside a transaction is never retried on its own. */
  inTransaction = false;

  /**
   * @param yieldTurn SQLite: lets other queries of this process use the one
   *   connection while this one pauses (reads are not blocked by another
   *   process's write lock in WAL mode), and takes it back.
   */
  constructor(readonly inner: DatabaseConnection, private readonly sqlite?: SqliteBusyPolicy, private readonly yieldTurn?: () => Promise<void>) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const deadline = Date.now() + (this.sqlite?.waitMs ?? 0);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.inner.executeQuery<R>(query);
      } catch (err) {
        // A statement that met SQLITE_BUSY did nothing, so running it again is safe (outside a transaction).
        if (this.sqlite && !this.inTransaction && isBusy(err) && Date.now() < deadline) {
          const wait = pause(Math.min(200, 10 * 2 ** Math.min(attempt, 5)));
          await (this.yieldTurn ? this.yieldTurn().then(() => wait) : wait);
          continue;
        }
        return mapUnavailable(err);
      }
    }
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

class GuardedDriver implements Driver {
  private readonly wrapped = new WeakMap<DatabaseConnection, GuardedConnection>();
  /** Connections lent out and not yet released (acquireConnection to releaseConnection). */
  held = 0;

  constructor(private readonly inner: Driver, private readonly sqlite?: SqliteBusyPolicy) {}

  init(): Promise<void> {
    return this.inner.init().catch(mapUnavailable);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    // Whatever stops us getting a connection (refused, not accepting connections, timed out) is an outage.
    const connection = await this.inner.acquireConnection().catch((err) => {
      throw err instanceof DatabaseUnavailableError ? err : new DatabaseUnavailableError(err);
    });
    this.held++;
    let guarded = this.wrapped.get(connection);
    if (!guarded) {
      const inner = connection;
      const yieldTurn = this.sqlite ? async () => {
        await this.inner.releaseConnection(inner);
        await pause(0);
        await this.inner.acquireConnection();
      } : undefined;
      guarded = new GuardedConnection(connection, this.sqlite, yieldTurn);
      this.wrapped.set(connection, guarded);
    }
    return guarded;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    if (this.sqlite) {
      // Retried while busy (see GuardedConnection), then the lock is ours until COMMIT.
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    } else {
      await this.inner.beginTransaction(unwrap(connection), settings).catch(mapUnavailable);
    }
    if (connection instanceof GuardedConnection) connection.inTransaction = true;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await this.inner.commitTransaction(unwrap(connection)).catch(mapUnavailable);
    } finally {
      if (connection instanceof GuardedConnection) connection.inTransaction = false;
    }
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await this.inner.rollbackTransaction(unwrap(connection)).catch(mapUnavailable);
    } finally {
      if (connection instanceof GuardedConnection) connection.inTransaction = false;
    }
  }

  savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    return this.inner.savepoint!(unwrap(connection), name, compile).catch(mapUnavailable);
  }

  rollbackToSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    return this.inner.rollbackToSavepoint!(unwrap(connection), name, compile).catch(mapUnavailable);
  }

  releaseSavepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    return this.inner.releaseSavepoint!(unwrap(connection), name, compile).catch(mapUnavailable);
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    this.held--;
    return this.inner.releaseConnection(unwrap(connection));
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

function unwrap(connection: DatabaseConnection): DatabaseConnection {
  return connection instanceof GuardedConnection ? connection.inner : connection;
}

/** The part of a pg pool Kysely's PostgresDialect uses. */
interface KyselyPool {
  connect(): Promise<{ query: pg.PoolClient['query']; release(): void }>;
  end(): Promise<void>;
}

/**
 * Hands Kysely pooled clients that go back to the pool *with an error* once
 * one of their queries failed for connection reasons (terminated backend,
 * read timeout, reset socket). node-postgres then destroys the client
 * instead of lending out a connection in an unknown state, so the pool
 * refills itself with fresh connections when the database is back.
 */
export function discardingBrokenClients(pool: pg.Pool): KyselyPool {
  const wrappers = new WeakMap<pg.PoolClient, { query: pg.PoolClient['query']; release(): void }>();
  return {
    async connect() {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        let broken: unknown;
        const query = ((...args: Parameters<pg.PoolClient['query']>) => {
          const result = (client.query as (...a: unknown[]) => unknown)(...args);
          if (result && typeof (result as Promise<unknown>).catch === 'function' && typeof (result as Promise<unknown>).then === 'function') {
            (result as Promise<unknown>).catch((err) => {
              if (isUnavailable(err)) broken = err;
            });
          }
          return result;
        }) as pg.PoolClient['query'];
        wrapper = {
          query,
          release() {
            const err = broken;
            broken = undefined;
            client.release(err instanceof Error ? err : err ? new Error(String(err)) : undefined);
          },
        };
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}
