import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import Provider, { errors } from 'oidc-provider';
import type { Configuration } from 'oidc-provider';
import { exportJWK, generateKeyPair } from 'jose';
import { createApp } from '../packages/server/src/app.js';
import { loadSettings, parseDeclarative } from '../packages/server/src/config/load.js';
import { openStore } from '../packages/server/src/storage/database.js';
import type { Store } from '../packages/server/src/storage/database.js';
import type { Kysely, KyselyPlugin } from 'kysely';
import type { Database } from '../packages/server/src/storage/schema.js';
import { QueryCounter } from './query-counter.js';

export const API_IDENTIFIER = 'https://api.bench.test';
export const CLIENT_ID = 'bench-client';
/** ≥ 32 characters (Tessera's rule) and URL-safe, so Basic auth needs no form-encoding. */
export const CLIENT_SECRET = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

/** A server under test, listening on a loopback port. */
export interface Target {
  name: string;
  origin: string;
  tokenPath: string;
  discoveryPath: string;
  close(): Promise<void>;
}

export interface TesseraTarget extends Target {
  /** "sqlite (…)" or "postgres (…)". */
  storage: string;
  queries: QueryCounter;
  /** Warning/error log lines the app wrote (LOG_LEVEL=warn). */
  logs: string[];
}

/** Body and Basic credentials of the client_credentials request both servers receive. */
export function tokenRequest(): { headers: Record<string, string>; body: string } {
  const basic = Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64');
  return {
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: API_IDENTIFIER, scope: 'read' }).toString(),
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

interface BenchStore {
  store: Store;
  url: string;
  dir: string;
  describe: string;
  dispose(): Promise<void>;
}

/**
 * A fresh store, as test/helpers/app.ts makes one: a temporary SQLite file
 * (the default), or a throw-away schema when BENCH_DATABASE_URL or
 * TEST_DATABASE_URL names a PostgreSQL server.
 */
function createBenchStore(): BenchStore {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
  const pgUrl = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL;
  if (pgUrl) {
    const schema = `bench_${randomBytes(6).toString('hex')}`;
    const store = openStore(pgUrl, { schema, poolSize: 10 });
    return {
      store, url: pgUrl, dir,
      describe: `postgres (pg pool of 10, schema ${schema}, ${new URL(pgUrl).host})`,
      async dispose() {
        await store.close();
        const client = new pg.Client({ connectionString: pgUrl });
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
    describe: `sqlite (better-sqlite3, WAL, synchronous=NORMAL, temp file under ${tmpdir()})`,
    async dispose() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Boots the real platform the way the integration tests do (createApp + loadSettings overrides).
 * `extra`: more clients and users for a scenario's own bench (e.g. bench/refresh.ts).
 */
export async function startTessera(extra: {
  clients?: unknown[]; users?: unknown[]; env?: Record<string, string>; config?: Record<string, unknown>;
  /** Another plugin on the store (bench/statement-trace.ts), given the uninstrumented database. */
  plugin?: (db: Kysely<Database>) => KyselyPlugin;
} = {}): Promise<TesseraTarget> {
  const bench = createBenchStore();
  const queries = new QueryCounter();
  // Same store, with every statement counted; close/migrate still go through the original.
  let db = bench.store.db.withPlugin(queries);
  if (extra.plugin) db = db.withPlugin(extra.plugin(bench.store.db));
  const store: Store = { ...bench.store, db };
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const config = {
    apis: [{ identifier: API_IDENTIFIER, name: 'Bench API', scopes: ['read'], signing_alg: 'ES256' }],
    clients: [{
      client_id: CLIENT_ID, client_secret: CLIENT_SECRET, grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'client_secret_basic', scope: 'read',
    }, ...(extra.clients ?? [])],
    users: extra.users ?? [],
    ...extra.config,
  };
  const settings = loadSettings({
    PORT: String(port),
    HOST: '127.0.0.1',
    TESSERA_ISSUER: issuer,
    TESSERA_DATA_DIR: bench.dir,
    DATABASE_URL: bench.url,
    TESSERA_SECRET: 'bench-secret-bench-secret-bench-secret',
    TESSERA_BOOTSTRAP_ADMIN_PASSWORD: randomBytes(12).toString('base64url'),
    TESSERA_AUTH_FAILURES_PER_MINUTE: '1000000',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL || 'warn',
    ...extra.env,
  }, { declarative: parseDeclarative(JSON.stringify(config), 'bench config') });
  let app;
  try {
    app = await createApp(settings, { store, logStream });
    await app.listen();
  } catch (err) {
    await bench.dispose().catch(() => {});
    throw err;
  }
  const started = app;
  return {
    name: 'Tessera',
    origin: issuer,
    tokenPath: '/oidc/token',
    discoveryPath: '/.well-known/openid-configuration',
    storage: bench.describe,
    queries,
    logs,
    async close() {
      await started.close();
      await bench.dispose();
    },
  };
}

/**
 * A bare oidc-provider (same package, so the same major version) with its
 * default in-memory adapter, one static client, and only what the scenarios
 * need: client credentials and resource indicators issuing ES256 JWTs.
 */
export async function startBare(): Promise<Target> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'bench-es256', alg: 'ES256', use: 'sig' };
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const configuration: Configuration = {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [jwk] } as Configuration['jwks'],
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    // Only an ES256 key exists, so ID tokens (unused here) default to it too.
    enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    // What the engine's default does, stated so it does not print a notice.
    ttl: { ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? API_IDENTIFIER,
        useGrantedResource: async () => true,
        async getResourceServerInfo(_ctx, resourceIndicator) {
          if (resourceIndicator !== API_IDENTIFIER) throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
          return {
            scope: 'read',
            audience: API_IDENTIFIER,
            accessTokenTTL: 3600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
  };
  const provider = new Provider(issuer, configuration);
  const server: Server = createHttpServer(provider.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    name: 'bare oidc-provider',
    origin: issuer,
    tokenPath: '/token',
    discoveryPath: '/.well-known/openid-configuration',
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
