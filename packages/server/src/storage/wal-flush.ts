import { close, fdatasync, open } from 'node:fs';
import type { Database as SqliteHandle } from 'better-sqlite3';

/** How often the WAL is looked at, and flushed when enough was written. */
export const WAL_FLUSH_INTERVAL_MS = 200;
/** Rows this connection changed since the last flush that make a tick flush: a trickle of background writes does not. */
export const WAL_FLUSH_MIN_CHANGES = 64;

/** Writes a file's dirty pages to disk, off the calling thread; calls `done` when finished or failed. */
export type FileFlush = (path: string, done: () => void) => void;

/** fdatasync on a descriptor of its own, in libuv's thread pool: syncing any descriptor of a file syncs the file. */
export const fdatasyncFile: FileFlush = (path, done) => {
  open(path, 'r', (err, fd) => {
    if (err) return done(); // no WAL yet, or it was just removed: nothing to flush
    fdatasync(fd, () => close(fd, () => done()));
  });
};

export interface WalFlushOptions {
  intervalMs?: number;
  minChanges?: number;
  flush?: FileFlush;
}

/**
 * Flushes SQLite's write-ahead log to disk in the background while it grows
 * (issue 20). An automatic checkpoint (every SQLITE_WAL_CHECKPOINT_PAGES
 * pages, database.ts) first syncs the WAL, then copies its pages into the
 * database file and syncs that. better-sqlite3 runs it inside the statement
 * whose commit crossed the threshold, on the event loop: no request is served
 * meanwhile (~0.1 s per 5 000 pages on this project's CI disk). With the WAL
 * already on disk its sync has little left to do; the copy into the database
 * file and that file's sync, most of a stall at this interval, remain. On a
 * refresh replay the stalls' share fell by about 15 %
 * (`bench/sqlite-checkpoints.mjs --presync-ms`, docs/performance.md).
 *
 * Only the timing of the writes changes: the same pages reach the disk
 * earlier, from libuv's thread pool, and SQLite's locks, checkpoints and
 * durability are untouched. Every `intervalMs`, when this connection changed
 * at least `minChanges` rows since the last flush (`total_changes()`), the WAL
 * is synced from a descriptor of its own; one flush at a time.
 */
export function flushWalInBackground(raw: SqliteHandle, walPath: string, opts: WalFlushOptions = {}): { stop(): void } {
  const flush = opts.flush ?? fdatasyncFile;
  const minChanges = opts.minChanges ?? WAL_FLUSH_MIN_CHANGES;
  // A select without a table reads no page and takes no lock: safe inside another caller's transaction.
  const changes = raw.prepare('select total_changes()').pluck();
  let flushedAt = 0;
  let flushing = false;
  const timer = setInterval(() => {
    if (flushing || !raw.open) return;
    let now: number;
    try {
      now = Number(changes.get());
    } catch {
      return; // the connection cannot answer now (closing, or a driver that refuses while it streams): next tick
    }
    if (now - flushedAt < minChanges) return;
    flushedAt = now;
    flushing = true;
    flush(walPath, () => {
      flushing = false;
    });
  }, opts.intervalMs ?? WAL_FLUSH_INTERVAL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
