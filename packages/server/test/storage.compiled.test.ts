/**
 * storage/compiled.ts on every engine: a query compiled once returns what the
 * same query built by Kysely returns, binds each call's parameters in their
 * places, runs inside a transaction, and leaves plugins their view.
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { Kysely, KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { ENGINES } from './helpers/engines.js';
import type { TestStore } from './helpers/app.js';
import type { Database } from '../src/storage/schema.js';
import { shape, writeShape } from '../src/storage/compiled.js';
import { directReader, directWriter, syncReader, syncWriter } from '../src/storage/sync-reads.js';
import { openStore } from '../src/storage/database.js';
import { DatabaseUnavailableError } from '../src/storage/availability.js';

/** Rows of tessera_meta with a key in [from, to] and a value other than `not`, plus a constant of the builder's own. */
const build = (db: Kysely<Database>, to: string, from: string, not: string) => db.selectFrom('tessera_meta')
  .select(['key', 'value'])
  // Parameters used in another order than declared, and a constant between them.
  .where('key', '>=', from).where('key', 'not like', 'internal:%').where('key', '<=', to).where('value', '!=', not)
  .orderBy('key');
const range = shape(build);

class Counter implements KyselyPlugin {
  n = 0;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.n++;
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

for (const engine of ENGINES) {
  describe(`compiled queries (${engine.name})`, () => {
    let t: TestStore;
    let db: Kysely<Database>;

    beforeEach(async () => {
      t = await engine.open();
      await t.store.migrate();
      db = t.store.db;
      await db.deleteFrom('tessera_meta').execute();
      await db.insertInto('tessera_meta').values(['a', 'b', 'c', 'd', 'internal:x'].map((key, i) => ({ key, value: `v${i}` }))).execute();
    });
    afterEach(async () => {
      await t?.dispose();
    });

    test('the same rows as the query built by Kysely, each call with its own parameters in their places', async () => {
      for (const [to, from, not] of [['c', 'a', 'v1'], ['d', 'b', 'none'], ['a', 'd', 'v0'], ['z', 'a', 'v3'], ['b', 'b', 'v1']] as const) {
        const built = await build(db, to, from, not).execute();
        expect(await range.execute(db, to, from, not)).toEqual(built);
      }
      expect(await range.execute(db, 'c', 'a', 'v1')).toEqual([{ key: 'a', value: 'v0' }, { key: 'c', value: 'v2' }]);
      expect(await range.execute(db, 'z', 'a', 'none')).toHaveLength(4);
    });

    test('inside a transaction: sees its uncommitted writes, and what it read is gone after a rollback', async () => {
      const failure = new Error('roll back');
      await expect(db.transaction().execute(async (trx) => {
        await trx.insertInto('tessera_meta').values({ key: 'bb', value: 'new' }).execute();
        expect(await range.execute(trx, 'bz', 'b', 'none')).toEqual([{ key: 'b', value: 'v1' }, { key: 'bb', value: 'new' }]);
        throw failure;
      })).rejects.toBe(failure);
      expect(await range.execute(db, 'bz', 'b', 'none')).toEqual([{ key: 'b', value: 'v1' }]);
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('tessera_meta').values({ key: 'bc', value: 'kept' }).execute();
        expect((await range.execute(trx, 'bz', 'b', 'none')).map((r) => r.key)).toEqual(['b', 'bc']);
      });
      expect((await range.execute(db, 'bz', 'b', 'none')).map((r) => r.key)).toEqual(['b', 'bc']);
    });

    test('a database with plugins gets the query built on every call, so they see each statement', async () => {
      const counter = new Counter();
      const counted = db.withPlugin(counter);
      expect(await range.execute(counted, 'c', 'a', 'v1')).toEqual([{ key: 'a', value: 'v0' }, { key: 'c', value: 'v2' }]);
      expect(await range.execute(counted, 'd', 'd', 'v1')).toEqual([{ key: 'd', value: 'v3' }]);
      expect(counter.n).toBe(2);
    });

    test('a read on the root instance while a transaction holds the connection waits for it: never its uncommitted rows', async () => {
      for (const outcome of ['commit', 'rollback'] as const) {
        let open!: () => void;
        const gate = new Promise<void>((resolve) => (open = resolve));
        let inserted!: () => void;
        const written = new Promise<void>((resolve) => (inserted = resolve));
        const trx = db.transaction().execute(async (tx) => {
          await tx.insertInto('tessera_meta').values({ key: `bd-${outcome}`, value: 'uncommitted' }).execute();
          inserted();
          await gate;
          if (outcome === 'rollback') throw new Error('roll back');
        }).catch(() => undefined);
        await written;
        let read: { key: string }[] | undefined;
        const reading = range.execute(db, 'bz', 'b', 'none').then((rows) => (read = rows));
        for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
        // SQLite: one connection, held by the transaction; PostgreSQL: another connection, which cannot see the row.
        if (read !== undefined) expect(read.map((r) => r.key)).toEqual(['b']);
        open();
        await trx;
        await reading;
        if (engine.name === 'sqlite') expect(read!.map((r) => r.key)).toEqual(outcome === 'commit' ? ['b', 'bd-commit'] : ['b']);
        await db.deleteFrom('tessera_meta').where('key', 'like', 'bd-%').execute();
      }
    });

    test('SQLite reads synchronously while the connection is free (sync-reads.ts); PostgreSQL never', async () => {
      const read = syncReader(db);
      if (engine.name !== 'sqlite') {
        expect(read).toBeUndefined();
        return;
      }
      const sql = build(db, 'c', 'a', 'v1').compile();
      expect(read!(sql.sql, sql.parameters)).toEqual([{ key: 'a', value: 'v0' }, { key: 'c', value: 'v2' }]);
      // Not a write, whatever the connection's state.
      const write = db.updateTable('tessera_meta').set({ value: 'x' }).where('key', '=', 'a').compile();
      expect(read!(write.sql, write.parameters)).toBeUndefined();
      expect((await db.selectFrom('tessera_meta').select('value').where('key', '=', 'a').executeTakeFirstOrThrow()).value).toBe('v0');
      // Not while a transaction holds the connection; again once it is released.
      await db.transaction().execute(async () => {
        expect(read!(sql.sql, sql.parameters)).toBeUndefined();
      });
      expect(read!(sql.sql, sql.parameters)).toHaveLength(2);
      // A transaction's instance and a plugin copy are other objects: they go through Kysely.
      await db.transaction().execute(async (trx) => expect(syncReader(trx)).toBeUndefined());
      expect(syncReader(db.withPlugin(new Counter()))).toBeUndefined();
    });

    test('PostgreSQL: compiled reads on the root instance run on a pooled connection without Kysely; transactions and plugins go through Kysely', async () => {
      const direct = directReader(db);
      if (engine.name !== 'postgres') {
        expect(direct).toBeUndefined();
        return;
      }
      const viaKysely = vi.spyOn(db, 'executeQuery');
      try {
        expect(await range.execute(db, 'c', 'a', 'v1')).toEqual([{ key: 'a', value: 'v0' }, { key: 'c', value: 'v2' }]);
        expect(viaKysely).not.toHaveBeenCalled();
      } finally {
        viaKysely.mockRestore();
      }
      await db.transaction().execute(async (trx) => expect(directReader(trx)).toBeUndefined());
      expect(directReader(db.withPlugin(new Counter()))).toBeUndefined();
      // A statement the database refuses keeps its error; nothing is left holding a connection.
      await expect(direct!('select * from no_such_table', [])).rejects.toMatchObject({ code: '42P01' });
      for (let i = 0; i < 12; i++) await range.execute(db, 'c', 'a', 'v1');
    });

    test('PostgreSQL: a compiled read when no connection can be made fails as the database being unavailable', async () => {
      if (engine.name !== 'postgres') return;
      const unreachable = openStore('postgres://postgres@127.0.0.1:1/test', { timeoutMs: 500 });
      try {
        await expect(range.execute(unreachable.db, 'c', 'a', 'v1')).rejects.toBeInstanceOf(DatabaseUnavailableError);
      } finally {
        await unreachable.close();
      }
    });

    test('compiled writes: the rows each inserted, updated or deleted, on the root, in a transaction and with plugins', async () => {
      const put = writeShape((d: Kysely<Database>, key: string, value: string) => d.insertInto('tessera_meta').values({ key, value })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value })));
      const setIf = writeShape((d: Kysely<Database>, value: string, key: string, was: string) => d.updateTable('tessera_meta')
        .set({ value }).where('key', '=', key).where('value', '=', was));
      const drop = writeShape((d: Kysely<Database>, key: string) => d.deleteFrom('tessera_meta').where('key', '=', key));
      const valueOf = async (key: string) => (await db.selectFrom('tessera_meta').select('value').where('key', '=', key).executeTakeFirst())?.value;
      expect(await put.run(db, 'e', 'v4')).toBe(1);
      expect(await put.run(db, 'e', 'v5')).toBe(1);
      expect(await valueOf('e')).toBe('v5');
      expect(await setIf.run(db, 'v6', 'e', 'v4')).toBe(0);
      expect(await setIf.run(db, 'v6', 'e', 'v5')).toBe(1);
      expect(await valueOf('e')).toBe('v6');
      const failure = new Error('roll back');
      await expect(db.transaction().execute(async (trx) => {
        expect(await drop.run(trx, 'e')).toBe(1);
        expect(await put.run(trx, 'f', 'gone')).toBe(1);
        throw failure;
      })).rejects.toBe(failure);
      expect([await valueOf('e'), await valueOf('f')]).toEqual(['v6', undefined]);
      const counter = new Counter();
      const counted = db.withPlugin(counter);
      expect(await setIf.run(counted, 'v7', 'e', 'v6')).toBe(1);
      expect(await drop.run(counted, 'e')).toBe(1);
      expect(await drop.run(counted, 'e')).toBe(0);
      expect(await put.run(counted, 'g', 'v8')).toBe(1);
      expect(counter.n).toBe(4);
      expect([await valueOf('e'), await valueOf('g')]).toEqual([undefined, 'v8']);
    });

    test('compiled writes on the root instance skip Kysely (SQLite: synchronously while the connection is free); transactions and plugins go through it', async () => {
      const put = writeShape((d: Kysely<Database>, key: string, value: string) => d.insertInto('tessera_meta').values({ key, value })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value })));
      const viaKysely = vi.spyOn(db, 'executeQuery');
      try {
        expect(await put.run(db, 'w1', 'x')).toBe(1);
        expect(viaKysely).not.toHaveBeenCalled();
      } finally {
        viaKysely.mockRestore();
      }
      expect((await db.selectFrom('tessera_meta').select('value').where('key', '=', 'w1').executeTakeFirstOrThrow()).value).toBe('x');
      await db.transaction().execute(async (trx) => {
        expect(syncWriter(trx)).toBeUndefined();
        expect(directWriter(trx)).toBeUndefined();
      });
      expect(syncWriter(db.withPlugin(new Counter()))).toBeUndefined();
      expect(directWriter(db.withPlugin(new Counter()))).toBeUndefined();
      if (engine.name === 'sqlite') {
        expect(directWriter(db)).toBeUndefined();
        const write = syncWriter(db)!;
        const update = db.updateTable('tessera_meta').set({ value: 'y' }).where('key', '=', 'w1').compile();
        expect(write(update.sql, update.parameters)).toBe(1);
        // Not a read; not while a transaction holds the connection (it would run inside it).
        const read = db.selectFrom('tessera_meta').selectAll().compile();
        expect(write(read.sql, read.parameters)).toBeUndefined();
        await db.transaction().execute(async () => {
          expect(write(update.sql, update.parameters)).toBeUndefined();
        });
      } else {
        expect(syncWriter(db)).toBeUndefined();
        // A statement the database refuses keeps its error; nothing is left holding a connection.
        await expect(directWriter(db)!('update no_such_table set x = 1', [])).rejects.toMatchObject({ code: '42P01' });
        for (let i = 0; i < 12; i++) await put.run(db, `w-${i}`, 'x');
        const unreachable = openStore('postgres://postgres@127.0.0.1:1/test', { timeoutMs: 500 });
        try {
          await expect(put.run(unreachable.db, 'w2', 'x')).rejects.toBeInstanceOf(DatabaseUnavailableError);
        } finally {
          await unreachable.close();
        }
      }
    });

    test('a compiled write the database refuses fails as the same write through Kysely does, and leaves nothing', async () => {
      // tessera_meta.value is NOT NULL: the same refusal, with the driver's error, on either path.
      const put = writeShape((d: Kysely<Database>, key: string, value: string) => d.insertInto('tessera_meta').values({ key, value }));
      const viaKysely = await db.insertInto('tessera_meta').values({ key: 'n1', value: null as unknown as string }).execute().then(() => undefined, (err: unknown) => err);
      const compiled = await put.run(db, 'n1', null as unknown as string).then(() => undefined, (err: unknown) => err);
      expect(viaKysely).toBeInstanceOf(Error);
      expect(compiled).toBeInstanceOf(Error);
      expect((compiled as { code?: unknown }).code).toBe((viaKysely as { code?: unknown }).code);
      expect(await db.selectFrom('tessera_meta').selectAll().where('key', '=', 'n1').execute()).toEqual([]);
      // The connection is free again: a read and a write afterwards work.
      expect(await put.run(db, 'n2', 'ok')).toBe(1);
    });

    test('a parameter the builder changes or leaves out is refused when first compiled', async () => {
      const changed = shape((d: Kysely<Database>, key: string) => d.selectFrom('tessera_meta').selectAll().where('key', '=', key.toUpperCase()));
      await expect(changed.execute(db, 'a')).rejects.toThrow(/1 of 1 parameters not bound as values/);
      const unused = shape((d: Kysely<Database>, _key: string) => d.selectFrom('tessera_meta').selectAll());
      await expect(unused.execute(db, 'a')).rejects.toThrow(/1 of 1 parameters not bound/);
    });
  });
}
