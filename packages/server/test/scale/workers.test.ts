import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { join } from 'node:path';
import { PG_URL, ownDatabase, sleep, startServer, tempDir } from '../fault/harness.js';
import type { OwnDatabase, Server } from '../fault/harness.js';
import {
  FAILURES_PER_MINUTE, SCALE_CONFIG, adminChangeEverywhere, closeEachConnection, fullSession, lockoutAcrossProcesses, throttleAcrossProcesses,
} from './scenarios.js';

/**
 * `tessera serve --workers 2` (docs/scaling.md#every-core-of-one-machine):
 * the same checks as the multi-instance suite, on SQLite and on PostgreSQL.
 * The primary hands connections to the workers in turn, so consecutive
 * requests on new connections land on different workers.
 */
const engines = [
  { name: 'SQLite', database: async (dir: string) => ({ url: `sqlite:${join(dir, 'tessera.db')}`, drop: async () => {} }) },
  ...(PG_URL ? [{ name: 'PostgreSQL', database: async () => {
    const db: OwnDatabase = await ownDatabase();
    return { url: db.url, drop: () => db.drop() };
  } }] : []),
];

describe.each(engines)('--workers 2 on $name', ({ database }) => {
  let tmp: ReturnType<typeof tempDir>;
  let db: { url: string; drop(): Promise<void> };
  let server: Server;

  beforeAll(async () => {
    // A new connection for every request: the primary gives each to the next worker.
    closeEachConnection(true);
    tmp = tempDir('tessera-workers-');
    db = await database(tmp.dir);
    server = await startServer({
      databaseUrl: db.url, dir: tmp.dir, config: SCALE_CONFIG, args: ['--workers', '2'],
      env: { TESSERA_AUTH_FAILURES_PER_MINUTE: String(FAILURES_PER_MINUTE), TESSERA_TRUST_PROXY: 'true', LOG_LEVEL: 'info' },
    });
    // /healthz answers as soon as the first worker listens; the primary says so once both do.
    for (const started = Date.now(); !server.output().includes('(2 workers)') && Date.now() - started < 20_000;) await sleep(100);
    expect(server.output()).toContain('(2 workers)');
  }, 120_000);
  afterAll(async () => {
    closeEachConnection(false);
    await server?.stop();
    await db?.drop();
    tmp?.dispose();
  });

  test('sign-in with MFA enrolment and consent, refresh rotation, UserInfo and logout', async () => {
    await fullSession(server.url, 'mia', { 'x-forwarded-for': '10.1.0.1' });
  });

  test('the per-IP throttle counts failures across workers', async () => {
    await throttleAcrossProcesses(server.url, [server.url], '10.2.0.1');
  });

  test('lockout counts failures across workers', async () => {
    await lockoutAcrossProcesses(server.url, 'lou', '10.3.0.1');
  });

  test('an admin change is seen by both workers', async () => {
    // Eight answers in a row with the new lifetime: new connections alternate between the workers.
    const ms = await adminChangeEverywhere(server.url, server.url, [server.url], 8);
    console.log(`admin change seen by both workers after ${ms} ms`);
  });
});
