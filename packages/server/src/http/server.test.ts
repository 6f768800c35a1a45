import { PassThrough } from 'node:stream';
import { afterEach, expect, test } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from './server.js';
import { Metrics } from './metrics.js';
import { SiteCheck } from './origin.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const server = () => createHttpServer({
  logLevel: 'warn', trustProxy: 0, sites: new SiteCheck('http://localhost:3000', []), metrics: new Metrics(),
  renderHtmlError: (_request, status, code) => `<p>${status} ${code}</p>`, logStream: new PassThrough(),
});

test('routes validate in their handlers; Fastify builds no Ajv and a route declaring a Fastify schema fails at start', async () => {
  app = server();
  app.post('/plain', async (request) => ({ got: request.body }));
  const ok = await app.inject({ method: 'POST', url: '/plain', payload: { a: 1 } });
  expect(ok.statusCode).toBe(200);
  expect(ok.json()).toEqual({ got: { a: 1 } });
  await app.close();

  app = server();
  app.post('/typed', { schema: { body: { type: 'object', required: ['a'] } } }, async () => ({}));
  await expect(app.ready()).rejects.toThrow(/Fastify route schemas are not used in Tessera/);
});
