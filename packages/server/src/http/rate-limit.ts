import type { SharedCounters } from './shared-counters.js';

export interface RateLimiterOptions {
  /** Shares the counts with every worker and instance (docs/scaling.md); the name keeps limiters apart. */
  shared?: { counters: SharedCounters; name: string };
  now?: () => number;
}

/**
 * Counts requests per key (client IP) in a sliding window and refuses those
 * over the limit. Unlike FailureThrottle, which only counts failures, every
 * request counts: it is meant for endpoints where success and failure look
 * the same on purpose (a password-reset request answers identically for
 * unknown emails), so only the volume can be limited. Exact per process;
 * with `shared`, the requests of every worker and instance count too, seen
 * within about a second (Platform.rateLimiter builds such limiters).
 */
export class RateLimiter {
  private readonly hits = new Map<string, number[]>();
  private calls = 0;
  private readonly now: () => number;

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
    nowOrOptions: (() => number) | RateLimiterOptions = {},
  ) {
    const options = typeof nowOrOptions === 'function' ? { now: nowOrOptions } : nowOrOptions;
    this.now = options.now ?? Date.now;
    this.shared = options.shared;
    this.shared?.counters.register(limit);
  }

  private readonly shared: RateLimiterOptions['shared'];

  /** Counts one request for `key`; false when the key is over its allowance (the request is then not counted). */
  take(key: string): boolean {
    const list = this.recent(key);
    if (++this.calls % 1000 === 0) this.sweep();
    const sharedKey = this.shared ? `${this.shared.name}:${key}` : '';
    const total = this.shared ? this.shared.counters.total(sharedKey, list) : list.length;
    if (total >= this.limit) return false;
    list.push(this.now());
    this.hits.set(key, list);
    this.shared?.counters.record(sharedKey, this.windowMs);
    return true;
  }

  private recent(key: string): number[] {
    const cutoff = this.now() - this.windowMs;
    const list = (this.hits.get(key) ?? []).filter((t) => t > cutoff);
    if (list.length) this.hits.set(key, list);
    else this.hits.delete(key);
    return list;
  }

  private sweep(): void {
    for (const key of [...this.hits.keys()]) this.recent(key);
  }
}
