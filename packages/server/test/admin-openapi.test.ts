/**
 * The admin APIs' OpenAPI 3.1 document: served at a stable URL without a
 * token, generated from the route schemas, and covering every admin route
 * the server actually registered.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import { registeredRoutes } from './helpers/routes.js';
import type { TestApp } from './helpers/app.js';

type Operation = {
  operationId: string; security: { oauth2: string[] }[]; responses: Record<string, unknown>; 'x-tessera-step-up'?: string;
  parameters?: { name: string; in: string; required: boolean }[]; requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
};
type Doc = { openapi: string; servers: { url: string }[]; paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, unknown> } };

let t: TestApp;
let doc: Doc;
beforeAll(async () => {
  t = await startTestApp();
  const res = await fetch(`${t.issuer}/api/admin/v1/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = await res.json() as Doc;
});
afterAll(async () => {
  await t?.close();
});

/** Every method + path Fastify routes under the admin base, read from its route tree (HEAD is the automatic twin of GET). */
function registeredAdminRoutes(): string[] {
  return registeredRoutes(t.app.http)
    .filter((r) => r.path.startsWith('/api/admin/v1/') && r.path !== '/api/admin/v1/openapi.json')
    .map((r) => `${r.method} ${r.path.slice('/api/admin/v1'.length).replace(/:([A-Za-z_]+)/g, '{$1}')}`)
    .sort();
}

test('served at a stable URL as OpenAPI 3.1, for this issuer, with OAuth 2.0 security', () => {
  expect(doc.openapi).toBe('3.1.0');
  expect(doc.servers).toEqual([{ url: `${t.issuer}/api/admin/v1` }]);
  expect(doc.components.securitySchemes.oauth2).toMatchObject({ type: 'oauth2' });
});

test('every registered admin route is documented, and nothing else', () => {
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
  const registered = registeredAdminRoutes();
  expect(registered.length).toBeGreaterThan(30);
  expect(documented).toEqual(registered);
});

test('each operation names its scope, its errors, and its schemas', () => {
  const ids = new Set<string>();
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      expect(ids.has(op.operationId), `${method} ${path}: duplicate operationId`).toBe(false);
      ids.add(op.operationId);
      expect(['identity.admin', 'auth.admin']).toContain(op.security[0]!.oauth2[0]);
      expect(op.responses).toHaveProperty('401');
      expect(op.responses).toHaveProperty('403');
      for (const param of path.match(/\{(\w+)\}/g) ?? []) {
        expect(op.parameters?.some((p) => p.in === 'path' && p.name === param.slice(1, -1) && p.required)).toBe(true);
      }
    }
  }
  const create = doc.paths['/users']!.post!;
  const body = create.requestBody!.content['application/json']!.schema as { properties: Record<string, unknown>; additionalProperties: boolean };
  expect(Object.keys(body.properties)).toEqual(expect.arrayContaining(['username', 'email', 'password', 'roles']));
  expect(body.additionalProperties).toBe(false);
  expect(doc.paths['/users/{id}']!.patch!.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'If-Match', in: 'header', required: true })]));
});

test('sensitive operations are marked for step-up', () => {
  const stepUp = (path: string, method: string) => doc.paths[path]?.[method]?.['x-tessera-step-up'];
  expect(stepUp('/users/{id}/disable', 'post')).toBe('always');
  expect(stepUp('/users/{id}', 'delete')).toBe('always');
  expect(stepUp('/users/{id}/mfa/reset', 'post')).toBe('always');
  expect(stepUp('/users/{id}/memberships/{tenant}', 'put')).toBe('always');
  expect(stepUp('/users/{id}/roles', 'put')).toBe('conditional');
  expect(stepUp('/clients/{id}/secret', 'post')).toBe('always');
  expect(stepUp('/clients/{id}', 'patch')).toBe('conditional');
  expect(stepUp('/keys/rotate', 'post')).toBe('always');
  expect(stepUp('/users/{id}/enable', 'post')).toBeUndefined();
});
