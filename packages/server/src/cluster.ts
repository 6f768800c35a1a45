import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import pino from 'pino';
import type { Settings } from './config/load.js';
import { ConfigError } from './config/errors.js';

/**
 * `tessera serve --workers N|auto` (or TESSERA_WORKERS): N worker processes
 * on one port through node:cluster (the primary accepts connections and hands
 * them out round robin). What used to live in one process is shared through
 * the database or Redis (docs/scaling.md): throttle and rate-limit counts
 * (http/shared-counters.ts), read caches (storage/changes.ts), jobs under
 * leases (storage/leases.ts); the engine's state was in the store already.
 *
 * The primary serves nothing itself: it has migrated, bootstrapped and applied
 * the configuration file before forking (main.ts), replaces a worker that
 * dies, and on SIGTERM/SIGINT stops every worker gracefully and waits.
 */

/** `--workers` as typed. @throws ConfigError */
export function parseWorkers(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new ConfigError([`--workers: must be a number from 1 to 256 or auto (got "${value}")`], 'the command line');
  return n;
}

/** `auto`: one worker per core the process may use. */
export function workerCount(workers: number | 'auto'): number {
  return workers === 'auto' ? Math.max(1, availableParallelism()) : workers;
}

/** A worker that dies within this of its start counts as a crash at start-up. */
const EARLY_EXIT_MS = 10_000;
const MAX_EARLY_EXITS = 5;

export async function servePrimary(settings: Readonly<Settings>, count: number): Promise<number> {
  const log = pino({ level: settings.logLevel }).child({ role: 'primary' });
  // Round robin on every platform (Linux's default already): no worker takes the lion's share.
  cluster.schedulingPolicy = cluster.SCHED_RR;
  let stopping = false;
  let earlyExits = 0;
  let listening = 0;
  const started = new Map<Worker, number>();
  let ready: () => void;
  let failed: (code: number) => void;
  const outcome = new Promise<number>((resolve) => {
    ready = () => resolve(-1);
    failed = resolve;
  });

  const fork = () => {
    const worker = cluster.fork();
    started.set(worker, Date.now());
    worker.on('message', (msg: { tessera?: string; address?: string }) => {
      if (msg?.tessera !== 'listening') return;
      listening += 1;
      if (listening === count) ready();
    });
  };
  cluster.on('exit', (worker, code, signal) => {
    const since = Date.now() - (started.get(worker) ?? 0);
    started.delete(worker);
    if (stopping) return;
    log.error({ worker: worker.id, pid: worker.process.pid, code, signal }, 'worker exited; starting another');
    if (since < EARLY_EXIT_MS && ++earlyExits >= MAX_EARLY_EXITS) {
      log.fatal('workers keep exiting at start-up; stopping');
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      failed(1);
      return;
    }
    fork();
  });
  for (let i = 0; i < count; i++) fork();
  const first = await outcome;
  if (first !== -1) return first;
  log.info({ address: `http://${settings.host}:${settings.port}`, workers: count, issuer: settings.issuer }, `Tessera is listening (${count} workers)`);

  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down: workers finish their in-flight requests');
      const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
      if (!alive.length) return resolve(0);
      let left = alive.length;
      for (const w of alive) {
        w.once('exit', () => {
          if (--left === 0) resolve(0);
        });
        w.process.kill('SIGTERM');
      }
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
