/**
 * The database is unreachable, restarting, refusing connections, out of
 * space, or locked by another process: a condition of the moment, not a bug
 * in the request. Repositories throw it (never the driver's error) so that
 * every caller can answer `503 temporarily_unavailable` and try again later
 * (http/errors.ts for Tessera's routes, http/engine.ts for the protocol
 * engine's).
 */
export class DatabaseUnavailableError extends Error {
  /** The driver's code (SQLSTATE, errno or SQLITE_*), for the log. */
  readonly driverCode: string | undefined;
  /** The same, under the name code-based classifiers read (startup/errors.ts names the fix for ECONNREFUSED, 3D000…). */
  readonly code: string | undefined;

  constructor(cause: unknown) {
    super(`the database is unavailable: ${String((cause as Error)?.message ?? cause)}`, { cause });
    this.name = 'DatabaseUnavailableError';
    this.driverCode = typeof (cause as { code?: unknown })?.code === 'string' ? (cause as { code: string }).code : undefined;
    this.code = this.driverCode;
  }
}

/**
 * SQLSTATEs that mean "the database cannot serve this right now"
 * (PostgreSQL appendix A): connection exceptions (class 08), operator
 * intervention (57P01 admin shutdown, e.g. `pg_terminate_backend` or a
 * restart; 57P02 crash shutdown; 57P03 cannot connect now, e.g. starting up
 * or in recovery), too many connections, disk full and out of memory, a
 * statement cancelled by `statement_timeout` (57014) or `lock_timeout`
 * (55P03), and transaction conflicts a retry resolves (40001, 40P01).
 */
const PG_TRANSIENT = new Set(['57P01', '57P02', '57P03', '57P05', '53000', '53100', '53200', '53300', '57014', '55P03', '40001', '40P01']);

/** Errors node-postgres raises itself (no SQLSTATE) when the socket is gone or a read timed out. */
const PG_CLIENT_MESSAGES = [
  'Connection terminated',
  'Query read timeout',
  'timeout exceeded when trying to connect',
  'is not queryable',
  'Cannot use a pool after calling end',
];

/** Socket errors (errno codes). */
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED']);

/**
 * SQLite result codes (and their extended forms, e.g. SQLITE_BUSY_SNAPSHOT)
 * that a later attempt may not meet: another process holds the write lock
 * (the CLI beside the server), an I/O error, a full disk, a file that cannot
 * be opened. SQLITE_CORRUPT is not among them: that needs an operator.
 */
const SQLITE_TRANSIENT = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL|NOMEM)(_|$)/;

/** True when `err` is a driver error that means the database is unavailable for now (see the lists above). */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code.startsWith('08') && code.length === 5) return true;
  if (PG_TRANSIENT.has(code) || NET_CODES.has(code) || SQLITE_TRANSIENT.test(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return !code && PG_CLIENT_MESSAGES.some((m) => message.includes(m));
}

/** Re-throws `err` as a DatabaseUnavailableError when it is one (see `isUnavailable`), unchanged otherwise. */
export function mapUnavailable(err: unknown): never {
  if (err instanceof DatabaseUnavailableError) throw err;
  if (isUnavailable(err)) throw new DatabaseUnavailableError(err);
  throw err;
}
