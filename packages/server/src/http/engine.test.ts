/**
 * The engine's fast path (http/engine.ts): the endpoints machine clients call
 * on every token skip Fastify's routing and hooks, and still get what
 * Fastify's path gives an engine route. A stand-in engine (a plain request
 * listener) answers, so what is checked is the host around it; the engine
 * itself runs behind both paths in the suites (oidc-*.test.ts).
 */
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, expect, test } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from './server.js';
import { Metrics } from './metrics.js';
import { SiteCheck } from './origin.js';
import { fastPathOf, ipThrottled, mountEngine } from './engine.js';
import { FailureThrottle } from './throttle.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

interface Started { base: string; hooks: string[]; engineSaw: { url: string; throttled: boolean; body: string }[]; lines: Record<string, unknown>[]; metrics: Metrics; throttle: FailureThrottle; setDraining(v: boolean): void }

async function start(trustProxy = 0): Promise<Started> {
  const logStream = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  logStream.on('data', (chunk: Buffer) => {
    for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  const metrics = new Metrics();
  app = createHttpServer({
    logLevel: 'info', trustProxy, sites: new SiteCheck('http://localhost:3000', []), metrics,
    renderHtmlError: (_request, status, code) => `<p>${status} ${code}</p>`, logStream,
  });
  const hooks: string[] = [];
  app.addHook('onRequest', async (request) => {
    hooks.push(`${request.method} ${request.url}`);
  });
  const engineSaw: Started['engineSaw'] = [];
  // The stand-in engine: reads the body as the engine would, answers JSON.
  const engine = (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    return new Promise<void>((resolve) => req.on('end', () => {
      engineSaw.push({ url: req.url!, throttled: ipThrottled(req), body });
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.end(JSON.stringify({ ok: true }));
      resolve();
    }));
  };
  const throttle = new FailureThrottle(2);
  let draining = false;
  await mountEngine(app, () => engine as never, throttle, { draining: () => draining });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  return { base: `http://127.0.0.1:${port}`, hooks, engineSaw, lines, metrics, throttle, setDraining: (v) => (draining = v) };
}

const form = (body: string) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
const settle = () => new Promise((r) => setTimeout(r, 50));

test('which requests take the fast path: exact endpoints, their methods, a UTF-8 query', () => {
  const req = (method: string, url: string) => ({ method, url }) as IncomingMessage;
  expect(fastPathOf(req('POST', '/oidc/token'))).toBe('/oidc/token');
  expect(fastPathOf(req('POST', '/oidc/token/introspection'))).toBe('/oidc/token/introspection');
  expect(fastPathOf(req('POST', '/oidc/token/revocation'))).toBe('/oidc/token/revocation');
  expect(fastPathOf(req('GET', '/oidc/me?x=%C3%A9'))).toBe('/oidc/me');
  expect(fastPathOf(req('POST', '/oidc/me'))).toBe('/oidc/me');
  expect(fastPathOf(req('GET', '/oidc/jwks'))).toBe('/oidc/jwks');
  for (const [method, url] of [['GET', '/oidc/token'], ['OPTIONS', '/oidc/token'], ['HEAD', '/oidc/jwks'], ['POST', '/oidc/token/'],
    ['GET', '/oidc/auth'], ['GET', '/oidc/me?x=%FF'], ['GET', '/oidc/jwks/x']]) {
    expect(fastPathOf(req(method!, url!)), `${method} ${url}`).toBeUndefined();
  }
});

test('a token request skips Fastify\'s hooks and gets the request id, base headers, metrics and log line', async () => {
  const s = await start();
  const res = await fetch(`${s.base}/oidc/token`, { ...form('grant_type=client_credentials'), headers: { ...form('').headers, 'x-request-id': 'client-id-1' } });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ ok: true });
  expect(res.headers.get('x-request-id')).toBe('client-id-1');
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  expect(s.engineSaw).toEqual([{ url: '/oidc/token', throttled: false, body: 'grant_type=client_credentials' }]);
  expect(s.hooks).toEqual([]);
  await settle();
  const line = s.lines.find((l) => l.msg === 'request completed');
  expect(line).toMatchObject({ requestId: 'client-id-1', req: { method: 'POST', path: '/oidc/token', remoteAddress: '127.0.0.1' }, res: { statusCode: 200 } });
  expect(await s.metrics.registry.getSingleMetricAsString('tessera_http_requests_total')).toContain('route="/oidc/token",status="200"');

  // An unsafe request id is replaced; another path goes through Fastify (and its hooks).
  const other = await fetch(`${s.base}/oidc/token`, { ...form('a=1'), headers: { ...form('').headers, 'x-request-id': 'bad id!' } });
  expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  await fetch(`${s.base}/oidc/auth?client_id=x`);
  expect(s.hooks).toEqual(['GET /oidc/auth?client_id=x']);
  expect(s.engineSaw.map((e) => e.url)).toEqual(['/oidc/token', '/oidc/token', '/oidc/auth?client_id=x']);
});

