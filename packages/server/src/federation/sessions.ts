import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { KeyEncryptionKey } from '../oidc/kek.js';
import { ConflictError, mapConflict } from '../storage/errors.js';
import { shape, writeShape } from '../storage/compiled.js';

/* `discard` and `bind`, compiled once (storage/compiled.ts): run on every sign-in, where Kysely building it anew cost about as much CPU as SQLite took to run it (issue 20). */
const discardUnbound = writeShape((db: Kysely<Database>, interactionUid: string) => db.deleteFrom('federated_sessions')
  .where('interaction_uid', '=', interactionUid).where('session_uid', 'is', null));
const claimedRow = shape((db: Kysely<Database>, interactionUid: string, accountId: string) => db.selectFrom('federated_sessions').select(['id', 'provider'])
  .where('interaction_uid', '=', interactionUid).where('user_id', '=', accountId).where('session_uid', 'is', null));

/**
 * The upstream sign-ins behind Tessera sessions, kept only for providers
 * with `federated_logout: true` (docs/federation.md#federated-logout). A row
 * is written when the upstream's answer is resumed (keyed by the engine
 * interaction), claimed by the user the sign-in finishes as, and bound to
 * the engine Session the interaction resumes into. It holds the upstream
 * `sub` and `sid` (what back-channel logout tokens name) and the upstream
 * ID token encrypted with the KEK (the `id_token_hint` of the upstream
 * end-session request): upstream access and refresh tokens are never kept.
 */
export interface FederatedSession {
  id: string;
  tenantId: string;
  provider: string;
  userId: string | null;
  sessionUid: string | null;
  upstreamSub: string;
  upstreamSid: string | null;
  /** Decrypted. */
  idToken: string | null;
}

/** As long as the longest engine session may live; the rows of sessions ended otherwise go then. */
const ROW_TTL_MS = 30 * 86_400_000;

export class FederatedSessions {
  constructor(private readonly db: Kysely<Database>, private readonly kek: KeyEncryptionKey) {}

  private toSession(r: Database['federated_sessions']): FederatedSession {
    return {
      id: r.id, tenantId: r.tenant_id, provider: r.provider, userId: r.user_id, sessionUid: r.session_uid,
      upstreamSub: r.upstream_sub, upstreamSid: r.upstream_sid, idToken: r.id_token === null ? null : this.kek.decrypt(r.id_token),
    };
  }

  /** A federated sign-in of interaction `uid` came back (replaces an earlier one of that interaction). */
  async pending(input: { interactionUid: string; tenantId: string; provider: string; upstreamSub: string; upstreamSid?: string; idToken?: string }, now = Date.now()): Promise<void> {
    await this.db.deleteFrom('federated_sessions').where('expires_at', '<=', now).execute();
    await this.db.deleteFrom('federated_sessions').where('interaction_uid', '=', input.interactionUid).where('session_uid', 'is', null).execute();
    await this.db.insertInto('federated_sessions').values({
      id: randomUUID(), tenant_id: input.tenantId, provider: input.provider, user_id: null, interaction_uid: input.interactionUid, session_uid: null,
      upstream_sub: input.upstreamSub, upstream_sid: input.upstreamSid ?? null, id_token: input.idToken ? this.kek.encrypt(input.idToken) : null,
      created_at: now, expires_at: now + ROW_TTL_MS,
    }).execute();
  }

  /** The sign-in of interaction `uid` finished as `userId` through the upstream. */
  async claim(interactionUid: string, userId: string): Promise<void> {
    await this.db.updateTable('federated_sessions').set({ user_id: userId })
      .where('interaction_uid', '=', interactionUid).where('session_uid', 'is', null).execute();
  }

  /** The sign-in of interaction `uid` finished otherwise (a local method, e.g. the proof of a link): nothing to keep. */
  async discard(interactionUid: string): Promise<void> {
    await discardUnbound.run(this.db, interactionUid);
  }

  /**
   * The interaction resumed into engine Session `sessionUid` of `accountId`:
   * the claimed row joins it (a newer sign-in through the same provider in
   * that session replaces the older row).
   */
  async bind(interactionUid: string, sessionUid: string, accountId: string): Promise<void> {
    const [row] = await claimedRow.execute(this.db, interactionUid, accountId);
    if (!row) return;
    await this.db.deleteFrom('federated_sessions').where('session_uid', '=', sessionUid).where('provider', '=', row.provider).execute();
    await this.db.updateTable('federated_sessions').set({ session_uid: sessionUid, interaction_uid: null }).where('id', '=', row.id).execute();
  }

  /** Takes (removes and returns) the rows of an engine Session that ended. */
  async takeForSession(sessionUid: string): Promise<FederatedSession[]> {
    const rows = await this.db.selectFrom('federated_sessions').selectAll().where('session_uid', '=', sessionUid).orderBy('created_at', 'desc').execute();
    if (rows.length) await this.db.deleteFrom('federated_sessions').where('id', 'in', rows.map((r) => r.id)).execute();
    return rows.map((r) => this.toSession(r));
  }

  /**
   * Takes the rows a back-channel logout token names: by `sid` (and `sub`
   * when it has both), or every row of the upstream `sub`.
   */
  async takeForLogout(provider: string, match: { sub?: string; sid?: string }): Promise<FederatedSession[]> {
    let q = this.db.selectFrom('federated_sessions').selectAll().where('provider', '=', provider);
    if (match.sid !== undefined) q = q.where('upstream_sid', '=', match.sid);
    if (match.sub !== undefined) q = q.where('upstream_sub', '=', match.sub);
    const rows = await q.execute();
    if (rows.length) await this.db.deleteFrom('federated_sessions').where('id', 'in', rows.map((r) => r.id)).execute();
    return rows.map((r) => this.toSession(r));
  }

  /**
   * Records a logout token's `jti`; false when it was used before (a replay).
   * Kept until `until` (the token's own expiry or the accepted age).
   */
  async firstUse(provider: string, jti: string, until: number, now = Date.now()): Promise<boolean> {
    await this.db.deleteFrom('federation_logout_jtis').where('expires_at', '<=', now).execute();
    try {
      await mapConflict('logout token', jti, () => this.db.insertInto('federation_logout_jtis').values({ provider, jti, expires_at: until }).execute());
      return true;
    } catch (err) {
      if (err instanceof ConflictError) return false;
      throw err;
    }
  }
}
