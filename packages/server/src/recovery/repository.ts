import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { inTransaction } from '../storage/errors.js';
import { createUserRepository } from '../identity/repository.js';
import type { UserRepository } from '../identity/repository.js';
import { createActionTokenRepository } from '../identity/tokens.js';
import type { ActionTokenRepository } from '../identity/tokens.js';
import type { OidcPayloadStore } from '../oidc/payload-store.js';

/** Device rows of the account pages' session list (table session_meta, keyed by the engine Session's uid). */
export interface SessionDetailsStore {
  deleteByAccount(accountId: string): Promise<void>;
  deleteByAccountExcept(accountId: string, keepSid: string): Promise<void>;
}

/** The repositories a password change writes through, all bound to one transaction. */
export interface RecoveryUnit {
  users: UserRepository;
  tokens: ActionTokenRepository;
  payloads: OidcPayloadStore;
  sessionDetails: SessionDetailsStore;
}

/** Runs `fn` in one transaction: a reset or change either happens completely or not at all. */
export type RecoveryTransaction = <T>(fn: (unit: RecoveryUnit) => Promise<T>) => Promise<T>;

export function createRecoveryTransaction(db: Kysely<Database>, payloads: OidcPayloadStore): RecoveryTransaction {
  return (fn) => inTransaction(db, (trx) => fn({
    users: createUserRepository(trx),
    tokens: createActionTokenRepository(trx),
    payloads: payloads.withDb(trx),
    sessionDetails: createSessionDetailsStore(trx),
  }));
}

function createSessionDetailsStore(db: Kysely<Database>): SessionDetailsStore {
  return {
    async deleteByAccount(accountId) {
      await db.deleteFrom('session_meta').where('account_id', '=', accountId).execute();
    },
    async deleteByAccountExcept(accountId, keepSid) {
      await db.deleteFrom('session_meta').where('account_id', '=', accountId).where('sid', '!=', keepSid).execute();
    },
  };
}
