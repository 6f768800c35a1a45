import type { SharedCounters } from './shared-counters.js';

/**
 * Counts failed credential attempts per key (client IP) in a sliding
 * one-minute window and says when a key has used up its allowance. Only
 * failures count, so legitimate traffic is never slowed. Each process counts
 * exactly in memory; with `shared` (the database or Redis, docs/scaling.md)
 * the failures of every worker and instance count too, seen within about a
 * second.
 */
export class FailureThrottle {
  private readonly hits = new Map<string, number[]>();
  private sweeps = 0;

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
    private readonly shared?: SharedCounters,
  ) {
    shared?.register(perMinute);
  }

  isBlocked(key: string): boolean {
    const local = this.recent(key);
    return (this.shared ? this.shared.total(`throttle:${key}`, local) : local.length) >= this.perMinute;
  }

  recordFailure(key: string): void {
    const list = this.recent(key);
    list.push(this.now());
    this.hits.set(key, list);
    this.shared?.record(`throttle:${key}`, 60_000);
    if (++this.sweeps % 1000 === 0) this.sweep();
  }

  private recent(key: string): number[] {
    const cutoff = this.now() - 60_000;
    const list = (this.hits.get(key) ?? []).filter((t) => t > cutoff);
    if (list.length) this.hits.set(key, list);
    else this.hits.delete(key);
    return list;
  }

  private sweep(): void {
    for (const key of [...this.hits.keys()]) this.recent(key);
  }
}
