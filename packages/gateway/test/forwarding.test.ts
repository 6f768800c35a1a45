import { createServer, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TestApp } from '../../server/test/helpers/app.js';
import { ALICE, RECORDS_API, UPSTREAM_SECRET, call, clientToken, startEcho, startGateway, startPlatform, userToken } from './helpers.js';
import type { Echo, StartedGateway } from './helpers.js';

/** What reaches the upstream, and how: context headers, stripping, routing, CORS, health, shutdown. */
let t: TestApp;
let echo: Echo;
let gw: StartedGateway;
let worker: string;
let alice: string;
const APP = 'https://app.example.test';

beforeAll(async () => {
  t = await startPlatform();
  echo = await startEcho();
  gw = await startGateway({
    issuer: t.issuer,
    audience: RECORDS_API,
    routes: [
      { prefix: '/echo', upstream: echo.url },
      { prefix: '/public', upstream: echo.url, public: true },
      { prefix: '/with-token', upstream: echo.url, forward_token: true },
      { prefix: '/api', upstream: `${echo.url}/base/`, strip_prefix: true },
      { prefix: '/readonly', upstream: echo.url, methods: ['GET'] },
      { prefix: '/readonly/sub', upstream: echo.url, methods: ['POST'] },
      { prefix: '/cors', upstream: echo.url, cors: { origins: [APP], expose_headers: ['x-upstream'] } },
      { prefix: '/cors-by-method', methods: ['GET'], upstream: echo.url, cors: { origins: [APP], methods: ['GET'] } },
      { prefix: '/cors-by-method', methods: ['POST'], upstream: echo.url, cors: { origins: ['https://admin.example.test'], methods: ['POST'] } },
      { prefix: '/dead', upstream: 'http://127.0.0.1:9' },
      { prefix: '/slow', upstream: echo.url, timeout: 1 },
    ],
  }, { GATEWAY_UPSTREAM_SECRET: UPSTREAM_SECRET });
  worker = await clientToken(t.issuer, 'worker', RECORDS_API, 'records:read records:write');
  alice = await userToken(t.issuer, 'spa', ALICE, RECORDS_API, 'records:read');
});

afterAll(async () => {
  await gw?.close();
  await echo?.close();
  await t?.close();
});

const received = (r: { json: Record<string, unknown> }) => r.json as { method: string; url: string; headers: Record<string, string>; body: string };

