/**
 * A small time-bounded read cache for hot, rarely-changing lookups (clients
 * and APIs are read on every token request). Writes through the same process
 * invalidate at once; writes by another process (CLI, another instance) are
 * seen within `ttlMs`. Misses are cached too, so unknown ids cost one read per
 * window at most.
 */
export class ReadCache<T> {
  private readonly entries = new Map<string, { value: T | undefined; expires: number }>();

  constructor(private readonly ttlMs: number, private readonly maxEntries = 10_000, private readonly now: () => number = Date.now) {}

  async get(key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    const hit = this.entries.get(key);
    if (hit && hit.expires > this.now()) return hit.value;
    const value = await load();
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(key, { value, expires: this.now() + this.ttlMs });
    return value;
  }

  invalidate(key?: string): void {
    if (key === undefined) this.entries.clear();
    else this.entries.delete(key);
  }
}
