/**
 * True when a string can be stored in, and so looked up from, both engines.
 * PostgreSQL `text` cannot hold NUL (U+0000) and rejects a query parameter
 * containing one with a driver error (SQLSTATE 22021), where SQLite simply
 * finds nothing. Lookups by values that arrive from the network (tokens,
 * codes, client ids, resource indicators, usernames) check this first and
 * answer "not found", so a crafted `%00` is an ordinary 4xx on both engines
 * instead of a 500 on PostgreSQL.
 */
export function isStorableText(value: unknown): value is string {
  return typeof value === 'string' && !value.includes('\u0000');
}
