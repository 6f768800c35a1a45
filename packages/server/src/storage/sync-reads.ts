/**
 * Compiled statements run without Kysely's pipeline (issue 20): reads, and
 * since the fifth session of 2026-12-07 writes (the name is older).
 *
 * Reads a compiled statement may run synchronously. On SQLite,
 * better-sqlite3 runs a statement synchronously anyway; what a read costs
 * beyond it is Kysely's asynchronous pipeline (a connection lent under a
 * lock, released, a dozen promises, each one dearer while the engine's
 * AsyncLocalStorage is active): about 7 µs of the ~20 µs a primary-key
 * lookup took in a micro-benchmark here. When no query and no transaction
 * holds the one connection, a read run now, start to end without yielding,
 * is exactly what the lock would have given it, so the hot lookups
 * (storage/compiled.ts) take this path; otherwise, and for anything but a
 * read, they go through Kysely as before. PostgreSQL's statements are round
 * trips, so they cannot run synchronously; they skip Kysely's pipeline
 * instead (`allowDirectReads` below).
 */

/** Runs a read (`sql` with positional parameters) now and gives its rows, or undefined when it may not run now. */
export type SyncRead = (sql: string, parameters: readonly unknown[]) => unknown[] | undefined;

/** Keyed by the store's root Kysely instance: its transactions and plugin copies are other objects and never match. */
const readers = new WeakMap<object, SyncRead>();

export function allowSyncReads(db: object, read: SyncRead): void {
  readers.set(db, read);
}

export function syncReader(db: object): SyncRead | undefined {
  return readers.get(db);
}

/**
 * PostgreSQL's counterpart: a read run on a pooled connection without
 * Kysely's pipeline (issue 20: in one process, a compiled primary-key read
 * took about 151 µs of CPU through Kysely and its pool, 126 µs as a pooled
 * query). It gets the same guard as Kysely's path: a failure to get a
 * connection is an outage (DatabaseUnavailableError), a statement error is
 * mapped as the GuardedDialect maps it, and a connection that broke is
 * discarded (storage/guard.ts).
 */
export type DirectRead = (sql: string, parameters: readonly unknown[]) => Promise<unknown[]>;

const directReaders = new WeakMap<object, DirectRead>();

export function allowDirectReads(db: object, read: DirectRead): void {
  directReaders.set(db, read);
}

export function directReader(db: object): DirectRead | undefined {
  return directReaders.get(db);
}

/**
 * Writes, as reads above: on SQLite a compiled write (an insert, update or
 * delete) on the root instance while no query and no transaction holds the
 * connection runs now, outside a transaction as Kysely would have run it;
 * on PostgreSQL it runs on a pooled connection, with the same guard as a
 * direct read. Each gives the rows the statement changed. A SQLite write
 * that fails here did nothing (one statement outside a transaction is
 * atomic), so the caller runs it again through Kysely, where busy waits
 * and the mapping of errors apply (storage/compiled.ts, `writeShape`).
 */
export type SyncWrite = (sql: string, parameters: readonly unknown[]) => number | undefined;
export type DirectWrite = (sql: string, parameters: readonly unknown[]) => Promise<number>;

const syncWriters = new WeakMap<object, SyncWrite>();
const directWriters = new WeakMap<object, DirectWrite>();

export function allowSyncWrites(db: object, write: SyncWrite): void {
  syncWriters.set(db, write);
}

export function syncWriter(db: object): SyncWrite | undefined {
  return syncWriters.get(db);
}

export function allowDirectWrites(db: object, write: DirectWrite): void {
  directWriters.set(db, write);
}

export function directWriter(db: object): DirectWrite | undefined {
  return directWriters.get(db);
}
