import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { KeyEncryptionKey } from '../oidc/kek.js';

/**
 * Upstream round trips in flight. `state` is a 256-bit random value, stored
 * only as a digest, usable once (the callback deletes the row it finds, and
 * only the request whose delete succeeded goes on), expiring after
 * FLOW_TTL_MS, and bound to the engine interaction it started from and to
 * the browser (a cookie whose digest the row holds). What the callback
 * learnt (the upstream identity) waits in a second row, keyed by the
 * interaction, until /interaction/:uid/federation/resume picks it up.
 */

export const FLOW_TTL_MS = 10 * 60_000;
/** Between the callback and the resume: one redirect. */
const RETURNED_TTL_MS = 2 * 60_000;

export interface FlowStart {
  uid: string;
  provider: string;
  tenantId: string;
  nonce: string;
  codeVerifier: string;
}

export interface StartedFlow extends FlowStart {
  browserHash: string;
  expiresAt: number;
}

export interface ReturnedFlow<T> {
  provider: string;
  tenantId: string;
  result: T;
}

const digest = (v: string) => createHash('sha256').update(v).digest('base64url');
export const randomToken = () => randomBytes(32).toString('base64url');

export class FlowStore {
  constructor(private readonly db: Kysely<Database>, private readonly kek: KeyEncryptionKey) {}

  /** Stores a new round trip; returns its `state` and the browser secret for the binding cookie. */
  async start(flow: FlowStart, now = Date.now()): Promise<{ state: string; browserSecret: string }> {
    await this.sweep(now);
    const state = randomToken();
    const browserSecret = randomToken();
    await this.db.insertInto('federation_flows').values({
      state_hash: digest(state), uid: flow.uid, provider: flow.provider, tenant_id: flow.tenantId, browser_hash: digest(browserSecret),
      status: 'started', data: this.kek.encrypt(JSON.stringify({ nonce: flow.nonce, codeVerifier: flow.codeVerifier })),
      created_at: now, expires_at: now + FLOW_TTL_MS,
    }).execute();
    return { state, browserSecret };
  }

  /**
   * Takes a started round trip by its `state`: found, not expired, and this
   * request is the one that consumed it. Undefined otherwise (unknown,
   * replayed, expired).
   */
  async take(state: string, now = Date.now()): Promise<StartedFlow | undefined> {
    const hash = digest(state);
    const row = await this.db.selectFrom('federation_flows').selectAll().where('state_hash', '=', hash).where('status', '=', 'started').executeTakeFirst();
    if (!row) return undefined;
    const res = await this.db.deleteFrom('federation_flows').where('state_hash', '=', hash).where('status', '=', 'started').executeTakeFirst();
    if (Number(res.numDeletedRows) !== 1 || Number(row.expires_at) <= now) return undefined;
    const data = JSON.parse(this.kek.decrypt(row.data)) as { nonce: string; codeVerifier: string };
    return {
      uid: row.uid, provider: row.provider, tenantId: row.tenant_id, nonce: data.nonce, codeVerifier: data.codeVerifier,
      browserHash: row.browser_hash, expiresAt: Number(row.expires_at),
    };
  }

  /** True when the browser's secret is the one the round trip was started with. */
  static sameBrowser(flow: StartedFlow, browserSecret: string | undefined): boolean {
    return typeof browserSecret === 'string' && browserSecret.length > 0 && digest(browserSecret) === flow.browserHash;
  }

  /** Keeps what the callback learnt for the interaction's resume (one per interaction; a newer one replaces it). */
  async returned<T>(flow: StartedFlow, result: T, now = Date.now()): Promise<void> {
    const key = `returned:${flow.uid}`;
    await this.db.deleteFrom('federation_flows').where('state_hash', '=', key).execute();
    await this.db.insertInto('federation_flows').values({
      state_hash: key, uid: flow.uid, provider: flow.provider, tenant_id: flow.tenantId, browser_hash: flow.browserHash,
      status: 'returned', data: this.kek.encrypt(JSON.stringify(result)), created_at: now, expires_at: now + RETURNED_TTL_MS,
    }).execute();
  }

  /** Takes (once) what the callback learnt for this interaction. */
  async resume<T>(uid: string, now = Date.now()): Promise<ReturnedFlow<T> | undefined> {
    const key = `returned:${uid}`;
    const row = await this.db.selectFrom('federation_flows').selectAll().where('state_hash', '=', key).executeTakeFirst();
    if (!row) return undefined;
    const res = await this.db.deleteFrom('federation_flows').where('state_hash', '=', key).executeTakeFirst();
    if (Number(res.numDeletedRows) !== 1 || Number(row.expires_at) <= now) return undefined;
    return { provider: row.provider, tenantId: row.tenant_id, result: JSON.parse(this.kek.decrypt(row.data)) as T };
  }

  /**
   * An upstream end-session round trip (federated logout): where the
   * browser goes on to once the upstream sends it back. Returns the `state`
   * (single use, expiring; only a digest is stored).
   */
  async logoutStarted(input: { sessionUid: string; provider: string; tenantId: string; location: string }, now = Date.now()): Promise<string> {
    await this.sweep(now);
    const state = randomToken();
    await this.db.insertInto('federation_flows').values({
      state_hash: digest(state), uid: input.sessionUid, provider: input.provider, tenant_id: input.tenantId, browser_hash: '',
      status: 'logout', data: this.kek.encrypt(JSON.stringify({ location: input.location })), created_at: now, expires_at: now + FLOW_TTL_MS,
    }).execute();
    return state;
  }

  /** Takes (once) the location an upstream end-session round trip of `provider` returns to. */
  async takeLogout(provider: string, state: string, now = Date.now()): Promise<string | undefined> {
    const hash = digest(state);
    const row = await this.db.selectFrom('federation_flows').selectAll().where('state_hash', '=', hash).where('status', '=', 'logout').executeTakeFirst();
    if (!row || row.provider !== provider) return undefined;
    const res = await this.db.deleteFrom('federation_flows').where('state_hash', '=', hash).where('status', '=', 'logout').executeTakeFirst();
    if (Number(res.numDeletedRows) !== 1 || Number(row.expires_at) <= now) return undefined;
    return (JSON.parse(this.kek.decrypt(row.data)) as { location: string }).location;
  }

  async sweep(now = Date.now()): Promise<void> {
    await this.db.deleteFrom('federation_flows').where('expires_at', '<=', now).execute();
  }
}
