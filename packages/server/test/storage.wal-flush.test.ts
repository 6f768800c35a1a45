/**
 * SQLite's WAL flushed in the background (storage/wal-flush.ts): when, how
 * often, and that it stops; the real flush on a real database file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { Database as SqliteHandle } from 'better-sqlite3';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { fdatasyncFile, flushWalInBackground } from '../src/storage/wal-flush.js';

const Sqlite = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => SqliteHandle;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let dir: string;
let raw: SqliteHandle;
let stop: (() => void) | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-wal-flush-'));
  raw = new Sqlite(join(dir, 'tessera.db'));
  raw.pragma('journal_mode = WAL');
  raw.exec('create table t (v text)');
});
afterEach(() => {
  stop?.();
  stop = undefined;
  if (raw.open) raw.close();
  rmSync(dir, { recursive: true, force: true });
});

const write = (rows: number) => {
  const insert = raw.prepare('insert into t (v) values (?)');
  for (let i = 0; i < rows; i++) insert.run(`row ${i}`);
};

/** A flush that records its calls and finishes only when told to. */
function recorder() {
  const calls: string[] = [];
  const pending: (() => void)[] = [];
  return { calls, finish: () => pending.splice(0).forEach((done) => done()), flush: (path: string, done: () => void) => { calls.push(path); pending.push(done); } };
}

test('enough written rows flush the WAL once, from its own path; a few rows do not', async () => {
  const r = recorder();
  ({ stop } = flushWalInBackground(raw, join(dir, 'tessera.db-wal'), { intervalMs: 5, minChanges: 50, flush: r.flush }));
  write(10);
  await sleep(40);
  expect(r.calls).toEqual([]);
  write(50);
  await sleep(40);
  expect(r.calls).toEqual([join(dir, 'tessera.db-wal')]);
  r.finish();
  // Nothing new written since: no second flush.
  await sleep(40);
  expect(r.calls).toHaveLength(1);
});

test('one flush at a time: writes during a flush wait for the next tick after it', async () => {
  const r = recorder();
  ({ stop } = flushWalInBackground(raw, join(dir, 'tessera.db-wal'), { intervalMs: 5, minChanges: 50, flush: r.flush }));
  write(60);
  await sleep(40);
  write(60);
  await sleep(40);
  expect(r.calls).toHaveLength(1);
  r.finish();
  await sleep(40);
  expect(r.calls).toHaveLength(2);
});

test('stop ends the flushes', async () => {
  const r = recorder();
  const handle = flushWalInBackground(raw, join(dir, 'tessera.db-wal'), { intervalMs: 5, minChanges: 1, flush: r.flush });
  stop = handle.stop;
  write(5);
  await sleep(30);
  expect(r.calls).toHaveLength(1);
  r.finish();
  handle.stop();
  write(5);
  await sleep(30);
  expect(r.calls).toHaveLength(1);
});

test('a closed connection is left alone: no flush, nothing thrown', async () => {
  const r = recorder();
  write(5);
  ({ stop } = flushWalInBackground(raw, join(dir, 'tessera.db-wal'), { intervalMs: 5, minChanges: 1, flush: r.flush }));
  raw.close();
  await sleep(30);
  expect(r.calls).toEqual([]);
});

test('the real flush finishes for an existing file and for a missing one, and the default flush leaves the database whole', async () => {
  const file = join(dir, 'some.wal');
  writeFileSync(file, 'x'.repeat(8192));
  await new Promise<void>((resolve) => fdatasyncFile(file, resolve));
  await new Promise<void>((resolve) => fdatasyncFile(join(dir, 'missing-wal'), resolve));
  // The database written through the default flush reads back whole.
  ({ stop } = flushWalInBackground(raw, join(dir, 'tessera.db-wal'), { intervalMs: 5, minChanges: 1 }));
  write(200);
  await sleep(50);
  expect(raw.prepare('select count(*) from t').pluck().get()).toBe(200);
});

test('a tick while the connection is iterating a query neither throws nor disturbs the iteration', async () => {
  const r = recorder();
  write(100);
  ({ stop } = flushWalInBackground(raw, join(dir, 'tessera.db-wal'), { intervalMs: 5, minChanges: 50, flush: r.flush }));
  const rows = raw.prepare('select v from t').iterate();
  let seen = 0;
  for (const _ of rows) {
    if (seen++ === 0) await sleep(30);
  }
  expect(seen).toBe(100);
  expect(r.calls).toHaveLength(1);
});
