import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestStore, startTestApp } from '../../../server/test/helpers/app.js';
import type { TestApp, TestStore } from '../../../server/test/helpers/app.js';
import { GATEWAY_SECRET, call, clientToken, freePort, platformConfig, startEcho, startGateway } from '../helpers.js';
import type { Echo, StartedGateway } from '../helpers.js';

/**
 * The gateway while Tessera is down (stopped: connections refused) or hung
 * (accepts connections, never answers), then back on the same address: the
 * gateway stays up, keeps serving JWT routes from its cached keys, answers
 * 503 temporarily_unavailable within its timeout where it needs Tessera
 * (introspection), and recovers by itself once Tessera is back.
 */
const LEDGER_API = 'https://ledger.example.test';
const RECORDS_API = 'https://records.example.test';
const config = {
  ...platformConfig,
  apis: [...platformConfig.apis, { identifier: LEDGER_API, name: 'Ledger API', scopes: ['ledger:read'], access_token_format: 'opaque', access_token_ttl: 600 }],
};

let store: TestStore;
let port: number;
let tessera: TestApp | undefined;
let echo: Echo;
let jwtGw: StartedGateway;
let opaqueGw: StartedGateway;

const startTessera = async () => {
  tessera = await startTestApp({ config, testStore: store, env: { PORT: String(port), TESSERA_ISSUER: `http://127.0.0.1:${port}` } });
};

beforeAll(async () => {
  store = await createTestStore();
  port = await freePort();
  await startTessera();
  echo = await startEcho();
  const issuer = `http://127.0.0.1:${port}`;
  jwtGw = await startGateway({ issuer, audience: RECORDS_API, routes: [{ prefix: '/records', upstream: echo.url }] });
  opaqueGw = await startGateway({
    issuer, audience: LEDGER_API, introspection: { cache_ttl: 0, timeout: 1 },
    routes: [{ prefix: '/ledger', upstream: echo.url, introspect: true }],
  }, { GATEWAY_CLIENT_ID: 'gateway', GATEWAY_CLIENT_SECRET: GATEWAY_SECRET });
});
afterAll(async () => {
  await jwtGw?.close();
  await opaqueGw?.close();
  await tessera?.close();
  await echo?.close();
  await store?.dispose();
});

describe('the gateway while Tessera is unreachable', () => {
  test('down, then hung, then back: JWTs keep working, introspection answers 503 quickly, then recovers', async () => {
    const issuer = `http://127.0.0.1:${port}`;
    const jwt = await clientToken(issuer, 'worker', RECORDS_API, 'records:read');
    const opaque = await clientToken(issuer, 'worker', LEDGER_API, 'ledger:read');
    expect((await call(jwtGw.url, '/records/1', { token: jwt })).status).toBe(200);
    expect((await call(opaqueGw.url, '/ledger/1', { token: opaque })).status).toBe(200);

    // 1. Tessera stopped: connections refused.
    await tessera!.app.close();
    tessera = undefined;
    expect((await call(jwtGw.url, '/records/2', { token: jwt })).status).toBe(200);
    let started = Date.now();
    const refused = await call(opaqueGw.url, '/ledger/2', { token: opaque });
    expect(refused.status).toBe(503);
    expect(refused.json.error).toBe('temporarily_unavailable');
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(Date.now() - started).toBeLessThan(1_000);

    // 2. Something listens on Tessera's address but never answers (a hung process, a black hole).
    const sockets = new Set<Socket>();
    const hung: Server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((r) => hung.listen(port, '127.0.0.1', r));
    try {
      started = Date.now();
      const slow = await call(opaqueGw.url, '/ledger/3', { token: opaque });
      const took = Date.now() - started;
      expect(slow.status).toBe(503);
      expect(slow.json.error).toBe('temporarily_unavailable');
      // introspection.timeout is 1 s: bounded, with slack for a busy machine.
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(3_000);
      expect((await call(jwtGw.url, '/records/3', { token: jwt })).status).toBe(200);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => hung.close(() => r()));
    }

    // Both gateways stayed up all along.
    expect((await fetch(`${jwtGw.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${opaqueGw.url}/healthz`)).status).toBe(200);

    // 3. Tessera back on the same address and store: the same opaque token works again, no gateway restart.
    await startTessera();
    expect((await call(opaqueGw.url, '/ledger/4', { token: opaque })).status).toBe(200);
    expect((await call(jwtGw.url, '/records/4', { token: jwt })).status).toBe(200);
  });
});
