import { createHmac } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { EventContext } from '../audit/events.js';
import type { TenantPolicy } from './policy.js';
import { ACCOUNT } from './lockout-counters.js';
import type { LockoutCounters } from './lockout-counters.js';
import { shape, writeShape } from '../storage/compiled.js';

/*
 * The sign-in's statements here, compiled once per number of sources (a device, an address, or both;
 * storage/compiled.ts): Kysely building them anew cost about as much CPU as SQLite took to run them (issue 20).
 */
const knownSources = [1, 2].map((n) => shape((db: Kysely<Database>, userId: string, since: number, ...keys: string[]) =>
  db.selectFrom('sign_in_sources').select(['source', 'locked_until'])
    .where('user_id', '=', userId).where('source', 'in', keys).where('known_at', '>', since), 2 + n));
const markKnown = [1, 2].map((n) => writeShape((db: Kysely<Database>, userId: string, now: number, ...sources: string[]) =>
  db.insertInto('sign_in_sources')
    .values(sources.map((source) => ({ user_id: userId, source, known_at: now, failures: 0, window_start: null, locked_until: null })))
    .onConflict((oc) => oc.columns(['user_id', 'source']).doUpdateSet({ known_at: now, failures: 0, window_start: null })), 2 + n));

/** A source stays known this long after its last successful sign-in. */
export const KNOWN_SOURCE_DAYS = 90;
const KNOWN_MS = KNOWN_SOURCE_DAYS * 86_400_000;

/** A source the account signed in from before: its failures are counted (and locked) on its own. */
export interface KnownSource {
  kind: 'device' | 'address';
  /** The keyed digest stored as `sign_in_sources.source`. */
  key: string;
  lockedUntil: number | null;
}

/**
 * The lockout model's "per account and source" part (docs/security.md#lockout-and-throttling).
 * A sign-in attempt counts on one bucket:
 *
 * - the **device** it comes from, when the browser presents a device cookie
 *   (signed, set at a successful sign-in; `context.device`) with which this
 *   account signed in before;
 * - else the **address**, when this account signed in from the client IP
 *   before (within KNOWN_SOURCE_DAYS);
 * - else the account's bucket for **unknown sources** (the users row's
 *   failure count and temporary lock, as before).
 *
 * Failures from unknown sources therefore lock the account for unknown
 * sources only: the owner on a device or at an address that signed in before
 * still gets in with the right password, and each known source locks on its
 * own after the policy's `max_failures`. Which sources are known lives in the
 * database; the counts and the known sources' locks in `counters` (the
 * database, or Redis: identity/lockout-counters.ts), so every instance sees
 * the same counts.
 */
export class SignInSources {
  constructor(private readonly db: Kysely<Database>, private readonly key: string, readonly counters: LockoutCounters) {}

  /** The known source an attempt counts on, or undefined for an unknown one. */
  async resolve(userId: string, context: EventContext, now = Date.now()): Promise<KnownSource | undefined> {
    const candidates: KnownSource['kind'][] = [];
    if (context.device) candidates.push('device');
    if (context.ip) candidates.push('address');
    if (!candidates.length) return undefined;
    const keys = candidates.map((kind) => this.keyOf(kind, context)!);
    const rows = await knownSources[keys.length - 1]!.execute(this.db, userId, now - KNOWN_MS, ...keys);
    // The device first: a cookie names this browser, an address may be shared (a NAT, an office).
    for (const [i, kind] of candidates.entries()) {
      const row = rows.find((r) => r.source === keys[i]);
      if (!row) continue;
      // The database backend's lock is in the row just read; Redis's is asked for (one HGET).
      const lockedUntil = this.counters.kind === 'database'
        ? (row.locked_until === null ? null : Number(row.locked_until))
        : await this.counters.lockedUntil(userId, keys[i]!, now);
      return { kind, key: keys[i]!, lockedUntil };
    }
    return undefined;
  }

  /** True while a known source's own lock lasts. */
  static locked(source: KnownSource, now = Date.now()): boolean {
    return source.lockedUntil !== null && source.lockedUntil > now;
  }

  /**
   * Counts one failure on a known source, or on the account's bucket for
   * unknown sources (`source` undefined), within the policy's window;
   * reaching `max_failures` (or `floor`, another counter of the same
   * attempts, e.g. the account's wrong second-factor codes) locks that
   * bucket for the policy's duration. Returns the count and the lock's end.
   * @throws DatabaseUnavailableError when the counters' backend cannot answer.
   */
  async recordFailure(userId: string, source: KnownSource | undefined, lockout: TenantPolicy['lockout'], now = Date.now(), floor = 0): Promise<{ failures: number; until?: number }> {
    const bucket = source?.key ?? ACCOUNT;
    const failures = Math.max(await this.counters.countFailure(userId, bucket, now, lockout.window_seconds * 1000), floor);
    if (failures < lockout.max_failures) return { failures };
    const until = now + lockout.duration_seconds * 1000;
    await this.counters.lock(userId, bucket, until, now);
    return { failures, until };
  }

  /**
   * A successful sign-in: the device (when the browser has a device cookie)
   * and the address become (or stay) known for this account, their failure
   * counts start over. A lock of one of them that has not run out stays.
   */
  async succeeded(userId: string, context: EventContext, now = Date.now()): Promise<void> {
    const kinds: KnownSource['kind'][] = [];
    if (context.device) kinds.push('device');
    if (context.ip) kinds.push('address');
    if (!kinds.length) return;
    const sources = kinds.map((kind) => this.keyOf(kind, context)!);
    // Both sources in one statement (issue 20: it was one upsert each).
    await markKnown[sources.length - 1]!.run(this.db, userId, now, ...sources);
    // In the database the upsert started the count over; in Redis it is forgotten there.
    if (this.counters.kind === 'redis') for (const source of sources) await this.counters.resetFailures(userId, source);
  }

  /** Whether a known source of the account is locked now, and whether any bucket has failures counting (an unlock has something to end). */
  async hasFailures(userId: string, now = Date.now()): Promise<{ locked: boolean; failures: boolean }> {
    return this.counters.state(userId, now);
  }

  /** Forgets every lock and failure count of the account's sources and buckets (a password reset, an administrator's unlock). */
  async clear(userId: string): Promise<void> {
    await this.counters.clear(userId);
  }

  private keyOf(kind: KnownSource['kind'], context: EventContext): string | undefined {
    const value = kind === 'device' ? context.device : context.ip;
    if (!value) return undefined;
    return createHmac('sha256', this.key).update(`${kind}:${value}`).digest('base64url');
  }
}
