/**
 * Sorting that means the same on every engine. `ORDER BY` on text follows the
 * database collation: SQLite compares bytes, PostgreSQL follows the database
 * locale (e.g. `en_US.utf8`, the official image's default, puts 'a' before 'B'
 * and ignores '_'). Lists are small, so repositories sort them here, by UTF-8
 * bytes (= code points), which is SQLite's BINARY and PostgreSQL's "C" order.
 */
export function compareBinary(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Returns `rows` sorted by `key(row)` in binary order (see compareBinary). */
export function sortBinary<T>(rows: T[], key: (row: T) => string): T[] {
  return rows.sort((x, y) => compareBinary(key(x), key(y)));
}
