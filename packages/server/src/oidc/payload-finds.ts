import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { shape } from '../storage/compiled.js';
import type { CompiledShape } from '../storage/compiled.js';

type Row = Database['oidc_payloads'];

/** The most (model, id) pairs one statement asks for; more in one tick take several. */
export const MAX_FINDS_PER_STATEMENT = 8;

const byPairs: CompiledShape<Database, string[], Row>[] = [];
/** The statement for `n` pairs, compiled once per count (storage/compiled.ts). */
function pairs(n: number): CompiledShape<Database, string[], Row> {
  return byPairs[n] ??= shape((db: Kysely<Database>, ...args: string[]) => db.selectFrom('oidc_payloads').selectAll()
    .where((eb) => eb.or(Array.from({ length: n }, (_, i) => eb.and([eb('model', '=', args[2 * i]!), eb('id', '=', args[2 * i + 1]!)])))), 2 * n);
}

interface Waiter { model: string; id: string; resolve(row: Row | undefined): void; reject(err: unknown): void }

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
 */
export function coalescedFinds(db: Kysely<Database>): (model: string, id: string) => Promise<Row | undefined> {
  let pending: Waiter[] | undefined;
  const run = async (batch: Waiter[]) => {
    // One pair per distinct artefact; two finds of the same one share its row.
    const keys = new Map<string, [string, string]>();
    for (const w of batch) keys.set(`${w.model}\u0000${w.id}`, [w.model, w.id]);
    try {
      const rows = await pairs(keys.size).execute(db, ...[...keys.values()].flat());
      const found = new Map(rows.map((r) => [`${r.model}\u0000${r.id}`, r]));
      for (const w of batch) w.resolve(found.get(`${w.model}\u0000${w.id}`));
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  };
  const flush = () => {
    const batch = pending!;
    pending = undefined;
    for (let i = 0; i < batch.length; i += MAX_FINDS_PER_STATEMENT) void run(batch.slice(i, i + MAX_FINDS_PER_STATEMENT));
  };
  return (model, id) => new Promise<Row | undefined>((resolve, reject) => {
    if (!pending) {
      pending = [];
      process.nextTick(flush);
    }
    pending.push({ model, id, resolve, reject });
  });
}
