import SQLite from 'better-sqlite3';
import { describe, expect, test } from 'vitest';
import { withStatementCache } from './statement-cache.js';

describe('SQLite statement cache', () => {
  test('one prepared statement per SQL text; a busy one (streaming) is not handed out again', () => {
    const raw = new SQLite(':memory:');
    const db = withStatementCache(raw);
    db.prepare('create table t (x integer)').run([]);
    const insert = db.prepare('insert into t (x) values (?)');
    expect(db.prepare('insert into t (x) values (?)')).toBe(insert);
    for (const x of [1, 2, 3]) insert.run([x]);
    const select = db.prepare('select x from t order by x');
    const iter = select.iterate([]) as IterableIterator<{ x: number }>;
    expect(iter.next().value).toEqual({ x: 1 });
    // While the first is iterating, the same SQL gets a statement of its own, which works.
    const second = db.prepare('select x from t order by x');
    expect(second).not.toBe(select);
    expect(second.all([])).toEqual([{ x: 1 }, { x: 2 }, { x: 3 }]);
    iter.return?.();
    db.close();
  });

  test('a kept statement still works after the schema changes; past the bound the oldest is dropped', () => {
    const raw = new SQLite(':memory:');
    const db = withStatementCache(raw, 2);
    db.prepare('create table t (x integer)').run([]);
    const select = db.prepare('select * from t');
    db.prepare('alter table t add column y integer').run([]);
    db.prepare('insert into t (x, y) values (1, 2)').run([]);
    expect(select.all([])).toEqual([{ x: 1, y: 2 }]);
    // Bound 2: 'select * from t' is the oldest now and gets prepared anew.
    expect(db.prepare('select * from t')).not.toBe(select);
    db.close();
  });
});
