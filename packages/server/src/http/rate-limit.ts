/**
 * Counts requests per key (client IP) in a sliding window and refuses those
 * over the limit. Unlike FailureThrottle, which only counts failures, every
 * request counts: it is meant for endpoints where success and failure look
 * the same on purpose (a password-reset request answers identically for
 * unknown emails), so only the volume can be limited. In-memory: with several
 * instances each enforces its own share.
 */
export class RateLimiter {
  private readonly hits = new Map<string, number[]>();
  private calls = 0;

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one request for `key`; false when the key is over its allowance (the request is then not counted). */
  take(key: string): boolean {
    const list = this.recent(key);
    if (++this.calls % 1000 === 0) this.sweep();
    if (list.length >= this.limit) return false;
    list.push(this.now());
    this.hits.set(key, list);
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
