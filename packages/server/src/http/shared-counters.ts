import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Database } from '../storage/schema.js';

/**
 * Where throttle and rate-limit hits are shared between workers and
 * instances: Redis when REDIS_URL is set (storage/redis.ts), the database's
 * `rate_counters` table otherwise (migration 037). docs/scaling.md.
 */
export interface CounterBackend {
  readonly kind: 'database' | 'redis';
  /** Adds `hits` to `key` in the bucket starting at `bucket`; the bucket leaves the window at `expiresAt`. */
  add(key: string, bucket: number, hits: number, expiresAt: number): Promise<void>;
  /** Keys whose hits still in their window reach `atLeast`, with their totals. */
  heavy(now: number, atLeast: number): Promise<Map<string, number>>;
  /** Deletes buckets that left their window (the sweeper). */
  sweep(now: number): Promise<void>;
}

/** The database backend: one upsert per hit, one aggregate per refresh. */
export function sqlCounterBackend(db: Kysely<Database>): CounterBackend {
  return {
    kind: 'database',
    async add(key, bucket, hits, expiresAt) {
      await db.insertInto('rate_counters').values({ key, bucket, hits, expires_at: expiresAt })
        .onConflict((oc) => oc.columns(['key', 'bucket']).doUpdateSet((eb) => ({ hits: eb('rate_counters.hits', '+', eb.ref('excluded.hits')) })))
        .execute();
    },
    async heavy(now, atLeast) {
      const rows = await db.selectFrom('rate_counters')
        .select(['key', sql<number>`sum(hits)`.as('n')])
        .where('expires_at', '>', now)
        .groupBy('key')
        .having(sql`sum(hits)`, '>=', atLeast)
        .execute();
      return new Map(rows.map((r) => [r.key, Number(r.n)]));
    },
    async sweep(now) {
      await db.deleteFrom('rate_counters').where('expires_at', '<=', now).execute();
    },
  };
}

export interface SharedCountersOptions {
  /** How often the totals of busy keys are read back (default 1000 ms): the lag between workers. */
  refreshMs?: number;
  now?: () => number;
  /** A backend failure (Redis or database down): counting goes on per process. */
  onError?: (err: unknown) => void;
  /** The backend answers again. */
  onRecover?: () => void;
}

/**
 * Hits of every throttle and rate limiter of this process, shared through a
 * backend. Each limiter keeps its own exact in-process count (immediate) and
 * adds, for keys over half the smallest limit anywhere, the totals of all
 * processes, read back every `refreshMs`: a key over its limit in any
 * process is refused in all of them within about a second. If the backend
 * fails, limiters keep their per-process counts (a log line and a metric).
 */
export class SharedCounters {
  private totals = new Map<string, number>();
  /** When the totals were read: hits of this process after it are not in them yet. */
  private readAt = 0;
  private minLimit = Number.POSITIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private readonly now: () => number;
  private readonly pending = new Set<Promise<void>>();

  constructor(readonly backend: CounterBackend | undefined, private readonly opts: SharedCountersOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  /** Tells the refresh which totals matter (keys at or over half the smallest limit). */
  register(limit: number): void {
    this.minLimit = Math.min(this.minLimit, limit);
  }

  /** Counts one hit for `key` (a limiter-prefixed key) in a window of `windowMs`. */
  record(key: string, windowMs: number): void {
    if (!this.backend) return;
    // Buckets of a sixth of the window: the shared count is the window's last six buckets (a sliding window, roughly).
    const size = Math.max(1, Math.floor(windowMs / 6));
    const bucket = Math.floor(this.now() / size) * size;
    const p = this.backend.add(key, bucket, 1, bucket + windowMs)
      .then(() => this.ok(), (err) => this.failed(err))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /**
   * The total of all processes for `key`: as last read (0 when it was under
   * every limit) plus this process's own hits since (`localTimes`, its hit
   * times), never less than those local hits alone.
   */
  total(key: string, localTimes: number[]): number {
    const read = this.totals.get(key);
    if (read === undefined) return localTimes.length;
    let since = 0;
    for (const t of localTimes) if (t > this.readAt) since++;
    return Math.max(localTimes.length, read + since);
  }

  /** Reads the totals now. */
  async refresh(): Promise<void> {
    if (!this.backend || this.minLimit === Number.POSITIVE_INFINITY) return;
    try {
      // Half the smallest limit: a key is read back well before any limit is reached, and quiet keys stay out.
      const totals = await this.backend.heavy(this.now(), Math.max(1, Math.floor(this.minLimit / 2)));
      // After the read: a hit of this process counted in "since" can then never be in the totals too (no double count).
      this.readAt = this.now();
      this.totals = totals;
      this.ok();
    } catch (err) {
      this.failed(err);
    }
  }

  /** Waits for hits not yet written (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  start(): void {
    if (!this.backend || this.timer) return;
    this.timer = setInterval(() => void this.refresh(), this.opts.refreshMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** True while the backend fails (limits are per process meanwhile). */
  get degraded(): boolean {
    return this.failing;
  }

  private ok(): void {
    if (this.failing) {
      this.failing = false;
      this.opts.onRecover?.();
    }
  }

  private failed(err: unknown): void {
    if (!this.failing) {
      this.failing = true;
      this.opts.onError?.(err);
    }
  }
}
