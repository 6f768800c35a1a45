import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';

/**
 * Facts about how a store is deployed, kept in the `tessera_meta` key/value
 * table (migration 001): today, the issuer the store was last served as.
 * The CLI reads it so that a command run without the server's own
 * `PORT` / `TESSERA_ISSUER` still prints the right URLs and mails the right
 * links, and never rewrites what depends on the issuer (built-in clients).
 */
export interface InstanceRepository {
  /** The issuer `tessera serve` last started with on this store; undefined before the first serve. */
  servedIssuer(): Promise<string | undefined>;
  /** Recorded by `serve` only (bootstrap.ts). */
  recordServedIssuer(issuer: string): Promise<void>;
}

const SERVED_ISSUER = 'served_issuer';

export function createInstanceRepository(db: Kysely<Database>): InstanceRepository {
  return {
    async servedIssuer() {
      const row = await db.selectFrom('tessera_meta').select('value').where('key', '=', SERVED_ISSUER).executeTakeFirst();
      return row?.value;
    },
    async recordServedIssuer(issuer) {
      await db.insertInto('tessera_meta').values({ key: SERVED_ISSUER, value: issuer })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value: issuer }))
        .execute();
    },
  };
}
