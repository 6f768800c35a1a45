import type { Kysely } from 'kysely';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { Database } from '../storage/schema.js';
import { writeShape } from '../storage/compiled.js';
import type { ClientRepository } from '../oidc/repository.js';
import { signInTenant } from '../interaction/tenant.js';
import { signedInByThisRequest } from '../oidc/tenant-policy.js';

/**
 * `touch`, compiled once (storage/compiled.ts): it runs on every sign-in, and
 * Kysely building it anew cost about as much CPU as SQLite took to run it
 * (issue 20). Two shapes: the tenant column is updated only when the sign-in
 * names one.
 */
const touchRow = [false, true].map((withTenant) => writeShape((db: Kysely<Database>, sid: string, accountId: string, userAgent: string | null, ip: string | null,
  now: number, tenant: string | null) => db.insertInto('session_meta')
  .values({ sid, account_id: accountId, user_agent: userAgent, ip, created_at: now, last_seen_at: now, signed_in_tenant: tenant })
  // The latest device details win: they describe where the session is used now.
  .onConflict((oc) => oc.column('sid').doUpdateSet({ account_id: accountId, user_agent: userAgent, ip, last_seen_at: now, ...(withTenant ? { signed_in_tenant: tenant } : {}) })), 6));

/** Device details of one platform session (the engine keeps none), keyed by the engine Session's `uid`. */
export interface SessionMeta {
  sid: string;
  accountId: string;
  userAgent: string | null;
  ip: string | null;
  createdAt: number;
  lastSeenAt: number;
  /** The tenant the session last signed in to (a sign-in in the request), or null before migration 041. */
  signedInTenant: string | null;
}

export interface SessionMetaRepository {
  /**
   * Records a sign-in or a later authorization in the session: creates the row or refreshes it.
   * `signedInTenant` is given when the request's own sign-in made or replaced the session; a later
   * silent authorization leaves the recorded one.
   */
  touch(input: { sid: string; accountId: string; userAgent: string | null; ip: string | null; signedInTenant?: string }, now?: number): Promise<void>;
  find(sid: string): Promise<SessionMeta | undefined>;
  listByAccount(accountId: string): Promise<SessionMeta[]>;
  delete(sid: string): Promise<void>;
  deleteByAccount(accountId: string): Promise<void>;
  /** Deletes an account's rows for sessions that no longer exist (seen before `before`). */
  prune(accountId: string, liveSids: string[], before: number): Promise<void>;
}

/** Long user agents are cut: the page shows a summary, and nobody needs 10 kB of header per session. */
const MAX_USER_AGENT = 512;
const MAX_IP = 64;

export function createSessionMetaRepository(db: Kysely<Database>): SessionMetaRepository {
  return {
    async touch(input, now = Date.now()) {
      const userAgent = input.userAgent ? input.userAgent.slice(0, MAX_USER_AGENT) : null;
      const ip = input.ip ? input.ip.slice(0, MAX_IP) : null;
      await touchRow[input.signedInTenant !== undefined ? 1 : 0]!.run(db, input.sid, input.accountId, userAgent, ip, now, input.signedInTenant ?? null);
    },
    async find(sid) {
      const r = await db.selectFrom('session_meta').selectAll().where('sid', '=', sid).executeTakeFirst();
      return r ? toMeta(r) : undefined;
    },
    async listByAccount(accountId) {
      const rows = await db.selectFrom('session_meta').selectAll().where('account_id', '=', accountId).execute();
      return rows.map(toMeta);
    },
    async delete(sid) {
      await db.deleteFrom('session_meta').where('sid', '=', sid).execute();
    },
    async deleteByAccount(accountId) {
      await db.deleteFrom('session_meta').where('account_id', '=', accountId).execute();
    },
    async prune(accountId, liveSids, before) {
      let q = db.deleteFrom('session_meta').where('account_id', '=', accountId).where('last_seen_at', '<', before);
      if (liveSids.length) q = q.where('sid', 'not in', liveSids);
      await q.execute();
    },
  };
}

function toMeta(r: Database['session_meta']): SessionMeta {
  return {
    sid: r.sid, accountId: r.account_id, userAgent: r.user_agent, ip: r.ip,
    createdAt: Number(r.created_at), lastSeenAt: Number(r.last_seen_at), signedInTenant: r.signed_in_tenant ?? null,
  };
}

/**
 * Records device details whenever the engine completes an authorization in a
 * session (sign-in, and every later silent or interactive authorization).
 * Called wherever the engine is (re)built, since the provider is replaced on
 * key rotation. Failures are logged, never surfaced to the browser.
 */
export function recordSessionMeta(provider: Provider, meta: SessionMetaRepository, log: Logger, clients: Pick<ClientRepository, 'find'>): void {
  provider.on('authorization.success', (ctx) => {
    const session = ctx.oidc.session;
    const accountId = session?.accountId;
    if (!session?.uid || typeof accountId !== 'string') return;
    const userAgent = ctx.get('user-agent') || null;
    const params = ctx.oidc.params as Record<string, unknown>;
    // The tenant this request's own sign-in was for (the hosted pipeline checked it and its policies).
    const signedIn = signedInByThisRequest(ctx, accountId) ? signInTenant(clients, params) : Promise.resolve(undefined);
    signedIn.then((signedInTenant) => meta.touch({ sid: session.uid, accountId, userAgent, ip: ctx.ip || null, ...(signedInTenant ? { signedInTenant } : {}) }))
      .catch((err: unknown) => log.warn({ err }, 'recording session details failed'));
  });
}
