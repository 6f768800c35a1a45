import { createHash } from 'node:crypto';

/** What a node-postgres client offers that this needs (pg.PoolClient). */
export interface QueryClient {
  query(config: { name?: string; text: string; values: unknown[] }): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

export interface NamedStatements {
  /** Runs `text` as a named (server-side prepared) statement while they work, else as an unnamed one. */
  query(client: QueryClient, text: string, values: readonly unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
  /** False once the server (or a proxy in front of it) refused a named statement: unnamed from then on. */
  readonly enabled: boolean;
}

/**
 * Server-side prepared statements for the hot lookups and token writes
 * (storage/sync-reads.ts's direct path on PostgreSQL; issue 20). An unnamed
 * statement is parsed, analysed and planned by the server on every run; a
 * named one is parsed once per connection (node-postgres keeps which names
 * each connection has prepared) and its plan can be reused, which spares
 * the server most of a short query's work and the client a little.
 *
 * Two ways they can fail, both before the statement runs, so running it
 * again unnamed is safe:
 * - a connection pooler that hands one client's statements to another
 *   server connection (PgBouncer in transaction mode before 1.21, or without
 *   `max_prepared_statements`): "prepared statement … does not exist"
 *   (26000) or "… already exists" (42P05). Named statements are then turned
 *   off for the process, once, and `onDisabled` says why.
 *   `DATABASE_URL=postgres://…?prepared_statements=false` turns them off
 *   from the start (storage/database.ts).
 * - a migration that changed a table a prepared `select *` reads: "cached
 *   plan must not change result type" (0A000). The statement is run
 *   unnamed and later runs use new names, prepared afresh.
 */
export function namedStatements(options: { enabled: boolean; onDisabled?: (reason: string) => void }): NamedStatements {
  let enabled = options.enabled;
  // Bumped when a prepared plan went stale: every name changes, so each is prepared again.
  let generation = 0;
  const names = new Map<string, string>();
  const nameOf = (text: string): string => {
    let base = names.get(text);
    if (base === undefined) {
      base = `tessera_${createHash('sha256').update(text).digest('base64url').slice(0, 22)}`;
      names.set(text, base);
    }
    return generation ? `${base}_${generation}` : base;
  };
  return {
    get enabled() {
      return enabled;
    },
    async query(client, text, values) {
      if (!enabled) return client.query({ text, values: [...values] });
      try {
        return await client.query({ name: nameOf(text), text, values: [...values] });
      } catch (err) {
        const { code, message } = err as { code?: unknown; message?: unknown };
        if (code === '0A000' && typeof message === 'string' && message.includes('cached plan must not change result type')) {
          generation++;
        } else if (code === '26000' || code === '42P05') {
          enabled = false;
          options.onDisabled?.(`${String(message)} (${String(code)})`);
        } else {
          throw err;
        }
        return client.query({ text, values: [...values] });
      }
    },
  };
}
