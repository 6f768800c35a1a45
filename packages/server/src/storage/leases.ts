import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * Named leases in the database (table `leases`, migration 037): how a job
 * that must run on ONE instance at a time (the sweeper, key retirement,
 * directory sync, webhook delivery…) is shared by many workers and instances.
 * Works the same on SQLite (workers of one machine) and PostgreSQL (a fleet).
 *
 * A lease has a holder and an expiry. `acquire(name, ttlMs)` takes a free or
 * expired lease, or renews one this holder already has; it answers false
 * while someone else holds it. A holder that dies stops renewing, its lease
 * expires after `ttlMs`, and the next `acquire` elsewhere takes it over: a
 * job moves to another instance within one ttl.
 *
 * Two ways to use it:
 *
 * 1. A job that runs now and then (at most once per interval, fleet-wide):
 *    ```ts
 *    const job = runExclusively(leases, 'sweeper', 5 * 60_000, () => payloads.sweep(), log);
 *    // on shutdown: job.stop()
 *    ```
 *    Every instance ticks; the one whose tick finds the lease expired takes it
 *    (for one interval) and runs the job; the others skip.
 *
 * 2. A worker that runs continuously (a delivery loop): hold the lease with a
 *    ttl of, say, 30 s, renew it every 10 s, and stop working as soon as a
 *    renewal answers false (another instance took over after a pause):
 *    ```ts
 *    if (await leases.acquire('webhooks', 30_000)) await deliverBatch();
 *    ```
 *    The holder's own `release(name)` on shutdown hands over at once.
 *
 * Clocks: expiries are compared with the acquiring process's clock; keep
 * instances' clocks in sync (NTP) and ttls well above the skew.
 */
export class Leases {
  /** This process: host, pid and a random part (a restarted process is a new holder). */
  readonly holder: string;

  constructor(private readonly db: Kysely<Database>, holder?: string, private readonly now: () => number = Date.now) {
    this.holder = holder ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  }

  /**
   * Takes the lease `name` for `ttlMs` when it is free, expired or already
   * ours (then it is renewed). One statement, so two processes racing for it
   * cannot both win.
   * @returns true when this holder has the lease until now + ttlMs.
   * @throws DatabaseUnavailableError when the database does not answer.
   */
  async acquire(name: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const expires = now + ttlMs;
    await this.db.insertInto('leases')
      .values({ name, holder: this.holder, acquired_at: now, expires_at: expires })
      .onConflict((oc) => oc.column('name').doUpdateSet((eb) => ({
        holder: eb.ref('excluded.holder'),
        expires_at: eb.ref('excluded.expires_at'),
        acquired_at: eb.case().when('leases.holder', '=', this.holder).then(eb.ref('leases.acquired_at')).else(eb.ref('excluded.acquired_at')).end(),
      })).where((eb) => eb.or([eb('leases.holder', '=', this.holder), eb('leases.expires_at', '<=', now)])))
      .execute();
    const row = await this.db.selectFrom('leases').select(['holder', 'expires_at']).where('name', '=', name).executeTakeFirst();
    return row?.holder === this.holder && Number(row.expires_at) === expires;
  }

  /** Gives the lease up (only if this holder has it), so another instance may take it at once. */
  async release(name: string): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', this.holder).execute();
  }

  /**
   * Runs `fn` while holding `name`, waiting (polling every 200 ms, up to
   * `waitMs`) while another process holds it; released afterwards. For work
   * that must not run twice at the same time, such as the first start of
   * several instances on an empty database (key generation, bootstrap).
   * @throws Error when the lease stays taken for `waitMs`.
   */
  async withLease<T>(name: string, ttlMs: number, fn: () => Promise<T>, waitMs = 120_000): Promise<T> {
    const deadline = this.now() + waitMs;
    while (!(await this.acquire(name, ttlMs))) {
      if (this.now() > deadline) throw new Error(`lease ${name} is held by another process for longer than ${waitMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
    try {
      return await fn();
    } finally {
      await this.release(name).catch(() => {});
    }
  }

  /** Who holds `name` now (undefined when nobody or the lease expired). */
  async holderOf(name: string): Promise<{ holder: string; acquiredAt: number; expiresAt: number } | undefined> {
    const row = await this.db.selectFrom('leases').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row || Number(row.expires_at) <= this.now()) return undefined;
    return { holder: row.holder, acquiredAt: Number(row.acquired_at), expiresAt: Number(row.expires_at) };
  }
}

export interface ExclusiveJob {
  /** Runs one tick now (tests): resolves true when this process held the lease and ran the job. */
  tick(): Promise<boolean>;
  /** Stops ticking; waits for a running job. The lease is left to expire (the next holder runs at the next interval). */
  stop(): Promise<void>;
}

/**
 * Runs `job` at most once per `intervalMs` across every process sharing the
 * database: each process ticks every `intervalMs` (the first tick after a
 * random fraction of it, so a fleet started together does not tick in step);
 * a tick that can take the lease `name` for one interval runs the job.
 * Failures are logged, never thrown.
 */
export function runExclusively(
  leases: Leases, name: string, intervalMs: number, job: () => Promise<unknown>,
  log: { error(obj: object, msg: string): void },
): ExclusiveJob {
  let running: Promise<boolean> | undefined;
  let stopped = false;
  const tick = (): Promise<boolean> => {
    if (stopped) return Promise.resolve(false);
    running ??= (async () => {
      try {
        // A little less than the interval: the holder's own next tick finds it expired and takes it again.
        if (!(await leases.acquire(name, Math.max(1, intervalMs - Math.min(1000, intervalMs / 10))))) return false;
        await job();
        return true;
      } catch (err) {
        log.error({ err, job: name }, `${name} failed`);
        return false;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  let interval: NodeJS.Timeout | undefined;
  const first = setTimeout(() => {
    void tick();
    interval = setInterval(() => void tick(), intervalMs);
    interval.unref();
  }, Math.floor(Math.random() * intervalMs));
  first.unref();
  return {
    tick,
    async stop() {
      stopped = true;
      clearTimeout(first);
      if (interval) clearInterval(interval);
      await running;
    },
  };
}
