/**
 * Per-IP limits on what can tell whether an address or username is taken:
 * registration (page and JSON API; every request counts) and the account
 * pages' username and email changes. Limit: TESSERA_AUTH_FAILURES_PER_MINUTE.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { page, signedInBrowser, submit } from './helpers/account.js';
import { submitForm } from './helpers/forms.js';
import { UserAgent } from './helpers/agent.js';
import { USER } from './fixtures.js';
import { registrationConfig, PASSWORD, unique } from './helpers/registration.js';

const LIMIT = 3;
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ config: registrationConfig, env: { TESSERA_AUTH_FAILURES_PER_MINUTE: String(LIMIT) } });
});
afterAll(async () => {
  await t?.close();
});

const api = (body: unknown) => fetch(`${t.issuer}/api/self-service/registration`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});

test('registration: every request counts, per IP, across the page and the API; then 429 with Retry-After', async () => {
  // Invalid and valid requests alike (a probe need not be valid to learn something).
  expect((await api({ email: 'not-an-address', password: PASSWORD })).status).toBe(400);
  expect((await api({ email: unique('one'), password: PASSWORD })).status).toBe(201);
  const ua = new UserAgent();
  expect((await submitForm(ua, t.issuer, '/register', { email: unique('two'), password: PASSWORD }, '/register')).status).toBe(200);
  const over = await api({ email: unique('three'), password: PASSWORD });
  expect(over.status).toBe(429);
  expect(over.headers.get('retry-after')).toBe('60');
  expect(await over.json()).toMatchObject({ error: 'too_many_requests' });
  const page429 = await submitForm(ua, t.issuer, '/register', { email: unique('four'), password: PASSWORD }, '/register');
  expect(page429.status).toBe(429);
  expect(await page429.text()).toContain('too_many_requests');
});

test('account pages: username and email changes are limited per IP', async () => {
  const { agent } = await signedInBrowser(t.issuer, USER);
  const statuses: number[] = [];
  for (let i = 0; i < LIMIT; i++) {
    const res = await submit(agent, `${t.issuer}/account/email`, `${t.issuer}/account/email`, { email: `probe-${i}@example.test` });
    statuses.push(res.status);
  }
  expect(statuses.every((s) => s !== 429)).toBe(true);
  const email = await submit(agent, `${t.issuer}/account/email`, `${t.issuer}/account/email`, { email: 'probe-x@example.test' });
  expect(email.status).toBe(429);
  const profile = await submit(agent, `${t.issuer}/account`, `${t.issuer}/account`, { username: 'someone-else', given_name: 'A', family_name: 'B' });
  expect(profile.status).toBe(429);
  expect((await page(agent, `${t.issuer}/account`)).status).toBe(200);
});
