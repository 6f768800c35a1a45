/**
 * PostgreSQL migrations among schemas that come and go (storage/catalogue-names.ts):
 * Kysely's Migrator asks the catalogue by name only, so another schema
 * dropped meanwhile (a parallel test suite's, another deployment's) cannot
 * fail a migration. On SQLite (one file) there is nothing to check.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { afterEach, describe, expect, test } from 'vitest';
import { ENGINES } from './helpers/engines.js';
import type { TestStore } from './helpers/app.js';
import { withCatalogueNames } from '../src/storage/catalogue-names.js';

/** Creates and drops schemas with serial columns in a loop, as parallel suites do, until stopped. */
function churnSchemas(url: string): { stop(): Promise<number> } {
  const client = new pg.Client({ connectionString: url });
  let running = true;
  let rounds = 0;
  const loop = (async () => {
    await client.connect();
    const name = `churn_${randomBytes(4).toString('hex')}`;
    while (running) {
      await client.query(`create schema ${name}; create table ${name}.a (id serial primary key, x text); create table ${name}.b (id bigserial primary key)`);
      await client.query(`drop schema ${name} cascade`);
      rounds++;
    }
    await client.end();
  })();
  return { stop: async () => { running = false; await loop; return rounds; } };
}

for (const engine of ENGINES) {
  describe(`migrations and the catalogue (${engine.name})`, () => {
    const opened: TestStore[] = [];
    afterEach(async () => {
      for (const t of opened.splice(0)) await t.dispose();
    });

    test('fresh schemas migrate while other schemas are created and dropped', async () => {
      if (engine.name !== 'postgres') return;
      const churn = churnSchemas(process.env.TEST_DATABASE_URL!);
      try {
        for (let i = 0; i < 3; i++) {
          const t = await engine.open();
          opened.push(t);
          await t.store.migrate();
          expect(await t.store.ready()).toBe(true);
        }
      } finally {
        expect(await churn.stop()).toBeGreaterThan(0);
      }
    });

    test('the migration instance\'s catalogue: schemas and tables by name, Kysely\'s own tables when asked, under churn', async () => {
      if (engine.name !== 'postgres') return;
      const t = await engine.open();
      opened.push(t);
      await t.store.migrate();
      const pool = new pg.Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 1, options: `-c search_path=${t.schema}` });
      const db = new Kysely<unknown>({ dialect: withCatalogueNames(new PostgresDialect({ pool })) });
      const churn = churnSchemas(process.env.TEST_DATABASE_URL!);
      try {
        expect((await db.introspection.getSchemas()).map((s) => s.name)).toContain(t.schema);
        for (let i = 0; i < 30; i++) {
          const mine = (await db.introspection.getTables({ withInternalKyselyTables: true })).filter((x) => x.schema === t.schema);
          expect(mine.map((x) => x.name)).toEqual(expect.arrayContaining(['kysely_migration', 'kysely_migration_lock', 'users', 'oidc_payloads']));
          expect(mine.every((x) => x.columns.length === 0 && !x.isView)).toBe(true);
        }
        const plain = (await db.introspection.getTables()).filter((x) => x.schema === t.schema).map((x) => x.name);
        expect(plain).toContain('users');
        expect(plain.some((n) => n.startsWith('kysely_migration'))).toBe(false);
        expect((await db.introspection.getMetadata()).tables.length).toBeGreaterThan(0);
        // It reads the catalogue, nothing of its own: the count matches pg_class.
        const { rows } = await sql<{ n: string }>`select count(*) as n from pg_catalog.pg_class c join pg_catalog.pg_namespace ns on ns.oid = c.relnamespace
          where ns.nspname = ${t.schema} and c.relkind = 'r'`.execute(db);
        expect((await db.introspection.getTables({ withInternalKyselyTables: true })).filter((x) => x.schema === t.schema)).toHaveLength(Number(rows[0]!.n));
      } finally {
        await churn.stop();
        await db.destroy();
      }
    });
  });
}
