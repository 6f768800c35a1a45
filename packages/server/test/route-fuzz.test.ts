/**
 * Bad input over every route the server registers, generated from Fastify's
 * route table (a new route is covered without editing this file): invalid
 * UTF-8 and percent-encoding, NUL bytes, duplicate parameters, wrong content
 * types, arrays for strings, `__proto__` keys, deep nesting, oversized
 * bodies and headers. Never a 5xx; the server still answers afterwards.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import { registeredRoutes } from './helpers/routes.js';
import type { TestApp } from './helpers/app.js';
import { adminConfig, machineToken } from './helpers/admin.js';

let t: TestApp;
let token: string;
beforeAll(async () => {
  t = await startTestApp({ config: adminConfig() });
  token = await machineToken(t.issuer, 'ops-bot');
});
afterAll(async () => {
  await t?.close();
});

/** Every method + concrete path from the route tree (parameters filled in, HEAD and OPTIONS left out). */
function routesToFuzz(): Array<{ method: string; path: string }> {
  return registeredRoutes(t.app.http).filter((r) => r.method !== 'OPTIONS')
    .map((r) => ({ method: r.method, path: r.path.replace(/:[A-Za-z_]+/g, 'x0').replace(/\*$/, 'x0') }));
}

const deep = (n: number): unknown => (n === 0 ? 'x' : { a: deep(n - 1) });

/** Bodies a careless or hostile client sends: [content-type, body]. */
const BODIES: Array<[string, Buffer | string]> = [
  ['application/json', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
  ['application/json', '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}},"email":["a@b.c"],"username":["x","y"]}'],
  ['application/json', JSON.stringify(deep(400))],
  ['application/json', '{"username":"a\\u0000b","email":"x\\ud800@b.c"}'],
  ['application/json', '{"a":1,'],
  ['application/x-www-form-urlencoded', 'a=%FF&a=%C3%28&b=%&c=%ZZ&email=a%00b&email=c'],
  ['application/x-www-form-urlencoded', `x=${'a'.repeat(70 * 1024)}`],
  ['text/plain', 'hello'],
  ['application/xml', '<a/>'],
];

function send(method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${t.issuer}${path}`, { method, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

test('every registered route: malformed bodies, queries and headers get a 4xx (or success), never a 5xx', async () => {
  const routes = routesToFuzz();
  expect(routes.length).toBeGreaterThan(50);
  const failures: string[] = [];
  const auth = { authorization: `Bearer ${token}` };
  for (const { method, path } of routes) {
    const queries = ['?a=%FF', '?a=1&a=2&a[]=3&__proto__[x]=1', '?q=%00%', '?redirect_uri=' + '%E2%82'];
    for (const q of queries) {
      const status = await send(method === 'GET' ? 'GET' : method, path + q, auth);
      if (status >= 500) failures.push(`${method} ${path}${q} → ${status}`);
    }
    const big = await send(method, path, { ...auth, 'x-big': 'a'.repeat(20_000) });
    if (big >= 500) failures.push(`${method} ${path} big header → ${big}`);
    if (method === 'GET' || method === 'DELETE') continue;
    for (const [type, body] of BODIES) {
      const status = await send(method, path, { ...auth, 'content-type': type, 'content-length': String(Buffer.byteLength(body)) }, body);
      if (status >= 500) failures.push(`${method} ${path} ${type} ${String(body).slice(0, 40)} → ${status}`);
    }
  }
  expect(failures).toEqual([]);
  expect((await fetch(`${t.issuer}/healthz`)).status).toBe(200);
  expect((await fetch(`${t.issuer}/readyz`)).status).toBe(200);
}, 120_000);
