import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import {
  PG_URL, adminToken, createUser, issueOpaqueToken, load, missingWrites, ownDatabase, sleep, startServer, tempDir,
} from './harness.js';
import type { Outcome, OwnDatabase } from './harness.js';

/**
 * SIGKILL under a write load (no shutdown, no flush), then a restart on the
 * same data: every write the server acknowledged (201 user, 200 opaque token)
 * is there, and the database passes its integrity check (SQLite:
 * integrity_check and foreign_key_check; PostgreSQL: amcheck over every
 * B-tree index with heapallindexed, and verify_heapam over every table).
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function killUnderLoad(databaseUrl: string, dir: string, rounds: number): Promise<{ acked: Outcome[]; total: number }> {
  const acked: Outcome[] = [];
  let total = 0;
  for (let round = 0; round < rounds; round++) {
    const server = await startServer({ databaseUrl, dir });
    const token = await adminToken(server);
    const writes = load(4, (n) => (n % 4 === 3 ? issueOpaqueToken(server) : createUser(server, token, round * 100_000 + n)));
    // Kill at a different moment each round, mid-load.
    await sleep(1200 + round * 700);
    server.child.kill('SIGKILL');
    expect(await server.exited).toBe('SIGKILL');
    await writes.stop();
    const bad = writes.outcomes.filter((o) => o.status !== 0 && o.status !== 201 && o.status !== 200);
    expect(bad, JSON.stringify(bad.slice(0, 3))).toEqual([]);
    acked.push(...writes.outcomes.filter((o) => o.value));
    total += writes.outcomes.length;
  }
  // Restart on the same data: every acknowledged write is there.
  const server = await startServer({ databaseUrl, dir });
  try {
    const token = await adminToken(server);
    expect(acked.length).toBeGreaterThan(10);
    expect(await missingWrites(server, token, acked)).toEqual([]);
  } finally {
    await server.stop();
  }
  return { acked, total };
}

describe('SIGKILL under write load', () => {
  test('SQLite: acknowledged writes survive; integrity_check ok', async () => {
    const tmp = tempDir('tessera-fault-kill-');
    cleanups.push(() => tmp.dispose());
    const file = join(tmp.dir, 'tessera.db');
    const { acked, total } = await killUnderLoad(`sqlite:${file}`, tmp.dir, 2);
    const db = new SQLite(file, { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.pragma('foreign_key_check')).toEqual([]);
    } finally {
      db.close();
    }
    console.info(`sqlite SIGKILL: ${total} writes attempted, ${acked.length} acknowledged, all present`);
  });

  test.runIf(PG_URL)('PostgreSQL: acknowledged writes survive; amcheck and verify_heapam clean', async () => {
    const own: OwnDatabase = await ownDatabase();
    const tmp = tempDir('tessera-fault-kill-pg-');
    cleanups.push(() => own.drop(), () => tmp.dispose());
    const { acked, total } = await killUnderLoad(own.url, tmp.dir, 2);
    const client = new pg.Client({ connectionString: own.url });
    await client.connect();
    try {
      await client.query('create extension if not exists amcheck');
      const indexes = await client.query(`
        select c.relname, bt_index_check(c.oid, true) is null as ok
        from pg_index i join pg_class c on c.oid = i.indexrelid join pg_am am on am.oid = c.relam
        join pg_namespace n on n.oid = c.relnamespace
        where am.amname = 'btree' and n.nspname = 'public'`);
      expect(indexes.rows.length).toBeGreaterThan(10);
      const tables = await client.query(`
        select c.relname, (select count(*) from verify_heapam(c.oid)) as problems
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind = 'r' and n.nspname = 'public'`);
      expect(tables.rows.filter((r) => Number(r.problems) > 0)).toEqual([]);
    } finally {
      await client.end();
    }
    console.info(`postgres SIGKILL: ${total} writes attempted, ${acked.length} acknowledged, all present`);
  });
});
