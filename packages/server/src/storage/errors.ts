/** Domain errors thrown by repositories; callers never see driver errors. */
export class NotFoundError extends Error {
  constructor(readonly entity: string, readonly key: string) {
    super(`${entity} ${key} not found`);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends Error {
  constructor(readonly entity: string, readonly detail: string) {
    super(`${entity} conflict: ${detail}`);
    this.name = 'ConflictError';
  }
}

/** A conditional write found the row changed since it was read (an If-Match edit that lost a race). */
export class StaleWriteError extends Error {
  constructor(readonly entity: string, readonly key: string) {
    super(`${entity} ${key} was changed by someone else`);
    this.name = 'StaleWriteError';
  }
}

/** True for a unique/primary-key violation on SQLite or PostgreSQL. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** True for a foreign-key violation (a referenced row is missing) on SQLite or PostgreSQL. */
export function isForeignKeyViolation(err: unknown): boolean {
  const e = err as { code?: string };
  return e?.code === '23503' || e?.code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/** Runs `fn`, turning a foreign-key violation into a NotFoundError for the referenced `entity`. */
export async function mapMissingReference<T>(entity: string, key: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isForeignKeyViolation(err)) throw new NotFoundError(entity, key);
    throw err;
  }
}

/** Runs `fn`, turning a unique violation into a ConflictError. */
export async function mapConflict<T>(entity: string, detail: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConflictError(entity, detail);
    throw err;
  }
}

/** Runs `fn` in a transaction, or inside the caller's if `db` already is one. */
export async function inTransaction<DB, T>(db: import('kysely').Kysely<DB>, fn: (trx: import('kysely').Kysely<DB>) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}
