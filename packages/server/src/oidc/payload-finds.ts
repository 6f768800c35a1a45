import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { shape } from '../storage/compiled.js';
import type { CompiledShape } from '../storage/compiled.js';

type Row = Database['oidc_payloads'];

/** The most (model, id) pairs one statement asks for; more in one tick take several. */
export const MAX_FINDS_PER_STATEMENT = 8;

const byPairs = new Map<string, CompiledShape<Database, string[], Row>>();
/**
 * The statement for `n` pairs, of which `k` also fetch their token's grant,
 * compiled once per (n, k) (storage/compiled.ts). Parameters: the n pairs,
 * then the k pairs whose grant comes along. A grant row keeps its own id in
 * `grant_id` (payload-store.ts), which the partial index `(grant_id, model)`
 * serves.
 */
function pairs(n: number, k: number): CompiledShape<Database, string[], Row> {
  const key = `${n}/${k}`;
  let compiled = byPairs.get(key);
  if (!compiled) {
    compiled = shape((db: Kysely<Database>, ...args: string[]) => db.selectFrom('oidc_payloads').selectAll()
      .where((eb) => eb.or([
        ...Array.from({ length: n }, (_, i) => eb.and([eb('model', '=', args[2 * i]!), eb('id', '=', args[2 * i + 1]!)])),
        ...Array.from({ length: k }, (_, j) => eb.and([eb('model', '=', 'Grant'), eb('grant_id', '=', eb.selectFrom('oidc_payloads as t').select('t.grant_id')
          .where('t.model', '=', args[2 * n + 2 * j]!).where('t.id', '=', args[2 * n + 2 * j + 1]!))])),
      ])), 2 * (n + k));
    byPairs.set(key, compiled);
  }
  return compiled;
}

/** What a find resolves to: the row, and with `withGrant` the grant row its `grant_id` names, when both were found. */
export interface Found { row: Row | undefined; grant?: Row | undefined }

interface Waiter { model: string; id: string; withGrant: boolean; resolve(found: Found): void; reject(err: unknown): void }

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
 * fewer (payload-store.ts, `prefetchedGrant`).
 */
export function coalescedFinds(db: Kysely<Database>): (model: string, id: string, withGrant?: boolean) => Promise<Found> {
  let pending: Waiter[] | undefined;
  const run = async (batch: Waiter[]) => {
    // One pair per distinct artefact; two finds of the same one share its row.
    const keys = new Map<string, [string, string]>();
    const grantsOf = new Map<string, [string, string]>();
    for (const w of batch) {
      const key = `${w.model}\u0000${w.id}`;
      keys.set(key, [w.model, w.id]);
      if (w.withGrant) grantsOf.set(key, [w.model, w.id]);
    }
    try {
      const rows = await pairs(keys.size, grantsOf.size).execute(db, ...[...keys.values()].flat(), ...[...grantsOf.values()].flat());
      const found = new Map(rows.map((r) => [`${r.model}\u0000${r.id}`, r]));
      const grants = grantsOf.size ? new Map(rows.filter((r) => r.model === 'Grant' && r.grant_id !== null).map((r) => [r.grant_id, r])) : undefined;
      for (const w of batch) {
        const row = found.get(`${w.model}\u0000${w.id}`);
        const grant = w.withGrant && row?.grant_id != null ? grants?.get(row.grant_id) : undefined;
        w.resolve(grant ? { row, grant } : { row });
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
  return (model, id, withGrant = false) => new Promise<Found>((resolve, reject) => {
    if (!pending) {
      pending = [];
      process.nextTick(flush);
    }
    pending.push({ model, id, withGrant, resolve, reject });
  });
}