test('the throttle mark uses the address Fastify would (trusted proxy hops); invalid UTF-8 is refused before the engine', async () => {
  const s = await start(1);
  s.throttle.recordFailure('203.0.113.9');
  s.throttle.recordFailure('203.0.113.9');
  const headers = { ...form('').headers, 'x-forwarded-for': '198.51.100.1, 203.0.113.9' };
  await fetch(`${s.base}/oidc/token`, { ...form('grant_type=client_credentials'), headers });
  await fetch(`${s.base}/oidc/token`, { ...form('grant_type=client_credentials'), headers: { ...headers, 'x-forwarded-for': '203.0.113.10' } });
  expect(s.engineSaw.map((e) => e.throttled)).toEqual([true, false]);
  await settle();
  expect(s.lines.filter((l) => l.msg === 'request completed').map((l) => (l.req as { remoteAddress: string }).remoteAddress)).toEqual(['203.0.113.9', '203.0.113.10']);

  const bad = await fetch(`${s.base}/oidc/token/introspection`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from('token=%FF%FE') });
  expect(bad.status).toBe(400);
  expect(bad.headers.get('cache-control')).toBe('no-store');
  expect(await bad.json()).toMatchObject({ error: 'invalid_request' });
  expect(s.engineSaw).toHaveLength(2);
  expect(s.hooks).toEqual([]);
});

test('a draining server serves engine requests through Fastify, which asks clients to reconnect elsewhere', async () => {
  const s = await start();
  s.setDraining(true);
  await fetch(`${s.base}/oidc/me`);
  expect(s.hooks).toEqual(['GET /oidc/me']);
  s.setDraining(false);
  await fetch(`${s.base}/oidc/me`);
  expect(s.hooks).toEqual(['GET /oidc/me']);
  expect(s.engineSaw).toHaveLength(2);
});

test('a request that arrives while the server closes goes through Fastify, which answers 503, like every other route', async () => {
  const s = await start();
  const { port } = app!.server.address() as { port: number };
  const socket = connect(port, '127.0.0.1');
  // Fails in seconds rather than at the keep-alive timeout if the second request is never answered.
  socket.setTimeout(5_000, () => socket.destroy());
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString()));
  const ended = new Promise<void>((r) => socket.on('close', () => r()));
  await new Promise<void>((r) => socket.once('connect', () => r()));
  // A token request whose body is still arriving when the close begins: it was taken before, and is served.
  socket.write('POST /oidc/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\ngrant');
  await settle();
  const closing = app!.close();
  await settle();
  // The rest of its body, and a second request on the same connection, which arrives after the close began.
  socket.write('_type\r\nGET /oidc/jwks HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await ended;
  await closing;
  app = undefined;
  const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
  expect(statuses).toEqual(['200', '503']);
  expect(received).toContain('{"ok":true}');
  expect(s.engineSaw.map((e) => e.url)).toEqual(['/oidc/token']);
});
