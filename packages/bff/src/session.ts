import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { SessionStore } from './store.js';

/** What the BFF keeps per signed-in browser. Never sent to the browser except `claims` and `csrf`. */
export const SessionSchema = z.object({
  v: z.literal(1),
  sub: z.string().min(1),
  /** Selected ID token claims, shown by `/bff/user`. */
  claims: z.record(z.string(), z.unknown()),
  idToken: z.string().optional(),
  accessToken: z.string().min(1),
  /** Epoch ms. */
  accessTokenExpiresAt: z.number(),
  refreshToken: z.string().optional(),
  /** The scopes the platform granted (shown by `/bff/user`). */
  scopes: z.array(z.string()).optional(),
  /** The platform session id (ID token `sid`): back-channel logout names it. */
  sid: z.string().optional(),
  /** Per-session CSRF token (synchronizer token), compared with `x-bff-csrf`. */
  csrf: z.string().min(32),
  createdAt: z.number(),
  /** Epoch ms: the absolute end of the local session. */
  expiresAt: z.number(),
});
export type Session = z.infer<typeof SessionSchema>;

/** A sign-in in progress, between `/bff/login` and the callback. */
export const TransactionSchema = z.object({
  state: z.string().min(1),
  nonce: z.string().min(1),
  verifier: z.string().min(43),
  returnTo: z.string().startsWith('/'),
});
export type Transaction = z.infer<typeof TransactionSchema>;

export const TRANSACTION_TTL_SECONDS = 600;

/** Sessions remembered per user or platform session for back-channel logout. */
const MAX_INDEXED = 50;

/** 32 random bytes, base64url: the only thing a cookie ever holds. */
export function randomId(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Store keys are digests of the cookie value, so a dump of the store (or a
 * Redis replica, a log of its commands) yields nothing that works as a cookie.
 */
function storeKey(prefix: string, id: string): string {
  return `${prefix}:${createHash('sha256').update(id).digest('base64url')}`;
}

export interface LoadedSession {
  key: string;
  session: Session;
}

/** Sessions over a `SessionStore`, validated on every read. */
export class Sessions {
  constructor(private readonly store: SessionStore, private readonly now: () => number) {}

  keyOf(id: string): string {
    return storeKey('s', id);
  }

  async create(data: Omit<Session, 'v' | 'csrf' | 'createdAt' | 'expiresAt'>, ttlSeconds: number): Promise<{ id: string } & LoadedSession> {
    const id = randomId();
    const now = this.now();
    const session: Session = { v: 1, ...data, csrf: randomId(), createdAt: now, expiresAt: now + ttlSeconds * 1000 };
    const key = this.keyOf(id);
    await this.store.set(key, session, ttlSeconds);
    await this.index('sub', session.sub, key, ttlSeconds);
    if (session.sid) await this.index('sid', session.sid, key, ttlSeconds);
    return { id, key, session };
  }

  /**
   * Ends every local session of a platform session (`sid`) or, without one,
   * of a user (`sub`): what an OIDC back-channel logout token names (§2.4).
   * When both are given, only sessions of that user and that platform session end.
   * @returns how many sessions ended
   */
  async destroyMatching(match: { sub?: string; sid?: string }): Promise<number> {
    const keys = match.sid ? await this.indexed('sid', match.sid) : match.sub ? await this.indexed('sub', match.sub) : [];
    let ended = 0;
    for (const key of keys) {
      const loaded = await this.loadByKey(key);
      if (!loaded) continue;
      if (match.sub && loaded.session.sub !== match.sub) continue;
      if (match.sid && loaded.session.sid !== match.sid) continue;
      await this.store.delete(key);
      ended++;
    }
    return ended;
  }

  /**
   * Secondary index: store keys of the sessions per user and per platform
   * session. Entries may outlive their sessions (readers skip those); the list
   * is bounded so one user signing in endlessly cannot grow it without limit.
   */
  private async index(kind: 'sub' | 'sid', value: string, key: string, ttlSeconds: number): Promise<void> {
    const indexKey = storeKey(`x${kind}`, value);
    const keys = [...(await this.indexed(kind, value)).filter((k) => k !== key), key].slice(-MAX_INDEXED);
    await this.store.set(indexKey, keys, ttlSeconds);
  }

  private async indexed(kind: 'sub' | 'sid', value: string): Promise<string[]> {
    const raw = await this.store.get(storeKey(`x${kind}`, value));
    return Array.isArray(raw) ? raw.filter((k): k is string => typeof k === 'string') : [];
  }

  async load(id: string): Promise<LoadedSession | undefined> {
    return this.loadByKey(this.keyOf(id));
  }

  async loadByKey(key: string): Promise<LoadedSession | undefined> {
    const raw = await this.store.get(key);
    if (raw === undefined) return undefined;
    const parsed = SessionSchema.safeParse(raw);
    // An unreadable entry (older format, tampering in a shared store) is a signed-out browser.
    if (!parsed.success || parsed.data.expiresAt <= this.now()) {
      await this.store.delete(key);
      return undefined;
    }
    return { key, session: parsed.data };
  }

  /** Saves an updated session for what remains of its absolute lifetime. */
  async save(key: string, session: Session): Promise<void> {
    const remaining = Math.ceil((session.expiresAt - this.now()) / 1000);
    if (remaining <= 0) {
      await this.store.delete(key);
      return;
    }
    await this.store.set(key, session, remaining);
  }

  async destroy(key: string): Promise<void> {
    await this.store.delete(key);
  }
}

/** Sign-in transactions: single use, ten minutes. */
export class Transactions {
  constructor(private readonly store: SessionStore) {}

  async create(tx: Transaction): Promise<string> {
    const id = randomId();
    await this.store.set(storeKey('t', id), tx, TRANSACTION_TTL_SECONDS);
    return id;
  }

  /** Reads and deletes: a transaction can complete once (a replayed callback finds nothing). */
  async take(id: string): Promise<Transaction | undefined> {
    const key = storeKey('t', id);
    const raw = await this.store.get(key);
    if (raw === undefined) return undefined;
    await this.store.delete(key);
    const parsed = TransactionSchema.safeParse(raw);
    return parsed.success ? parsed.data : undefined;
  }
}
