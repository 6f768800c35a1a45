/**
 * Per-client request limits: a token bucket per (route, client) that holds
 * `perMinute` requests and refills continuously, so a client may burst up to
 * its minute's allowance but never sustain more. In-process state: with N
 * gateway instances behind a balancer, each enforces the limit on its own
 * share (docs/gateway.md explains the sizing).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(opts: { now?: () => number } = {}) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * Takes one request from the bucket. Returns 0 when allowed, otherwise the
   * whole seconds until the next request would be (the Retry-After value).
   */
  take(key: string, perMinute: number): number {
    const now = this.now();
    const ratePerMs = perMinute / 60_000;
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: perMinute, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(perMinute, b.tokens + (now - b.at) * ratePerMs);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / ratePerMs / 1000));
  }

  /** Forgets full buckets now and then, so idle clients cost no memory. */
  startSweeping(perMinuteOf: (key: string) => number, everyMs = 60_000): void {
    this.sweeper ??= setInterval(() => {
      const now = this.now();
      for (const [key, b] of this.buckets) {
        const perMinute = perMinuteOf(key);
        if (b.tokens + (now - b.at) * (perMinute / 60_000) >= perMinute) this.buckets.delete(key);
      }
    }, everyMs).unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  get size(): number {
    return this.buckets.size;
  }
}
