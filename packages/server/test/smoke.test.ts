import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { baseConfig, USER } from './fixtures.js';

let t: TestApp;
beforeAll(async () => { t = await startTestApp({ config: baseConfig }); });
afterAll(async () => { await t?.close(); });

test('smoke', async () => {
  const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
  const r = await codeFlow(config, new UserAgent(), t.issuer, USER);
  console.log(r.tokens.claims());
  expect(r.tokens.access_token).toBeTruthy();
});
