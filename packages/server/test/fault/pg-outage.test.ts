import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  PG_URL, adminToken, createUser, issueOpaqueToken, load, missingWrites, ownDatabase, readyz, sleep, stallingProxy, startServer,
  tempDir, waitForReady,
} from './harness.js';
import type { Outcome, OwnDatabase, Server } from './harness.js';

/**
 * PostgreSQL outages against the real `tessera serve`, on a database of the
 * test's own (never the shared `test` database): connections terminated under
 * load (as a restart, a failover or `pg_terminate_backend` does), connections
 * refused for a while (ALLOW_CONNECTIONS false), and a server that stops
 * answering without closing anything (a stalled TCP proxy). The process must
 * stay up, fail fast with 503 temporarily_unavailable, say so on /readyz,
 * recover by itself, and lose no acknowledged write.
 */
const TIMEOUT_MS = 1500;

const summary = (list: Outcome[]) => {
  const by = new Map<string, number>();
  for (const o of list) by.set(`${o.kind}:${o.status}${o.error ? `:${o.error}` : ''}${o.transport ? `:${o.transport}` : ''}`, (by.get(`${o.kind}:${o.status}${o.error ? `:${o.error}` : ''}${o.transport ? `:${o.transport}` : ''}`) ?? 0) + 1);
  return Object.fromEntries(by);
};

/** Terminates Tessera's connections to `db` as soon as there is at least one (polling); how many were ended. */
async function terminateOnceConnected(db: OwnDatabase, withinMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const ended = await db.terminate();
    if (ended > 0 || Date.now() - started > withinMs) return ended;
    await sleep(50);
  }
}

