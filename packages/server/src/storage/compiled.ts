import type { CompiledQuery, Kysely } from 'kysely';
import { directReader, directWriter, syncReader, syncWriter } from './sync-reads.js';

/** What Kysely's query builders are: compiled here once, or run as built when the database has plugins. */
export interface Buildable<R> {
  compile(): CompiledQuery<R>;
  execute(): Promise<R[]>;
}

/**
 * A query built by Kysely's builder once per SQL dialect and then only run
 * with new parameters, for the hottest lookups (issue 20: building and
 * compiling a simple query cost ~13 µs per statement, more with joins, more
 * than better-sqlite3 takes to run the prepared statement). It still runs
 * through the Kysely instance it is given (`db.executeQuery`), so the
 * GuardedDialect's availability and busy handling apply, and inside a
 * transaction (`withDb(trx)`) it runs on the transaction's connection; on
 * SQLite, a read on the root instance while its connection is free runs
 * synchronously instead (sync-reads.ts), falling back to that path when it
 * cannot or fails.
 *
 * The builder is called with sentinel values in place of the parameters;
 * each must reach the SQL unchanged as a bound value (`=`, `<`, an item of
 * an `in` list…): a builder that transforms a parameter, tests it or leaves
 * it out is refused when first compiled. A builder must not branch on its
 * parameters (one shape is one SQL text). Constants the builder uses itself
 * stay bound as they were compiled.
 *
 * Kysely plugins transform a query when it is compiled (bench/query-counter.ts
 * counts statements that way), so a database with plugins gets the query
 * built on every call, as before: what they see is unchanged.
 */
export interface CompiledShape<DB, A extends readonly unknown[], R> {
  /** The query's rows for these parameters, run on `db` (or a transaction of it). */
  execute(db: Kysely<DB>, ...args: A): Promise<R[]>;
}

/** Where each bound parameter comes from: the caller's argument at this index, or a constant of the builder. */
type Slot = { arg: number } | { value: unknown };

interface Compiled {
  query: CompiledQuery;
  slots: readonly Slot[];
}

/** Unique per process: a builder's own string constant cannot be mistaken for one. */
const SENTINEL = `\u0000tessera-param-${process.pid}-${Math.random().toString(36).slice(2)}:`;

/**
 * @param build builds the query from the database and its parameters; called
 *   with sentinels once per dialect, or on every call when the database has plugins.
 * @param arity how many parameters `build` takes; by default those it declares
 *   (`build.length - 1`), to be given for a rest parameter.
 * @throws Error (on first use) when a parameter is not bound exactly as given (see above).
 */
export function shape<DB, A extends readonly unknown[], R>(build: (db: Kysely<DB>, ...args: A) => Buildable<R>, arity = build.length - 1): CompiledShape<DB, A, R> {
  const bind = binder(build, arity);
  return {
    async execute(db, ...args) {
      const query = bind(db, args);
      if (!query) return build(db, ...args).execute();
      const read = syncReader(db);
      if (read) {
        try {
          const rows = read(query.sql, query.parameters);
          if (rows) return rows as R[];
        } catch {
          // Run again below, where busy waits, retries and the mapping of errors apply (a read has no effect to repeat).
        }
      }
      const direct = directReader(db);
      if (direct) return direct(query.sql, query.parameters) as Promise<R[]>;
      const result = await db.executeQuery<R>(query);
      return result.rows as R[];
    },
  };
}

/** What Kysely's insert, update and delete builders are, for `writeShape`. */
export interface WriteBuildable {
  compile(): CompiledQuery;
  executeTakeFirst(): Promise<unknown>;
}

/** A write compiled once per dialect (see `shape`). */
export interface CompiledWrite<DB, A extends readonly unknown[]> {
  /** Runs the statement on `db` (or a transaction of it); resolves to the rows it inserted, updated or deleted. */
  run(db: Kysely<DB>, ...args: A): Promise<number>;
}

/**
 * `shape` for an insert, update or delete: the token store's writes, built by
 * Kysely on every call, cost about as much CPU as SQLite took to run them on
 * a sign-in (issue 20). Same rules for the builder's parameters. On the root
 * instance it runs without Kysely's pipeline as reads do (sync-reads.ts:
 * synchronously on SQLite while the connection is free, on a pooled
 * connection on PostgreSQL).
 */
export function writeShape<DB, A extends readonly unknown[]>(build: (db: Kysely<DB>, ...args: A) => WriteBuildable, arity = build.length - 1): CompiledWrite<DB, A> {
  const bind = binder(build, arity);
  return {
    async run(db, ...args) {
      const query = bind(db, args);
      if (!query) {
        const r = await build(db, ...args).executeTakeFirst() as { numInsertedOrUpdatedRows?: bigint; numUpdatedRows?: bigint; numDeletedRows?: bigint };
        return Number(r.numInsertedOrUpdatedRows ?? r.numUpdatedRows ?? r.numDeletedRows ?? 0);
      }
      const write = syncWriter(db);
      if (write) {
        try {
          const changed = write(query.sql, query.parameters);
          if (changed !== undefined) return changed;
        } catch {
          // It did nothing (one statement, no transaction): run again below, where busy waits and the mapping of
          // errors apply. Under another process's write lock it has waited SQLite's short busy_timeout once more.
        }
      }
      const direct = directWriter(db);
      if (direct) return direct(query.sql, query.parameters);
      return Number((await db.executeQuery(query)).numAffectedRows ?? 0);
    },
  };
}

/**
 * The query for these arguments, compiled once per dialect: undefined when the
 * database has plugins (the caller then builds the query as it always did).
 */
function binder<DB, A extends readonly unknown[]>(build: (db: Kysely<DB>, ...args: A) => { compile(): CompiledQuery }, arity: number) {
  // Keyed by the dialect's adapter: one object per Kysely instance, shared by its transactions.
  const byDialect = new WeakMap<object, Compiled>();
  const compile = (db: Kysely<DB>): Compiled => {
    const sentinels = Array.from({ length: arity }, (_, i) => `${SENTINEL}${i}`);
    const query = build(db, ...(sentinels as unknown as A)).compile();
    const seen = new Set<number>();
    const slots = query.parameters.map((value): Slot => {
      if (typeof value === 'string' && value.startsWith(SENTINEL)) {
        const arg = Number(value.slice(SENTINEL.length));
        seen.add(arg);
        return { arg };
      }
      return { value };
    });
    if (seen.size !== arity || query.sql.includes(SENTINEL) || slots.some((s) => 'value' in s && s.value === undefined)) {
      throw new Error(`compiled query: ${arity - seen.size} of ${arity} parameters not bound as values (${query.sql})`);
    }
    return { query, slots };
  };
  return (db: Kysely<DB>, args: A): CompiledQuery | undefined => {
    const executor = db.getExecutor();
    if (executor.plugins.length) return undefined;
    let compiled = byDialect.get(executor.adapter);
    if (!compiled) byDialect.set(executor.adapter, (compiled = compile(db)));
    return { ...compiled.query, parameters: compiled.slots.map((s) => ('arg' in s ? args[s.arg] : s.value)) };
  };
}
