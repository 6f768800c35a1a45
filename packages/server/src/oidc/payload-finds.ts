import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { shape } from '../storage/compiled.js';
import type { CompiledShape } from '../storage/compiled.js';
import { userJoinedJson } from '../identity/repository.js';

type Row = Database['oidc_payloads'] & { account_rows?: unknown };

/** The most (model, id) pairs one statement asks for; more in one tick take several. */
export const MAX_FINDS_PER_STATEMENT = 8;

const byPairs = new Map<string, CompiledShape<Database, string[], Row>>();
/**
 * The statement for `n` pairs, of which `k` also fetch their token's grant,
 * compiled once per (n, k, withAccounts) (storage/compiled.ts). Parameters:
 * the n pairs, then the k pairs whose grant comes along. A grant row keeps
 * its own id in `grant_id` (payload-store.ts), which the partial index
 * `(grant_id, model)` serves. With `withAccounts`, every row but a grant's
 * also carries, in `account_rows`, the user its `account_id` names with
 * their roles (identity/repository.ts, `userJoinedJson`).
 */
function pairs(n: number, k: number, withAccounts: boolean): CompiledShape<Database, string[], Row> {
  const key = `${n}/${k}/${withAccounts ? 'a' : ''}`;
  let compiled = byPairs.get(key);
  if (!compiled) {
    compiled = shape((db: Kysely<Database>, ...args: string[]) => db.selectFrom('oidc_payloads').selectAll()
      .$if(withAccounts, (q) => q.select(sql<unknown>`case when "model" <> 'Grant' then ${userJoinedJson(db, 'oidc_payloads.account_id')} end`.as('account_rows')))
      .where((eb) => eb.or([
        ...Array.from({ length: n }, (_, i) => eb.and([eb('model', '=', args[2 * i]!), eb('id', '=', args[2 * i + 1]!)])),
        ...Array.from({ length: k }, (_, j) => eb.and([eb('model', '=', 'Grant'), eb('grant_id', '=', eb.selectFrom('oidc_payloads as t').select('t.grant_id')
          .where('t.model', '=', args[2 * n + 2 * j]!).where('t.id', '=', args[2 * n + 2 * j + 1]!))])),
      ])), 2 * (n + k));
    byPairs.set(key, compiled);
  }
  return compiled;
}

/**
 * What a find resolves to: the row, with `withGrant` the grant row its
 * `grant_id` names when both were found, with `withAccount` the user its
 * `account_id` names as `userFromJoinedJson` takes it (null or an empty
 * list: no such user) when the row was found and names one.
 */
export interface Found { row: Row | undefined; grant?: Row | undefined; account?: unknown }

/** What a find asks for besides the row. */
export interface FindOptions { withGrant?: boolean; withAccount?: boolean }

interface Waiter { model: string; id: string; withGrant: boolean; withAccount: boolean; resolve(found: Found): void; reject(err: unknown): void }

/**
 * Payload finds by (model, stored id) issued in the same tick, run as one
 * statement, each caller handed its row. Introspection without a
 * `token_type_hint` makes the engine look a token up as an AccessToken, a
 * ClientCredentials token and a RefreshToken at once (oidc-provider's
 * `helpers/token_find.js`): on PostgreSQL that is one round trip instead of
 * three (issue 20). A find waits only for the end of the current tick
 * (`process.nextTick`), not for I/O. A failed statement fails every find it
 * carried, with the same error. One per Kysely instance (a transaction gets
 * its own, see `withDb`).
 *
 * A find `withGrant` (a token the engine will look the grant of up next)
 * also reads, in the same statement, the grant its row names: UserInfo,
 * introspection, a refresh and a code exchange then run one statement
 * fewer (payload-store.ts, `prefetchedGrant`). A find `withAccount` (a
 * token whose user the request reads next: UserInfo, a refresh, a code
 * exchange) also reads that user (payload-store.ts, `prefetchedAccount`).
 */
export function coalescedFinds(db: Kysely<Database>): (model: string, id: string, options?: FindOptions) => Promise<Found> {
  let pending: Waiter[] | undefined;
  const run = async (batch: Waiter[]) => {
    // One pair per distinct artefact; two finds of the same one share its row.
    const keys = new Map<string, [string, string]>();
    const grantsOf = new Map<string, [string, string]>();
    let withAccounts = false;
    for (const w of batch) {
      const key = `${w.model}\u0000${w.id}`;
      keys.set(key, [w.model, w.id]);
      if (w.withGrant) grantsOf.set(key, [w.model, w.id]);
      withAccounts ||= w.withAccount;
    }
    try {
      const rows = await pairs(keys.size, grantsOf.size, withAccounts).execute(db, ...[...keys.values()].flat(), ...[...grantsOf.values()].flat());
      const found = new Map(rows.map((r) => [`${r.model}\u0000${r.id}`, r]));
      const grants = grantsOf.size ? new Map(rows.filter((r) => r.model === 'Grant' && r.grant_id !== null).map((r) => [r.grant_id, r])) : undefined;
      for (const w of batch) {
        const row = found.get(`${w.model}\u0000${w.id}`);
        const grant = w.withGrant && row?.grant_id != null ? grants?.get(row.grant_id) : undefined;
        const result: Found = grant ? { row, grant } : { row };
        if (w.withAccount && row?.account_id != null) result.account = row.account_rows ?? null;
        w.resolve(result);
      }
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  };
  const flush = () => {
    const batch = pending!;
    pending = undefined;
    for (let i = 0; i < batch.length; i += MAX_FINDS_PER_STATEMENT) void run(batch.slice(i, i + MAX_FINDS_PER_STATEMENT));
  };
  return (model, id, options = {}) => new Promise<Found>((resolve, reject) => {
    if (!pending) {
      pending = [];
      process.nextTick(flush);
    }
    pending.push({ model, id, withGrant: options.withGrant ?? false, withAccount: options.withAccount ?? false, resolve, reject });
  });
}
