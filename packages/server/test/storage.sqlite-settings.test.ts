/**
 * The SQLite connection's settings (storage/database.ts, openSqlite): what
 * the store reports, and the WAL checkpoint interval seen in the WAL file.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, expect, test } from 'vitest';
import { SQLITE_WAL_CHECKPOINT_PAGES, openStore } from '../src/storage/database.js';
import type { Store } from '../src/storage/database.js';

let dir: string;
let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const pragma = async (name: string) => Object.values((await sql.raw<Record<string, unknown>>(`pragma ${name}`).execute(store!.db)).rows[0]!)[0];

test('WAL mode, NORMAL sync, foreign keys, a short busy wait and the checkpoint interval', async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-'));
  store = openStore(`sqlite:${join(dir, 'tessera.db')}`);
  expect(await pragma('journal_mode')).toBe('wal');
  expect(await pragma('synchronous')).toBe(1);
  expect(await pragma('foreign_keys')).toBe(1);
  expect(await pragma('busy_timeout')).toBe(50);
  expect(await pragma('wal_autocheckpoint')).toBe(SQLITE_WAL_CHECKPOINT_PAGES);
});

test('the WAL grows past SQLite\'s default 1 000 pages before it is checkpointed', async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-'));
  store = openStore(`sqlite:${join(dir, 'tessera.db')}`);
  await store.migrate();
  const pageSize = Number(await pragma('page_size'));
  // 1 500 commits of a page-sized row each: with the default interval the WAL would be
  // checkpointed at 1 000 pages and written again from its start, staying near 1 000 pages.
  const value = 'x'.repeat(pageSize);
  for (let i = 0; i < 1500; i++) {
    await store.db.insertInto('tessera_meta').values({ key: `wal-test-${i}`, value }).execute();
  }
  const walPages = statSync(join(dir, 'tessera.db-wal')).size / (pageSize + 24);
  expect(walPages).toBeGreaterThan(2500);
  expect(walPages).toBeLessThan(SQLITE_WAL_CHECKPOINT_PAGES + 100);
});
