/**
 * Server-side storage for sessions and sign-in transactions. A narrow,
 * async key/value interface with a TTL, so a shared store (Redis: `SET key
 * value EX ttl`, `GET`, `DEL`) can replace the in-memory default when the BFF
 * runs as several instances. Values are JSON-serialisable; readers validate
 * them with a schema, as anything read from a shared store is a boundary.
 */
export interface SessionStore {
  get(key: string): Promise<unknown>;
  /** Stores `value` for `ttlSeconds` (whole seconds, at least 1). */
  set(key: string, value: unknown, ttlSeconds: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Releases timers or connections. */
  close?(): Promise<void>;
}

export interface MemoryStoreOptions {
  /**
   * Upper bound on entries. When full, the oldest entry is dropped: this keeps
   * a flood of unauthenticated `/bff/login` requests from exhausting memory
   * (sign-in transactions live in their own store, so the flood only evicts
   * other pending sign-ins, never sessions).
   */
  maxEntries?: number;
  now?: () => number;
  /** How often expired entries are swept; 0 disables the timer. */
  sweepIntervalMs?: number;
}

/** The default store: a Map in this process. Sessions do not survive a restart. */
export class MemorySessionStore implements SessionStore {
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(opts: MemoryStoreOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 100_000;
    this.now = opts.now ?? Date.now;
    const interval = opts.sweepIntervalMs ?? 60_000;
    this.timer = interval > 0 ? setInterval(() => this.sweep(), interval) : undefined;
    // A store must never keep the process alive on its own.
    this.timer?.unref();
  }

  async get(key: string): Promise<unknown> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    // Stored as JSON so callers never share (and mutate) the stored object,
    // exactly as with a networked store.
    return JSON.parse(entry.value) as unknown;
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value: JSON.stringify(value), expiresAt: this.now() + Math.max(1, ttlSeconds) * 1000 });
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  /** Live entries (tests and diagnostics). */
  get size(): number {
    this.sweep();
    return this.entries.size;
  }

  /** Live keys (tests and diagnostics). */
  keys(): string[] {
    this.sweep();
    return [...this.entries.keys()];
  }

  /** Live values (tests and diagnostics). */
  values(): unknown[] {
    this.sweep();
    return [...this.entries.values()].map((e) => JSON.parse(e.value) as unknown);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}