describe.runIf(PG_URL)('PostgreSQL outages', () => {
  let db: OwnDatabase;
  let tmp: ReturnType<typeof tempDir>;
  let server: Server;
  let token: string;

  beforeAll(async () => {
    db = await ownDatabase();
    tmp = tempDir('tessera-fault-pg-');
    server = await startServer({ databaseUrl: db.url, dir: tmp.dir, env: { TESSERA_DB_TIMEOUT_MS: String(TIMEOUT_MS) } });
    token = await adminToken(server);
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
    tmp?.dispose();
  });

  test('terminated connections and refused connections: the process stays up, answers 503 fast, recovers, loses nothing', async () => {
    const writes = load(3, (n) => (n % 3 === 2 ? issueOpaqueToken(server) : createUser(server, token, n)));
    await sleep(1500);

    // 1. Every connection terminated, three times, under load (a restart or failover looks like this to the pool).
    // Each round waits until the pool has connected again (on a busy machine the
    // load's next query may take a while to arrive), then terminates them all.
    for (let i = 0; i < 3; i++) {
      expect(server.alive(), server.output()).toBe(true);
      expect(await terminateOnceConnected(db, 20_000)).toBeGreaterThan(0);
      await sleep(400);
    }
    await sleep(800);
    expect(server.alive()).toBe(true);

    // 2. Connections refused for a while, the open ones terminated.
    await db.allowConnections(false);
    await db.terminate();
    const outageStart = Date.now();
    const notReadyAfter = await waitForReady(server, 503, 5_000);
    const duringOutage = await readyz(server);
    expect(duringOutage.body).toEqual({ status: 'not_ready', reason: 'database_unavailable' });
    expect(duringOutage.ms).toBeLessThan(2_500);
    // A moment after the last in-flight write finished, every write is refused, quickly.
    await sleep(TIMEOUT_MS + 500);
    const refusedFrom = Date.now();
    // A browser at the authorization endpoint gets the error page, 503, with the stable code.
    const auth = await fetch(`${server.url}/oidc/auth?${new URLSearchParams({
      client_id: 'browser', redirect_uri: 'http://127.0.0.1:9/cb', response_type: 'code', scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    })}`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(auth.status).toBe(503);
    expect(auth.headers.get('retry-after')).toBe('5');
    expect(await auth.text()).toContain('temporarily_unavailable');
    await sleep(2_000);
    await db.allowConnections(true);
    const outageEnd = Date.now();

    // 3. Back by itself, without a restart.
    const readyAfter = await waitForReady(server, 200, 15_000);
    await sleep(1_500);
    await writes.stop();
    expect(server.alive()).toBe(true);

    const all = writes.outcomes;
    const refused = all.filter((o) => o.at >= refusedFrom && o.at + o.ms <= outageEnd);
    // No 5xx other than 503, no 500, no dropped connection, at any time.
    const unexpected = all.filter((o) => !(o.status === 201 || o.status === 200 || (o.status === 503 && o.error === 'temporarily_unavailable')));
    expect(unexpected, JSON.stringify(summary(all))).toEqual([]);
    // During the refusal every write got 503 temporarily_unavailable with Retry-After, well within the timeout.
    expect(refused.length).toBeGreaterThan(5);
    for (const o of refused) {
      expect(o.status, JSON.stringify(o)).toBe(503);
      expect(o.retryAfter).toBe('5');
      expect(o.ms).toBeLessThan(TIMEOUT_MS + 1_000);
    }
    // Both paths were refused: Tessera's own routes and the protocol engine's.
    expect(new Set(refused.map((o) => o.kind))).toEqual(new Set(['user', 'token']));
    // Writes succeeded after recovery.
    const acked = all.filter((o) => o.value);
    expect(acked.filter((o) => o.at > outageEnd).length).toBeGreaterThan(0);
    expect(await missingWrites(server, token, acked)).toEqual([]);
    // The log says what happened; no unhandled error.
    expect(server.output()).toContain('database connection error');
    expect(server.output()).not.toContain('unhandled error');
    console.info(`pg outage: ${all.length} writes (${acked.length} acknowledged) ${JSON.stringify(summary(all))}; ` +
      `/readyz 503 after ${notReadyAfter} ms, 200 again ${readyAfter} ms after connections were allowed; outage ${outageEnd - outageStart} ms`);
  });

  test('a database that stops answering (stalled network): requests fail within the timeout, /readyz says 503, then recovers', async () => {
    const proxy = await stallingProxy({ host: new URL(PG_URL!).hostname, port: Number(new URL(PG_URL!).port || 5432) });
    const proxied = new URL(db.url);
    proxied.port = String(proxy.port);
    const dir = tempDir('tessera-fault-stall-');
    const stalled = await startServer({ databaseUrl: proxied.toString(), dir: dir.dir, env: { TESSERA_DB_TIMEOUT_MS: String(TIMEOUT_MS) } });
    try {
      const t = await adminToken(stalled);
      expect((await createUser(stalled, t, 1)).status).toBe(201);
      proxy.freeze();
      const during = await Promise.all([createUser(stalled, t, 2), issueOpaqueToken(stalled), createUser(stalled, t, 3)]);
      for (const o of during) {
        expect(o.status, JSON.stringify(o)).toBe(503);
        expect(o.error).toBe('temporarily_unavailable');
        // Bounded: the statement's read timeout (timeout + 2 s) or the connection timeout, plus slack for a busy machine.
        expect(o.ms).toBeLessThan(TIMEOUT_MS + 2_000 + 1_500);
      }
      const r = await readyz(stalled);
      expect(r.status).toBe(503);
      expect(r.ms).toBeLessThan(3_000);
      // Liveness never touches the database.
      expect((await fetch(`${stalled.url}/healthz`)).status).toBe(200);
      proxy.thaw();
      await waitForReady(stalled, 200, 15_000);
      const after = await createUser(stalled, t, 4);
      expect(after.status).toBe(201);
      expect(stalled.alive()).toBe(true);
    } finally {
      await stalled.stop();
      await proxy.close();
      dir.dispose();
    }
  });
});
