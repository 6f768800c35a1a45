import { sql } from 'kysely';
import type { Kysely, SelectQueryBuilder } from 'kysely';
import type { Database } from '../../storage/schema.js';
import { toUser } from '../../identity/repository.js';
import { normalizeEmail, normalizeName, normalizeUsername } from '../../identity/model.js';
import type { User, UserStatus } from '../../identity/model.js';
import { sortBinary } from '../../storage/order.js';

/**
 * Where a page ended: the sort key of its last user and the user's id (the
 * tie-breaker). `n` pages run over the name keys, `c` pages over created_at.
 */
export type SearchCursor = { m: 'c'; k: number; i: string } | { m: 'n'; k: string; i: string };

export interface UserSearch {
  tenantId: string;
  /** Exact match on the normalised address. */
  email?: string;
  /** Exact match on the normalised username. */
  username?: string;
  /** Prefix of the family name or of the given name ("lidd", "alice l", "liddell a"). */
  namePrefix?: string;
  status?: UserStatus;
  after?: SearchCursor;
  limit: number;
}

export interface UserSearchPage {
  users: User[];
  next?: SearchCursor;
}

type UsersQuery = SelectQueryBuilder<Database, 'users', object>;

/**
 * The smallest string greater than every string starting with `prefix`, in
 * byte (= code point) order: `>= prefix and < successor` is a prefix match
 * that an ordinary b-tree index answers as one range, on SQLite (BINARY) and
 * on PostgreSQL (the name columns use the "C" collation, migration 007).
 * Undefined when no such string exists (a prefix of U+10FFFF only).
 */
export function prefixSuccessor(prefix: string): string | undefined {
  const points = [...prefix];
  while (points.length) {
    const last = points.pop()!.codePointAt(0)!;
    if (last >= 0x10ffff) continue;
    // Surrogates cannot be encoded on their own; the next encodable code point is U+E000.
    const next = last + 1 >= 0xd800 && last + 1 <= 0xdfff ? 0xe000 : last + 1;
    return points.join('') + String.fromCodePoint(next);
  }
  return undefined;
}

/**
 * User search for the admin API, built to stay fast at millions of users:
 * every query is one index range scan read in index order (no sort, no
 * OFFSET), and pages continue with a keyset cursor.
 *
 * - email / username: the unique (tenant, normalised value) indexes;
 * - name prefix: (tenant, name_family_first, id) and (tenant, name_given_first,
 *   id), two ranges merged; a user whose both keys match is returned once (by
 *   the family-first branch), so pages never repeat anyone;
 * - otherwise (optionally by status): (tenant[, status], created_at, id).
 */
export function createUserSearch(db: Kysely<Database>): { search(q: UserSearch): Promise<UserSearchPage> } {
  const filtered = (q: UserSearch): UsersQuery => {
    let sel = db.selectFrom('users').where('tenant_id', '=', q.tenantId) as UsersQuery;
    if (q.email !== undefined) sel = sel.where('email_normalized', '=', normalizeEmail(q.email));
    if (q.username !== undefined) sel = sel.where('username_normalized', '=', normalizeUsername(q.username));
    if (q.status !== undefined) sel = sel.where('status', '=', q.status);
    return sel;
  };

  const byCreated = async (q: UserSearch) => {
    let sel = filtered(q);
    const after = q.after?.m === 'c' ? q.after : undefined;
    // One row-value comparison: both engines start the index range at it. (A redundant `created_at >= k`
    // beside it made SQLite's STAT4 planner pick a skip-scan and a sort for some values: 60 ms instead of 0.5.)
    if (after) sel = sel.where((eb) => eb(eb.refTuple('created_at', 'id'), '>', eb.tuple(after.k, after.i)));
    const rows = await sel.selectAll().orderBy('created_at').orderBy('id').limit(q.limit + 1).execute();
    return rows.map((r) => ({ row: r, key: Number(r.created_at) }));
  };

  const byName = async (q: UserSearch, prefix: string) => {
    const end = prefixSuccessor(prefix);
    const after = q.after?.m === 'n' ? q.after : undefined;
    const branch = (column: 'name_family_first' | 'name_given_first', other?: 'name_family_first') => {
      let sel = filtered(q).where(column, '>=', prefix);
      if (end !== undefined) sel = sel.where(column, '<', end);
      if (other) {
        // Already returned by the family-first branch.
        sel = sel.where((eb) => eb.not(eb.and([eb(other, '>=', prefix), ...(end !== undefined ? [eb(other, '<', end)] : [])])));
      }
      if (after) sel = sel.where((eb) => eb(eb.refTuple(column, 'id'), '>', eb.tuple(after.k, after.i)));
      return sel.select(['id', sql<string>`${sql.ref(column)}`.as('k')]).orderBy(column).orderBy('id').limit(q.limit + 1);
    };
    const ids = await db.selectFrom(branch('name_family_first').as('a')).selectAll()
      .unionAll(db.selectFrom(branch('name_given_first', 'name_family_first').as('b')).selectAll())
      .execute();
    // Merged here in byte order (the order the index ranges were read in on both engines).
    const page = sortBinary(ids, (r) => `${r.k}\u0000${r.id}`).slice(0, q.limit + 1);
    if (!page.length) return [];
    const rows = new Map((await db.selectFrom('users').selectAll().where('id', 'in', page.map((p) => p.id)).execute()).map((r) => [r.id, r]));
    return page.filter((p) => rows.has(p.id)).map((p) => ({ row: rows.get(p.id)!, key: p.k }));
  };

  return {
    async search(q) {
      const prefix = q.namePrefix === undefined ? undefined : normalizeName(q.namePrefix);
      const found = prefix ? await byName(q, prefix) : await byCreated(q);
      const pageRows = found.slice(0, q.limit);
      const roles = pageRows.length
        ? await db.selectFrom('user_roles').select(['user_id', 'role'])
          .where('tenant_id', '=', q.tenantId).where('user_id', 'in', pageRows.map((f) => f.row.id)).execute()
        : [];
      const users = pageRows.map((f) => toUser(f.row, sortBinary(roles.filter((r) => r.user_id === f.row.id).map((r) => r.role), (r) => r)));
      const last = pageRows.at(-1);
      if (found.length <= q.limit || !last) return { users };
      const next: SearchCursor = prefix ? { m: 'n', k: String(last.key), i: last.row.id } : { m: 'c', k: Number(last.key), i: last.row.id };
      return { users, next };
    },
  };
}
