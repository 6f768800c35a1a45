import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStore } from '../../src/storage/database.js';
import type { Engine } from '../../src/storage/database.js';
import type { TestStore } from './app.js';

/**
 * A storage engine the contract suite runs against. Unlike `createTestStore`,
 * which picks PostgreSQL whenever TEST_DATABASE_URL is set, each target opens
 * its own engine explicitly, so SQLite is always covered.
 */
export interface EngineTarget {
  name: Engine;
  /** A fresh, isolated, unmigrated store. */
  open(): Promise<TestStore>;
}

const sqlite: EngineTarget = {
  name: 'sqlite',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-contract-'));
    const url = `sqlite:${join(dir, 'tessera.db')}`;
    const store = openStore(url);
    return {
      store, url, dir,
      async dispose() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

function postgres(url: string): EngineTarget {
  return {
    name: 'postgres',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'tessera-contract-'));
      const schema = `t_${randomBytes(6).toString('hex')}`;
      const store = openStore(url, { schema, poolSize: 3 });
      return {
        store, url, schema, dir,
        async dispose() {
          await store.close();
          const client = new pg.Client({ connectionString: url });
          await client.connect();
          try {
            await client.query(`drop schema if exists ${schema} cascade`);
          } finally {
            await client.end();
          }
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

/** SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (CI sets it). */
export const ENGINES: EngineTarget[] = [
  sqlite,
  ...(process.env.TEST_DATABASE_URL ? [postgres(process.env.TEST_DATABASE_URL)] : []),
];