describe('the trusted context', () => {
  test('context headers come from the validated token; spoofed ones are stripped in any letter case', async () => {
    const r = await call(gw.url, '/echo/items?x=1', {
      token: alice,
      headers: {
        'X-Tessera-Sub': 'admin', 'x-tessera-tenant': 'acme', 'X-TESSERA-ROLES': 'admin', 'x-tessera-scope': 'everything',
        'x-tessera-anything': 'forged', 'x-tessera-gateway-secret': 'guess', 'x-forwarded-for': '10.9.9.9', 'x-request-id': 'trace-123',
      },
    });
    expect(r.status).toBe(200);
    const { headers, url } = received(r);
    expect(url).toBe('/echo/items?x=1');
    const claims = JSON.parse(Buffer.from(alice.split('.')[1]!, 'base64url').toString()) as { sub: string; auth_time: number };
    const sub = claims.sub;
    expect(Object.fromEntries(Object.entries(headers).filter(([k]) => k.startsWith('x-tessera-')))).toEqual({
      'x-tessera-sub': sub,
      'x-tessera-tenant': 'default',
      'x-tessera-client': 'spa',
      'x-tessera-scope': 'records:read',
      'x-tessera-acr': 'urn:tessera:acr:pwd',
      'x-tessera-roles': 'editor',
      // When the user signed in (the token's auth_time), for backends that demand a recent sign-in.
      'x-tessera-auth-time': String(claims.auth_time),
      'x-tessera-gateway-secret': UPSTREAM_SECRET,
    });
    // The token stays at the gateway; forwarding metadata is the gateway's own observation.
    expect(headers.authorization).toBeUndefined();
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    // Without a trusted proxy in front, the gateway does not invent scheme or public host.
    expect(headers['x-forwarded-proto']).toBeUndefined();
    expect(headers['x-forwarded-host']).toBeUndefined();
    expect(headers['x-request-id']).toBe('trace-123');
    expect(r.headers.get('x-upstream')).toBe('echo');
  });

  test('behind a trusted proxy: X-Forwarded-For is appended to, proto and host relayed', async () => {
    const trusting = await startGateway({ issuer: t.issuer, audience: RECORDS_API, routes: [{ prefix: '/echo', upstream: echo.url }] }, { GATEWAY_TRUST_PROXY: 'true' });
    try {
      const r = await call(trusting.url, '/echo', {
        token: worker, headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' },
      });
      const { headers } = received(r);
      expect(headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
      expect(headers['x-forwarded-proto']).toBe('https');
      expect(headers['x-forwarded-host']).toBe('api.example.com');
    } finally {
      await trusting.close();
    }
  });

  test('request ids: the client\'s (if well-formed) or a fresh one, upstream and on the gateway\'s own answers', async () => {
    const fresh = received(await call(gw.url, '/echo', { token: worker, headers: { 'x-request-id': 'bad id with spaces' } })).headers['x-request-id'];
    expect(fresh).toMatch(/^[0-9a-f]{12}-[0-9a-z]+$/);
    const refused = await call(gw.url, '/echo', { headers: { 'x-request-id': 'trace-456' } });
    expect(refused.headers.get('x-request-id')).toBe('trace-456');
  });

  test('machine tokens: sub and client are the client; no acr or roles header', async () => {
    const { headers } = received(await call(gw.url, '/echo', { token: worker }));
    expect(headers['x-tessera-sub']).toBe('worker');
    expect(headers['x-tessera-client']).toBe('worker');
    expect(headers['x-tessera-tenant']).toBe('default');
    expect(headers['x-tessera-scope']).toBe('records:read records:write');
    expect(headers['x-tessera-acr']).toBeUndefined();
    expect(headers['x-tessera-roles']).toBeUndefined();
    expect(headers['x-tessera-auth-time']).toBeUndefined();
  });

  test('headers named in Connection and hop-by-hop headers are not forwarded', async () => {
    // fetch refuses to send Connection; node:http does not.
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/echo`, { headers: { authorization: `Bearer ${worker}`, connection: 'keep-alive, x-hop', 'x-hop': 'secret', 'x-end': 'kept' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    const { headers } = received({ json: JSON.parse(body) as Record<string, unknown> });
    expect(headers['x-hop']).toBeUndefined();
    expect(headers['x-end']).toBe('kept');
  });

  test('the upstream\'s answer: repeated headers relayed, hop-by-hop ones dropped, the route\'s CORS headers win', async () => {
    const upstream = createServer((_req, res) => {
      res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/']);
      res.setHeader('x-multi', ['one', 'two']);
      res.setHeader('proxy-authenticate', 'Basic realm="upstream"');
      res.setHeader('access-control-allow-origin', '*');
      res.setHeader('x-upstream', 'relay');
      res.writeHead(201, { 'content-type': 'text/plain' });
      res.end('made');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
    const relay = await startGateway({ issuer: t.issuer, audience: RECORDS_API, routes: [
      { prefix: '/plain', upstream: origin },
      { prefix: '/cors', upstream: origin, cors: { origins: [APP] } },
    ] });
    try {
      const plain = await call(relay.url, '/plain', { token: worker });
      expect(plain.status).toBe(201);
      expect(plain.text).toBe('made');
      expect(plain.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/']);
      expect(plain.headers.get('x-multi')).toBe('one, two');
      expect(plain.headers.get('x-upstream')).toBe('relay');
      expect(plain.headers.get('proxy-authenticate')).toBeNull();
      expect(plain.headers.get('access-control-allow-origin')).toBe('*');
      const cors = await call(relay.url, '/cors', { token: worker, headers: { origin: APP } });
      expect(cors.status).toBe(201);
      expect(cors.headers.get('access-control-allow-origin')).toBe(APP);
      expect(cors.headers.get('vary')).toBe('Origin');
      expect(cors.headers.get('x-upstream')).toBe('relay');
    } finally {
      await relay.close();
      await new Promise((r) => upstream.close(r));
    }
  });

  test('unusual but legal header bytes are forwarded; a client that disconnects mid-body does not hurt the gateway', async () => {
    const port = Number(new URL(gw.url).port);
    const raw = (text: string, end = false) => new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => (end ? socket.end(text) : socket.write(text)));
      let out = '';
      socket.on('data', (d) => (out += d.toString('latin1')));
      socket.on('close', () => resolve(out));
      socket.on('error', () => resolve(out));
    });
    const latin1 = await raw(`GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${worker}\r\nX-Note: caf\xe9\r\nConnection: close\r\n\r\n`);
    expect(latin1).toMatch(/^HTTP\/1\.1 200/);
    // obs-text (RFC 9110 §5.5) arrives, though undici re-encodes such bytes as UTF-8.
    expect(latin1).toMatch(/"x-note":"caf[^"]+"/);
    // Announces 100 bytes, sends 5, then closes.
    await raw(`POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${worker}\r\nContent-Length: 100\r\n\r\nhello`, true);
    expect((await call(gw.url, '/echo', { token: worker })).status).toBe(200);
  });

  test('a public route needs no token, still strips spoofed context and adds none', async () => {
    const r = await call(gw.url, '/public', { token: worker, headers: { 'x-tessera-sub': 'admin' } });
    expect(r.status).toBe(200);
    const { headers } = received(r);
    expect(Object.keys(headers).filter((k) => k.startsWith('x-tessera-'))).toEqual(['x-tessera-gateway-secret']);
    expect(headers.authorization).toBeUndefined();
    expect((await call(gw.url, '/public')).status).toBe(200);
  });

  test('forward_token passes the Authorization header through', async () => {
    const { headers } = received(await call(gw.url, '/with-token', { token: worker }));
    expect(headers.authorization).toBe(`Bearer ${worker}`);
  });

  test('request bodies are streamed to the upstream', async () => {
    const body = { title: 'x'.repeat(100_000) };
    const r = await call(gw.url, '/echo', { token: worker, method: 'POST', body });
    expect(r.status).toBe(200);
    expect(received(r).method).toBe('POST');
    expect(JSON.parse(received(r).body)).toEqual(body);
  });
});

describe('routing', () => {
  test('strip_prefix and an upstream base path', async () => {
    expect(received(await call(gw.url, '/api/orders/7?q=a%20b', { token: worker })).url).toBe('/base/orders/7?q=a%20b');
    expect(received(await call(gw.url, '/api', { token: worker })).url).toBe('/base/');
  });

  test('a prefix matches whole segments only; unmatched paths answer 404 JSON', async () => {
    const r = await call(gw.url, '/echoes', { token: worker });
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ error: 'not_found', error_description: 'No route matches this path.' });
  });

  test('methods: longest prefix for the method; another method gets 405 with Allow', async () => {
    expect((await call(gw.url, '/readonly/x', { token: worker })).status).toBe(200);
    const r = await call(gw.url, '/readonly/x', { token: worker, method: 'DELETE' });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('GET');
    expect((await call(gw.url, '/readonly/sub', { token: worker, method: 'POST', body: {} })).status).toBe(200);
  });

  test('dot segments and encoded separators are refused before matching (no escape from a public prefix)', async () => {
    for (const path of ['/public/../echo', '/public/%2e%2e/echo', '/public/.%2E/echo', '/public%2f..%2fecho', '/public/..\\echo']) {
      const before = echo.seen.length;
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: new URL(gw.url).port, path }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.end();
      });
      expect(status, path).toBe(400);
      expect(echo.seen.length).toBe(before);
    }
  });

  test('an unreachable upstream is 502, a slow one 504', async () => {
    const dead = await call(gw.url, '/dead', { token: worker });
    expect(dead.status).toBe(502);
    expect(dead.json.error).toBe('bad_gateway');
    const slow = await call(gw.url, '/slow?ms=2500', { token: worker });
    expect(slow.status).toBe(504);
    expect(slow.json.error).toBe('gateway_timeout');
  });
});

describe('CORS', () => {
  test('a preflight from an allowed origin is answered by the gateway, without a token', async () => {
    const r = await fetch(`${gw.url}/cors/x`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'POST' } });
    expect(r.status).toBe(204);
    expect(r.headers.get('access-control-allow-origin')).toBe(APP);
    expect(r.headers.get('access-control-allow-methods')).toContain('POST');
    expect(r.headers.get('access-control-allow-headers')).toContain('authorization');
  });

  test('a preflight is answered by the route of the method it announces', async () => {
    const pre = (origin: string, method: string) => fetch(`${gw.url}/cors-by-method`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method } });
    expect((await pre(APP, 'GET')).status).toBe(204);
    expect((await pre(APP, 'POST')).status).toBe(403);
    expect((await pre('https://admin.example.test', 'POST')).status).toBe(204);
    expect((await pre(APP, 'DELETE')).status).toBe(405);
  });

  test('another origin is refused', async () => {
    const r = await fetch(`${gw.url}/cors/x`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    expect(r.status).toBe(403);
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('responses and challenges carry the CORS headers, so the app can read WWW-Authenticate', async () => {
    const ok = await call(gw.url, '/cors/x', { token: worker, headers: { origin: APP } });
    expect(ok.headers.get('access-control-allow-origin')).toBe(APP);
    expect(ok.headers.get('access-control-expose-headers')).toContain('x-upstream');
    const denied = await call(gw.url, '/cors/x', { headers: { origin: APP } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe(APP);
    expect(denied.headers.get('access-control-expose-headers')).toContain('www-authenticate');
  });
});

describe('operations', () => {
  test('health, readiness, metrics', async () => {
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${gw.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', issuer: 'loaded' });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toContain('tessera_gateway_jwks_fetches_total{reason="initial",outcome="ok"} 1');
    expect(metrics).toContain('tessera_gateway_process_cpu_seconds_total');
  });

  test('graceful shutdown: an in-flight request completes, then the port closes', async () => {
    const g2 = await startGateway({ issuer: t.issuer, audience: RECORDS_API, routes: [{ prefix: '/slow', upstream: echo.url }] });
    const inflight = call(g2.url, '/slow', { token: worker });
    await new Promise((r) => setTimeout(r, 100));
    const closing = g2.close();
    const r = await inflight;
    expect(r.status).toBe(200);
    await closing;
    await expect(fetch(`${g2.url}/healthz`)).rejects.toThrow();
  });
});
