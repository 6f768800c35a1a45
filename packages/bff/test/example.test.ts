import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { parseDeclarative } from '../../server/src/config/load.js';
import { startTestApp } from '../../server/test/helpers/app.js';
import type { TestApp } from '../../server/test/helpers/app.js';
import { signInThrough } from '../../server/test/helpers/flows.js';
import { createExampleApp } from '../../../examples/bff/app.js';
import { DEMO_USER, EXAMPLE_DEFAULTS } from '../../../examples/bff/defaults.js';
import { startDemoApi } from '../../../examples/bff/demo-api.js';
import type { DemoApi } from '../../../examples/bff/demo-api.js';
import { loadBffConfig } from '../src/config.js';
import { scriptAgent } from './helpers/stack.js';

/** The example as shipped: examples/bff/tessera.yaml on the platform, the example's defaults, its demo API. */
let platform: TestApp;
let demo: DemoApi;
let app: FastifyInstance;
let bffUrl: string;
beforeAll(async () => {
  const file = new URL('../../../examples/bff/tessera.yaml', import.meta.url);
  platform = await startTestApp({ config: parseDeclarative(readFileSync(file, 'utf8'), 'examples/bff/tessera.yaml') });
  demo = await startDemoApi({ issuer: platform.issuer, audience: EXAMPLE_DEFAULTS.BFF_RESOURCE! });
  const config = loadBffConfig({ ...EXAMPLE_DEFAULTS, BFF_ISSUER: platform.issuer, BFF_API_BASE: demo.url, LOG_LEVEL: 'silent' });
  app = createExampleApp(config);
  await app.listen({ host: '127.0.0.1', port: 0 });
  bffUrl = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await app?.close();
  demo?.server.close();
  await platform?.close();
});

describe('examples/bff', () => {
  test('serves its page with a strict CSP and no inline script', async () => {
    const res = await fetch(`${bffUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).toContain('<script src="/app.js" defer></script>');
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]|\son[a-z]+=|style=/);
    expect((await fetch(`${bffUrl}/app.js`)).headers.get('content-type')).toMatch(/^text\/javascript/);
  });

  test('signs the demo user in with the declared client and calls the demo API through the BFF', async () => {
    const agent = scriptAgent();
    const start = await agent.get(`${bffUrl}/bff/login`);
    const callback = await signInThrough(agent, start.headers.get('location')!, platform.issuer, DEMO_USER);
    expect(callback.origin).toBe('http://localhost:4000');
    expect((await agent.get(`${bffUrl}${callback.pathname}${callback.search}`)).status).toBe(303);

    const user = (await (await agent.get(`${bffUrl}/bff/user`)).json()) as { csrf_token: string; claims: Record<string, unknown> };
    expect(user.claims).toMatchObject({ preferred_username: 'demo', name: 'Demo User' });
    const hello = await agent.get(`${bffUrl}/api/hello`);
    expect(hello.status).toBe(200);
    expect(await hello.json()).toMatchObject({ message: expect.stringMatching(/^Hello, /), scope: 'demo:read demo:write' });
    const write = await agent.request(`${bffUrl}/api/items`, {
      method: 'POST', body: '{"name":"x"}', headers: { 'content-type': 'application/json', 'x-bff-csrf': user.csrf_token },
    });
    expect(write.status).toBe(201);
  });
});
