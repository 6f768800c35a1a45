/**
 * Per-credential request budget of the provisioning APIs, in fixed one-minute
 * windows, with what Okta's rate-limit headers report (`X-Rate-Limit-Limit`,
 * `-Remaining`, `-Reset` in epoch seconds). Per instance: behind a balancer
 * with N instances a credential gets up to N times the budget (docs/provisioning.md).
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; used: number }>();

  constructor(readonly perMinute: number, private readonly now: () => number = Date.now) {}

  take(key: string): { allowed: boolean; limit: number; remaining: number; reset: number } {
    const at = this.now();
    const start = at - (at % 60_000);
    let w = this.windows.get(key);
    if (!w || w.start !== start) {
      w = { start, used: 0 };
      this.windows.set(key, w);
      // Old windows go when their key comes back; bound the map against many one-off keys.
      if (this.windows.size > 10_000) for (const [k, v] of this.windows) if (v.start !== start) this.windows.delete(k);
    }
    const allowed = w.used < this.perMinute;
    if (allowed) w.used++;
    return { allowed, limit: this.perMinute, remaining: Math.max(0, this.perMinute - w.used), reset: Math.ceil((start + 60_000) / 1000) };
  }
}
