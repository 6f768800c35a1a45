/**
 * storage/pg-named.ts: PostgreSQL runs the hot statements as server-side
 * prepared statements, and falls back to unnamed ones, without losing the
 * query, when a plan went stale after a migration or when a pooler in front
 * of the server cannot carry them (simulated here by the server forgetting
 * them, or already having one by that name, as a pooler's other server
 * connection would). SQLite has no such statements; the URL parameter's
 * check runs on every engine.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { sql } from 'kysely';
import { ENGINES } from './helpers/engines.js';
import type { TestStore } from './helpers/app.js';
import { namedStatements } from '../src/storage/pg-named.js';
import { openStore } from '../src/storage/database.js';
import { createOidcPayloadStore } from '../src/oidc/payload-store.js';

test('DATABASE_URL: prepared_statements must be true or false', () => {
  expect(() => openStore('postgres://127.0.0.1:1/x?prepared_statements=maybe')).toThrow(/prepared_statements must be true or false/);
});

for (const engine of ENGINES.filter((e) => e.name === 'postgres')) {
  describe('named statements (postgres)', () => {
    let t: TestStore;
    let client: pg.Client;
    const prepared = async () => (await client.query<{ name: string }>('select name from pg_prepared_statements order by name')).rows.map((r) => r.name);

    beforeEach(async () => {
      t = await engine.open();
      await t.store.migrate();
      client = new pg.Client({ connectionString: t.url, options: `-c search_path=${t.schema}` });
      await client.connect();
      await client.query('create table items (id int primary key, label text)');
      await client.query("insert into items values (1, 'one'), (2, 'two')");
    });
    afterEach(async () => {
      await client?.end();
      await t?.dispose();
    });

    test('a statement is prepared once per connection and run by name', async () => {
      const named = namedStatements({ enabled: true });
      const text = 'select * from items where id = $1';
      expect((await named.query(client, text, [1])).rows).toEqual([{ id: 1, label: 'one' }]);
      expect((await named.query(client, text, [2])).rows).toEqual([{ id: 2, label: 'two' }]);
      const names = await prepared();
      expect(names).toHaveLength(1);
      expect(names[0]).toMatch(/^tessera_/);
      // Another text, another name; the first stays.
      await named.query(client, 'select label from items where id = $1', [1]);
      expect(await prepared()).toHaveLength(2);
    });

    test('turned off: nothing is prepared', async () => {
      const named = namedStatements({ enabled: false });
      expect((await named.query(client, 'select * from items where id = $1', [2])).rows).toEqual([{ id: 2, label: 'two' }]);
      expect(await prepared()).toEqual([]);
    });

    test('a table changed under a prepared select *: the query is answered, then prepared again with the new columns', async () => {
      const named = namedStatements({ enabled: true });
      const text = 'select * from items where id = $1';
      await named.query(client, text, [1]);
      const other = new pg.Client({ connectionString: t.url, options: `-c search_path=${t.schema}` });
      await other.connect();
      try {
        await other.query("alter table items add column note text default 'n'");
      } finally {
        await other.end();
      }
      expect((await named.query(client, text, [1])).rows).toEqual([{ id: 1, label: 'one', note: 'n' }]);
      expect(named.enabled).toBe(true);
      expect((await named.query(client, text, [2])).rows).toEqual([{ id: 2, label: 'two', note: 'n' }]);
      expect((await prepared()).filter((n) => n.endsWith('_1'))).toHaveLength(1);
    });

    test('the server forgot a statement (a pooler switched connections): answered unnamed, named statements off, said once', async () => {
      const said: string[] = [];
      const named = namedStatements({ enabled: true, onDisabled: (reason) => said.push(reason) });
      const text = 'select * from items where id = $1';
      await named.query(client, text, [1]);
      await client.query('deallocate all');
      expect((await named.query(client, text, [2])).rows).toEqual([{ id: 2, label: 'two' }]);
      expect(named.enabled).toBe(false);
      expect(said).toHaveLength(1);
      expect(said[0]).toMatch(/26000/);
      expect((await named.query(client, text, [1])).rows).toEqual([{ id: 1, label: 'one' }]);
      expect(await prepared()).toEqual([]);
      expect(said).toHaveLength(1);
    });

    test('the server already has a statement by that name (another client of a pooler prepared it): answered unnamed', async () => {
      const text = 'select * from items where id = $1';
      // Learn the name on a throw-away connection, then prepare it by hand on this one.
      const probe = new pg.Client({ connectionString: t.url, options: `-c search_path=${t.schema}` });
      await probe.connect();
      let name: string;
      try {
        await namedStatements({ enabled: true }).query(probe, text, [1]);
        name = (await probe.query<{ name: string }>('select name from pg_prepared_statements')).rows[0]!.name;
      } finally {
        await probe.end();
      }
      await client.query(`prepare "${name}" as select label from items where id = $1`);
      const said: string[] = [];
      const named = namedStatements({ enabled: true, onDisabled: (reason) => said.push(reason) });
      expect((await named.query(client, text, [2])).rows).toEqual([{ id: 2, label: 'two' }]);
      expect(named.enabled).toBe(false);
      expect(said[0]).toMatch(/42P05/);
    });

    test('any other error is the query\'s own and is thrown', async () => {
      const named = namedStatements({ enabled: true });
      await expect(named.query(client, 'insert into items values ($1, $2)', [1, 'again'])).rejects.toMatchObject({ code: '23505' });
      expect(named.enabled).toBe(true);
    });

    test('the store runs its token lookups and writes by name, and not with prepared_statements=false', async () => {
      for (const [setting, expected] of [['true', true], ['false', false]] as const) {
        const store = openStore(`${t.url}?schema=${t.schema}&prepared_statements=${setting}`, { poolSize: 1 });
        try {
          await store.migrate();
          const payloads = createOidcPayloadStore(store.db, 'k'.repeat(32));
          await payloads.upsert('AccessToken', `at-${setting}`, { jti: `at-${setting}`, kind: 'AccessToken' }, 60);
          expect(await payloads.find('AccessToken', `at-${setting}`)).toMatchObject({ kind: 'AccessToken' });
          // One connection in the pool: this query runs on the session that ran the store's statements.
          const { rows } = await sql<{ name: string }>`select name from pg_prepared_statements where name like 'tessera_%'`.execute(store.db);
          expect(rows.length > 0).toBe(expected);
        } finally {
          await store.close();
        }
      }
    });
  });
}
