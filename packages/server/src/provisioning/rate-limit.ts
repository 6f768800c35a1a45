import type { SharedCounters } from '../http/shared-counters.js';

/**
 * Per-credential request budget of the provisioning APIs, in fixed one-minute
 * windows, with what Okta's rate-limit headers report (`X-Rate-Limit-Limit`,
 * `-Remaining`, `-Reset` in epoch seconds). Exact per process; with `shared`
 * the requests of every worker and instance count too, seen within about a
 * second (docs/scaling.md).
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; used: number; times: number[] }>();

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = Date.now,
    private readonly shared?: { counters: SharedCounters; name: string },
  ) {
    shared?.counters.register(perMinute);
  }

  take(key: string): { allowed: boolean; limit: number; remaining: number; reset: number } {
    const at = this.now();
    const start = at - (at % 60_000);
    let w = this.windows.get(key);
    if (!w || w.start !== start) {
      w = { start, used: 0, times: [] };
      this.windows.set(key, w);
      // Old windows go when their key comes back; bound the map against many one-off keys.
      if (this.windows.size > 10_000) for (const [k, v] of this.windows) if (v.start !== start) this.windows.delete(k);
    }
    const sharedKey = this.shared ? `${this.shared.name}:${key}:${start}` : '';
    let used = this.shared ? this.shared.counters.total(sharedKey, w.times) : w.used;
    const allowed = used < this.perMinute;
    if (allowed) {
      w.used++;
      used++;
      if (this.shared) {
        w.times.push(at);
        this.shared.counters.record(sharedKey, 60_000);
      }
    }
    return { allowed, limit: this.perMinute, remaining: Math.max(0, this.perMinute - used), reset: Math.ceil((start + 60_000) / 1000) };
  }
}
