import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { createApp } from '../../src/app.js';
import type { TesseraApp } from '../../src/app.js';
import { loadSettings, parseDeclarative } from '../../src/config/load.js';
import type { Settings } from '../../src/config/load.js';
import { openStore } from '../../src/storage/database.js';
import type { Store } from '../../src/storage/database.js';

/** PostgreSQL when TEST_DATABASE_URL is set (CI sets it), SQLite files otherwise. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;
export const ENGINE = TEST_DATABASE_URL ? 'postgres' : 'sqlite';
/**
 * Redis (e.g. redis://127.0.0.1:6379) for every app the tests start: throttles, the engine's state and the
 * lockout counters go there, as with REDIS_URL in production (docs/scaling.md#what-lives-where).
 */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL;

export const ADMIN_PASSWORD = 'admin-password-for-tests';

export interface TestStore {
  store: Store;
  url: string;
  schema?: string;
  dir: string;
  /** Closes the store and removes its file or schema. */
  dispose(): Promise<void>;
}

/** A fresh, isolated store: a temporary SQLite file, or its own PostgreSQL schema. */
export async function createTestStore(): Promise<TestStore> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-test-'));
  if (TEST_DATABASE_URL) {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const store = openStore(TEST_DATABASE_URL, { schema, poolSize: 5 });
    return {
      store, url: TEST_DATABASE_URL, schema, dir,
      async dispose() {
        await store.close();
        const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
        await client.connect();
        await client.query(`drop schema if exists ${schema} cascade`);
        await client.end();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const url = `sqlite:${join(dir, 'tessera.db')}`;
  const store = openStore(url);
  return {
    store, url, dir,
    async dispose() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface TestApp {
  app: TesseraApp;
  issuer: string;
  port: number;
  settings: Readonly<Settings>;
  testStore: TestStore;
  /** Every JSON log line the app wrote. */
  logs: string[];
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Declarative configuration, as the YAML/JSON file would hold it. */
  config?: unknown;
  env?: Record<string, string>;
  /** Reuse a store (e.g. to restart on the same data). */
  testStore?: TestStore;
  /**
   * The issuer's host name (default 127.0.0.1). Browser tests of passkeys use
   * `localhost`: WebAuthn refuses IP addresses as RP IDs. The server still listens on 127.0.0.1.
   */
  issuerHost?: string;
  /** The clock of scheduled work (webhook batches and retries). */
  now?: () => number;
}

/** Boots the real platform on a loopback port over a fresh store. */
export async function startTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const testStore = opts.testStore ?? (await createTestStore());
  const port = await freePort();
  const issuer = `http://${opts.issuerHost ?? '127.0.0.1'}:${port}`;
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const settings = loadSettings({
    PORT: String(port),
    HOST: '127.0.0.1',
    TESSERA_ISSUER: issuer,
    TESSERA_DATA_DIR: testStore.dir,
    DATABASE_URL: testStore.url,
    TESSERA_SECRET: 'test-secret-test-secret-test-secret',
    TESSERA_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
    TESSERA_AUTH_FAILURES_PER_MINUTE: '1000',
    LOG_LEVEL: 'info',
    // The suite's Redis mode (TEST_REDIS_URL): Redis for everything REDIS_URL moves there, each app under its own key prefix.
    ...(TEST_REDIS_URL ? { REDIS_URL: TEST_REDIS_URL, TESSERA_REDIS_PREFIX: `test-${randomBytes(6).toString('hex')}:` } : {}),
    ...opts.env,
  }, { declarative: parseDeclarative(JSON.stringify(opts.config ?? {}), 'test config') });
  const app = await createApp(settings, { store: testStore.store, logStream, now: opts.now });
  await app.listen();
  return {
    app, issuer, port, settings, testStore, logs,
    async close() {
      await app.close();
      if (!opts.testStore) await testStore.dispose();
      // The suite's Redis mode: this app's keys go (the throttle hash has no TTL; the rest would expire).
      if (TEST_REDIS_URL && settings.redisUrl === TEST_REDIS_URL) await dropRedisPrefix(TEST_REDIS_URL, settings.redisPrefix);
    },
  };
}

/** Deletes every key under `prefix` (a test app's own). */
export async function dropRedisPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
