import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';

type Payload = Record<string, unknown>;

/** The engine models that are issued under a grant (they carry its `grantId`). */
const ISSUED_UNDER_GRANT = ['AuthorizationCode', 'AccessToken', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest'];

/**
 * Storage for the protocol engine's short-lived artefacts (sessions,
 * interactions, codes, refresh tokens, grants…), one table for all models.
 * Expiry is enforced on read, and `sweep` deletes what has expired.
 */
export interface OidcPayloadStore {
  upsert(model: string, id: string, payload: Payload, expiresInSeconds?: number): Promise<void>;
  find(model: string, id: string): Promise<Payload | undefined>;
  findByUid(model: string, uid: string): Promise<Payload | undefined>;
  findByUserCode(model: string, userCode: string): Promise<Payload | undefined>;
  /** Marks a one-time artefact (code, rotated refresh token) as used. */
  consume(model: string, id: string): Promise<void>;
  /**
   * Marks it as used only if it was not yet, atomically; true for the one
   * caller that did. Two instances refreshing the same token at once must not
   * both rotate it (oidc/refresh-policy.ts).
   */
  consumeOnce(model: string, id: string): Promise<boolean>;
  destroy(model: string, id: string): Promise<void>;
  /** Deletes by the stable `uid` (a Session's id changes on every login; its uid does not). Says whether it deleted. */
  destroyByUid(model: string, uid: string): Promise<boolean>;
  /**
   * Deletes the codes and tokens issued under a grant (reuse detection,
   * revocation, logout). Not an Interaction that merely points at the grant
   * it would reuse: ending a session while another user's sign-in is under
   * way (the engine logs the old user out, then resumes) must leave it.
   */
  revokeByGrantId(grantId: string): Promise<void>;
  /** Deletes expired rows; returns how many. */
  sweep(now?: number): Promise<number>;
  /** Live artefacts of one model belonging to an account (e.g. its sessions or grants). */
  listByAccount(model: string, accountId: string): Promise<Payload[]>;
  /** Deletes everything issued to an account (sessions, grants, tokens): "sign out everywhere". */
  revokeByAccount(accountId: string, models?: string[]): Promise<number>;
  /**
   * Deletes everything issued to an account except one session and what was
   * issued under its grants ("sign out everywhere else"). Returns how many.
   */
  revokeByAccountExcept(accountId: string, keep: { sessionUid: string; grantIds: string[] }): Promise<number>;
}

export function createOidcPayloadStore(db: Kysely<Database>): OidcPayloadStore {
  const live = (row: Database['oidc_payloads'] | undefined): Payload | undefined => {
    if (!row) return undefined;
    if (row.expires_at !== null && Number(row.expires_at) <= Date.now()) return undefined;
    const payload = JSON.parse(row.payload) as Payload;
    return row.consumed_at === null ? payload : { ...payload, consumed: Math.floor(Number(row.consumed_at) / 1000) };
  };
  return {
    async upsert(model, id, payload, expiresIn) {
      const values = {
        payload: JSON.stringify(payload),
        grant_id: typeof payload.grantId === 'string' ? payload.grantId : null,
        user_code: typeof payload.userCode === 'string' ? payload.userCode : null,
        uid: typeof payload.uid === 'string' ? payload.uid : null,
        account_id: typeof payload.accountId === 'string' ? payload.accountId : null,
        expires_at: expiresIn ? Date.now() + expiresIn * 1000 : null,
      };
      await db.insertInto('oidc_payloads')
        .values({ model, id, consumed_at: null, ...values })
        .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet(values))
        .execute();
    },
    async find(model, id) {
      return live(await db.selectFrom('oidc_payloads').selectAll()
        .where('model', '=', model).where('id', '=', id).executeTakeFirst());
    },
    async findByUid(model, uid) {
      return live(await db.selectFrom('oidc_payloads').selectAll()
        .where('model', '=', model).where('uid', '=', uid).executeTakeFirst());
    },
    async findByUserCode(model, userCode) {
      return live(await db.selectFrom('oidc_payloads').selectAll()
        .where('model', '=', model).where('user_code', '=', userCode).executeTakeFirst());
    },
    async consume(model, id) {
      await db.updateTable('oidc_payloads').set({ consumed_at: Date.now() })
        .where('model', '=', model).where('id', '=', id).execute();
    },
    async consumeOnce(model, id) {
      const res = await db.updateTable('oidc_payloads').set({ consumed_at: Date.now() })
        .where('model', '=', model).where('id', '=', id).where('consumed_at', 'is', null).executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },
    async destroy(model, id) {
      await db.deleteFrom('oidc_payloads').where('model', '=', model).where('id', '=', id).execute();
    },
    async destroyByUid(model, uid) {
      const res = await db.deleteFrom('oidc_payloads').where('model', '=', model).where('uid', '=', uid).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
    async revokeByGrantId(grantId) {
      await db.deleteFrom('oidc_payloads').where('grant_id', '=', grantId).where('model', 'in', ISSUED_UNDER_GRANT).execute();
    },
    async listByAccount(model, accountId) {
      const rows = await db.selectFrom('oidc_payloads').selectAll()
        .where('model', '=', model).where('account_id', '=', accountId).execute();
      return rows.map(live).filter((p): p is Payload => p !== undefined);
    },
    async revokeByAccount(accountId, models) {
      let q = db.deleteFrom('oidc_payloads').where('account_id', '=', accountId);
      if (models?.length) q = q.where('model', 'in', models);
      const res = await q.executeTakeFirst();
      return Number(res.numDeletedRows);
    },
    async revokeByAccountExcept(accountId, keep) {
      // The session by its uid (its id changes when it is re-issued); grants are rows of their own
      // (id = grant id); tokens and codes carry the grant id.
      const res = await db.deleteFrom('oidc_payloads').where('account_id', '=', accountId)
        .where((eb) => eb.not(eb.or([
          eb.and([eb('model', '=', 'Session'), eb('uid', '=', keep.sessionUid)]),
          ...(keep.grantIds.length ? [
            eb.and([eb('model', '=', 'Grant'), eb('id', 'in', keep.grantIds)]),
            eb.and([eb('model', '!=', 'Grant'), eb('grant_id', 'is not', null), eb('grant_id', 'in', keep.grantIds)]),
          ] : []),
        ])))
        .executeTakeFirst();
      return Number(res.numDeletedRows);
    },
    async sweep(now = Date.now()) {
      const res = await db.deleteFrom('oidc_payloads').where('expires_at', '<=', now).executeTakeFirst();
      return Number(res.numDeletedRows);
    },
  };
}
