import { sql } from 'kysely';
import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely';
import type { Database } from '../storage/schema.js';

/**
 * User queries for the provisioning APIs: one filter language (SCIM's and
 * Okta's filters both compile to it) translated to SQL over the users
 * table, so a filter is answered by the database (its indexes where the
 * attribute has one), never by loading a tenant's users into memory.
 */

/** What a filter can name, mapped from each API's attribute names. */
export type QueryAttr =
  | 'id' | 'login' | 'username' | 'email' | 'givenName' | 'familyName' | 'phone'
  | 'created' | 'lastUpdated' | 'activated' | 'active' | 'lifecycle' | 'externalId';

export type Comparison = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';
export type QueryValue = string | number | boolean | null;

export type UserFilter =
  | { op: 'and' | 'or'; left: UserFilter; right: UserFilter }
  | { op: 'not'; expr: UserFilter }
  | { op: 'pr'; attr: QueryAttr }
  | { op: Comparison; attr: QueryAttr; value: QueryValue };

export type SortAttr = 'login' | 'email' | 'givenName' | 'familyName' | 'created' | 'lastUpdated' | 'id';

/** A filter the database cannot answer (an attribute or operator this API does not support). */
export class UnsupportedFilter extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedFilter';
  }
}

/**
 * Okta's lifecycle state, derived in SQL exactly as `lifecycleOf` derives it
 * in code: the stored provisioning state where it still matches the
 * Tessera status, else the status's own meaning.
 */
export const LIFECYCLE_SQL = sql<string>`case
  when ps.state in ('STAGED', 'PROVISIONED') and u.status = 'pending' then ps.state
  when ps.state in ('SUSPENDED', 'DEPROVISIONED') and u.status = 'disabled' then ps.state
  when ps.state = 'RECOVERY' and u.status = 'active' then ps.state
  when u.status = 'active' then 'ACTIVE'
  when u.status = 'locked' then 'LOCKED_OUT'
  when u.status = 'pending' then 'PROVISIONED'
  else 'SUSPENDED' end`;

export type Lifecycle = 'STAGED' | 'PROVISIONED' | 'ACTIVE' | 'RECOVERY' | 'LOCKED_OUT' | 'SUSPENDED' | 'DEPROVISIONED';

export function lifecycleOf(status: string, stored: string | undefined): Lifecycle {
  if ((stored === 'STAGED' || stored === 'PROVISIONED') && status === 'pending') return stored;
  if ((stored === 'SUSPENDED' || stored === 'DEPROVISIONED') && status === 'disabled') return stored;
  if (stored === 'RECOVERY' && status === 'active') return 'RECOVERY';
  return status === 'active' ? 'ACTIVE' : status === 'locked' ? 'LOCKED_OUT' : status === 'pending' ? 'PROVISIONED' : 'SUSPENDED';
}

export interface ProvisioningStatesTable { user_id: string; tenant_id: string; state: string; changed_at: number }
type Db = Database & { provisioning_states: ProvisioningStatesTable };
type Eb = ExpressionBuilder<Db & { u: Db['users']; ps: ProvisioningStatesTable }, 'u' | 'ps'>;

const like = (v: string) => v.replace(/[\\%_]/g, (c) => `\\${c}`);
const lower = (v: QueryValue) => String(v ?? '').toLowerCase();

/** Column expression, and whether comparisons on it are case-insensitive (SCIM caseExact false). */
function column(attr: QueryAttr): { expr: ReturnType<typeof sql>; ci: boolean; kind: 'text' | 'time' | 'bool' } {
  switch (attr) {
    case 'id': return { expr: sql`u.id`, ci: false, kind: 'text' };
    // A login is the username, or for users without one the email (usernames cannot contain "@").
    case 'login': return { expr: sql`coalesce(u.username_normalized, u.email_normalized)`, ci: true, kind: 'text' };
    case 'username': return { expr: sql`u.username_normalized`, ci: true, kind: 'text' };
    case 'email': return { expr: sql`u.email_normalized`, ci: true, kind: 'text' };
    case 'givenName': return { expr: sql`lower(u.given_name)`, ci: true, kind: 'text' };
    case 'familyName': return { expr: sql`lower(u.family_name)`, ci: true, kind: 'text' };
    case 'phone': return { expr: sql`u.phone_number`, ci: false, kind: 'text' };
    case 'created': return { expr: sql`u.created_at`, ci: false, kind: 'time' };
    case 'lastUpdated': return { expr: sql`u.updated_at`, ci: false, kind: 'time' };
    case 'activated': return { expr: sql`u.activated_at`, ci: false, kind: 'time' };
    case 'lifecycle': return { expr: LIFECYCLE_SQL, ci: false, kind: 'text' };
    case 'active': return { expr: sql`(case when u.status = 'disabled' then 0 else 1 end)`, ci: false, kind: 'bool' };
    default: throw new UnsupportedFilter(`cannot filter on ${attr}`);
  }
}

function timeValue(v: QueryValue): number {
  const ms = typeof v === 'number' ? v : Date.parse(String(v));
  if (Number.isNaN(ms)) throw new UnsupportedFilter(`"${String(v)}" is not a date-time`);
  return ms;
}

