import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { shape } from '../storage/compiled.js';

/** `find`, compiled once (storage/compiled.ts): run on every sign-in, where Kysely building it anew cost about as much CPU as SQLite took to run it (issue 20). */
const liveState = shape((db: Kysely<Database>, uid: string, now: number) => db.selectFrom('mfa_login_states').selectAll().where('uid', '=', uid).where('expires_at', '>', now));

/** One method the person completed in this sign-in (Kratos' AuthenticationMethod). */
export interface CompletedMethod {
  method: string;
  /** RFC 8176 values it proved. */
  amr: string[];
  /** Epoch milliseconds. */
  at: number;
  /** An upstream provider's alias (federation). */
  provider?: string;
  /** The upstream's acr/amr matched the provider's MFA trust list. */
  upstreamMfa?: boolean;
}

/**
 * A sign-in between its first factor and its finish, keyed by the engine
 * interaction uid (bound to the browser by the engine's interaction cookie;
 * never taken from a form). Stored in `mfa_login_states` (migrations 005, 013).
 */
export interface SignInState {
  uid: string;
  userId: string;
  completed: CompletedMethod[];
  /** The session's account is stepping up: the first factor came from the live session. */
  stepUp: boolean;
  /** The factors are done and a method's page (e.g. new recovery codes) is on screen: the next step finishes. */
  done: boolean;
  /** Methods' scratch values, by key (e.g. the TOTP enrollment shown in the sign-in). */
  data: Record<string, unknown>;
  expiresAt: number;
}

export interface SignInStateRepository {
  /** Creates or replaces the state of the interaction. */
  put(state: Omit<SignInState, 'done' | 'data'> & { data?: Record<string, unknown> }, now?: number): Promise<void>;
  /** The unexpired state of the interaction. */
  find(uid: string, now?: number): Promise<SignInState | undefined>;
  /** Appends a completed method. */
  addCompleted(uid: string, completed: CompletedMethod[]): Promise<void>;
  /** Marks the factors done (an interstitial page is showing). */
  setDone(uid: string): Promise<void>;
  /** Sets one scratch value. */
  setData(uid: string, key: string, value: unknown): Promise<void>;
  delete(uid: string): Promise<void>;
  /** Deletes the user's pending sign-ins (admin MFA reset). */
  deleteOf(userId: string): Promise<void>;
  /** Deletes expired states; returns how many. */
  sweep(now?: number): Promise<number>;
}

const parse = <T>(text: string | null, fallback: T): T => {
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
};

const flatAmr = (completed: readonly CompletedMethod[]) => JSON.stringify([...new Set(completed.flatMap((c) => c.amr))]);

export function createSignInStateRepository(db: Kysely<Database>): SignInStateRepository {
  const find = async (uid: string, now = Date.now()) => {
    const [r] = await liveState.execute(db, uid, now);
    if (!r) return undefined;
    // A row written before migration 013 has only the first factor's amr.
    const completed = parse<CompletedMethod[] | null>(r.completed, null)
      ?? [{ method: 'first', amr: parse<string[]>(r.amr, []), at: Number(r.created_at) }];
    return {
      uid: r.uid, userId: r.user_id, completed, stepUp: Number(r.step_up) === 1, done: r.done_amr !== null,
      data: parse<Record<string, unknown>>(r.data, {}), expiresAt: Number(r.expires_at),
    } satisfies SignInState;
  };
  return {
    async put(state, now = Date.now()) {
      const values = {
        user_id: state.userId, amr: flatAmr(state.completed), completed: JSON.stringify(state.completed), step_up: state.stepUp ? 1 : 0,
        enroll_totp_id: null, done_amr: null, data: JSON.stringify(state.data ?? {}), created_at: now, expires_at: state.expiresAt,
      };
      await db.insertInto('mfa_login_states').values({ uid: state.uid, ...values })
        .onConflict((oc) => oc.column('uid').doUpdateSet(values)).execute();
    },
    find,
    async addCompleted(uid, more) {
      const current = await find(uid);
      if (!current) return;
      const completed = [...current.completed, ...more];
      await db.updateTable('mfa_login_states').set({ completed: JSON.stringify(completed), amr: flatAmr(completed) }).where('uid', '=', uid).execute();
    },
    async setDone(uid) {
      const current = await find(uid);
      await db.updateTable('mfa_login_states').set({ done_amr: current ? flatAmr(current.completed) : '[]' }).where('uid', '=', uid).execute();
    },
    async setData(uid, key, value) {
      const current = await find(uid);
      if (!current) return;
      await db.updateTable('mfa_login_states').set({ data: JSON.stringify({ ...current.data, [key]: value }) }).where('uid', '=', uid).execute();
    },
    async delete(uid) {
      await db.deleteFrom('mfa_login_states').where('uid', '=', uid).execute();
    },
    async deleteOf(userId) {
      await db.deleteFrom('mfa_login_states').where('user_id', '=', userId).execute();
    },
    async sweep(now = Date.now()) {
      const res = await db.deleteFrom('mfa_login_states').where('expires_at', '<=', now).executeTakeFirst();
      return Number(res.numDeletedRows);
    },
  };
}