function comparison(eb: Eb, f: Extract<UserFilter, { value: QueryValue }>, externalSource: string): Expression<SqlBool> {
  if (f.attr === 'externalId') {
    // The provisioning client's id for the user, kept as an external id of the API's source.
    const sub = eb.selectFrom('user_external_ids as x').select(sql`1`.as('one'))
      .whereRef('x.user_id', '=', 'u.id').where('x.source', '=', externalSource);
    const value = String(f.value ?? '');
    if (f.op === 'eq') return eb.exists(sub.where('x.external_id', '=', value));
    if (f.op === 'ne') return eb.not(eb.exists(sub.where('x.external_id', '=', value)));
    if (f.op === 'sw') return eb.exists(sub.where(sql<SqlBool>`x.external_id like ${`${like(value)}%`} escape '\\'`));
    throw new UnsupportedFilter(`externalId supports eq, ne and sw`);
  }
  const col = column(f.attr);
  if (col.kind === 'bool') {
    if (f.op !== 'eq' && f.op !== 'ne') throw new UnsupportedFilter(`${f.attr} supports eq and ne`);
    const want = f.value === true || f.value === 'true' ? 1 : 0;
    return sql<SqlBool>`${col.expr} ${sql.raw(f.op === 'eq' ? '=' : '<>')} ${want}`;
  }
  if (col.kind === 'time') {
    if (['co', 'sw', 'ew'].includes(f.op)) throw new UnsupportedFilter(`${f.attr} is a date-time: use eq, ne, gt, ge, lt or le`);
    const ops: Record<string, string> = { eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=' };
    return sql<SqlBool>`${col.expr} ${sql.raw(ops[f.op]!)} ${timeValue(f.value)}`;
  }
  if (f.value === null) {
    if (f.op === 'eq') return sql<SqlBool>`${col.expr} is null`;
    if (f.op === 'ne') return sql<SqlBool>`${col.expr} is not null`;
    throw new UnsupportedFilter('null can only be compared with eq or ne');
  }
  const value = col.ci ? lower(f.value) : String(f.value);
  if (f.attr === 'login' && f.op === 'eq') {
    // The lookup every provisioning client makes before a create (SCIM `userName eq`, Okta's
    // GET /users/{login}): said on one column so the (tenant, username|email) index answers it,
    // not through coalesce(), which scans the tenant. Usernames never contain "@".
    return value.includes('@')
      ? sql<SqlBool>`(u.email_normalized = ${value} and u.username_normalized is null)`
      : sql<SqlBool>`u.username_normalized = ${value}`;
  }
  switch (f.op) {
    case 'eq': return sql<SqlBool>`${col.expr} = ${value}`;
    case 'ne': return sql<SqlBool>`(${col.expr} is null or ${col.expr} <> ${value})`;
    case 'co': return sql<SqlBool>`${col.expr} like ${`%${like(value)}%`} escape '\\'`;
    case 'sw': return sql<SqlBool>`${col.expr} like ${`${like(value)}%`} escape '\\'`;
    case 'ew': return sql<SqlBool>`${col.expr} like ${`%${like(value)}`} escape '\\'`;
    case 'gt': return sql<SqlBool>`${col.expr} > ${value}`;
    case 'ge': return sql<SqlBool>`${col.expr} >= ${value}`;
    case 'lt': return sql<SqlBool>`${col.expr} < ${value}`;
    case 'le': return sql<SqlBool>`${col.expr} <= ${value}`;
  }
}

function toSql(eb: Eb, f: UserFilter, externalSource: string): Expression<SqlBool> {
  switch (f.op) {
    case 'and': return eb.and([toSql(eb, f.left, externalSource), toSql(eb, f.right, externalSource)]);
    case 'or': return eb.or([toSql(eb, f.left, externalSource), toSql(eb, f.right, externalSource)]);
    case 'not': return eb.not(toSql(eb, f.expr, externalSource));
    case 'pr':
      if (f.attr === 'externalId') {
        return eb.exists(eb.selectFrom('user_external_ids as x').select(sql`1`.as('one')).whereRef('x.user_id', '=', 'u.id').where('x.source', '=', externalSource));
      }
      return sql<SqlBool>`${column(f.attr).expr} is not null`;
    default: return comparison(eb, f, externalSource);
  }
}

const SORT_COLUMNS: Record<SortAttr, string> = {
  login: 'coalesce(u.username_normalized, u.email_normalized)', email: 'u.email_normalized', givenName: 'lower(u.given_name)',
  familyName: 'lower(u.family_name)', created: 'u.created_at', lastUpdated: 'u.updated_at', id: 'u.id',
};

export interface UserQuery {
  tenantId: string;
  filter?: UserFilter;
  /** The source under which the API keeps its clients' ids for users (`externalId`). */
  externalSource: string;
  sort?: { by: SortAttr; descending: boolean };
  /** Offset paging (SCIM startIndex), or keyset paging after an id (Okta's `after`, ordered by id). */
  offset?: number;
  after?: string;
  limit: number;
}

/** The ids of the matching users, in order, and (for offset paging) how many match in all. */
export async function queryUsers(database: Kysely<Database>, q: UserQuery, withTotal: boolean): Promise<{ ids: string[]; total?: number }> {
  const db = database as unknown as Kysely<Db>;
  const base = () => db.selectFrom('users as u')
    .leftJoin('provisioning_states as ps', 'ps.user_id', 'u.id')
    .where('u.tenant_id', '=', q.tenantId)
    .$if(q.filter !== undefined, (qb) => qb.where((eb) => toSql(eb as unknown as Eb, q.filter!, q.externalSource)));
  let select = base().select('u.id');
  if (q.after !== undefined) select = select.where('u.id', '>', q.after);
  if (q.sort && q.after === undefined) {
    select = select.orderBy(sql.raw(SORT_COLUMNS[q.sort.by]), q.sort.descending ? 'desc' : 'asc').orderBy('u.id');
  } else {
    select = select.orderBy('u.id');
  }
  select = select.limit(q.limit);
  if (q.offset) select = select.offset(q.offset);
  const ids = (await select.execute()).map((r) => r.id);
  if (!withTotal) return { ids };
  const total = await base().select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
  return { ids, total: Number(total?.n ?? 0) };
}
