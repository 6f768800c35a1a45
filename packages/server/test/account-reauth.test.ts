/**
 * Security changes on the account pages need a recent sign-in (#17 item 8):
 * enrolling or removing an authenticator, new recovery codes, changing the
 * email or the password. With a session older than
 * TESSERA_ACCOUNT_REAUTH_MAX_AGE (a few seconds here), the forms send the
 * browser to sign in again (prompt=login: the password is asked) and back,
 * the passkey endpoint answers 401 `reauthentication_required`; after the
 * fresh sign-in the change goes through. Real app, real HTTP; SQLite, or
 * PostgreSQL with TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { formAction } from './helpers/agent.js';
import type { UserAgent } from './helpers/agent.js';
import { page, signedInBrowser, text } from './helpers/account.js';
import { baseConfig } from './fixtures.js';

const WINDOW_S = 4;
const PASSWORD = 'a long enough test password';
const config = { ...baseConfig, users: [...baseConfig.users, { username: 'uma', password: PASSWORD, email: 'uma@example.test', email_verified: true }] };

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ config, env: { TESSERA_ACCOUNT_REAUTH_MAX_AGE: String(WINDOW_S) } });
});
afterAll(async () => {
  await t?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** POSTs an account form with a token from `pageUrl`; the answer without following redirects. */
async function post(agent: UserAgent, pageUrl: string, action: string, form: Record<string, string> = {}) {
  const { csrf } = await page(agent, `${t.issuer}${pageUrl}`);
  const res = await agent.post(`${t.issuer}${action}`, { _csrf: csrf, ...form });
  return { status: res.status, location: res.headers.get('location'), html: await res.text() };
}

const passkeyOptions = async (agent: UserAgent) => {
  const { csrf } = await page(agent, `${t.issuer}/account/security`);
  const res = await agent.request(`${t.issuer}/account/passkeys/options`, {
    method: 'POST', body: JSON.stringify({ _csrf: csrf }), headers: { 'content-type': 'application/json', origin: t.issuer },
  });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
};

test('an old sign-in is refused for security changes and sent to sign in again (password asked); after it, the change goes through', async () => {
  const { agent } = await signedInBrowser(t.issuer, { username: 'uma', password: PASSWORD });
  // Fresh: the email form is shown.
  expect((await page(agent, `${t.issuer}/account/email`)).status).toBe(200);

  await sleep((WINDOW_S + 1) * 1000);
  const uma = (await t.app.platform.users.findByUsername('default', 'uma'))!;
  // Viewing stays allowed; changing is not.
  expect((await page(agent, `${t.issuer}/account/security`)).status).toBe(200);
  const refused = [
    await post(agent, '/account/security', '/account/security/totp'),
    await post(agent, '/account/security', '/account/security/recovery-codes'),
    await post(agent, '/account/security', '/account/security/factors/remove', { kind: 'totp', id: '00000000-0000-0000-0000-000000000000' }),
    await post(agent, '/account', '/account/email', { email: 'uma.new@example.test' }),
    await post(agent, '/account', '/account/password', { current_password: PASSWORD, password: 'another long password 1', password_confirm: 'another long password 1' }),
  ];
  for (const r of refused) {
    expect(r.status).toBe(303);
    const to = new URL(r.location!, t.issuer);
    expect(to.pathname).toBe('/account/signin');
    expect(to.searchParams.get('step_up')).toBe('recent');
  }
  expect(new URL(refused[0]!.location!, t.issuer).searchParams.get('return_to')).toBe('/account/security');
  // The form pages themselves send the browser to sign in first.
  const emailForm = await agent.get(`${t.issuer}/account/email`);
  expect(emailForm.status).toBe(303);
  expect(emailForm.headers.get('location')).toContain('/account/signin?');
  // The passkey endpoint (called by the page's script) has a stable code.
  expect(await passkeyOptions(agent)).toMatchObject({ status: 401, body: { error: 'reauthentication_required' } });
  // Nothing changed.
  const after = (await t.app.platform.users.findByUsername('default', 'uma'))!;
  expect(after.passwordHash).toBe(uma.passwordHash);
  expect(after.email).toBe('uma@example.test');
  expect(await t.app.platform.mfa.hasSecondFactor(uma.id)).toBe(false);

  // Signing in again: the engine asks for the password (prompt=login), then the browser is back on the page.
  const signin = await agent.get(new URL(refused[0]!.location!, t.issuer));
  const authorize = new URL(signin.headers.get('location')!, t.issuer);
  expect(authorize.searchParams.get('prompt')).toBe('login');
  let { res, url } = await agent.follow(signin, `${t.issuer}/account/signin`);
  const loginHtml = await res.text();
  const action = new URL(formAction(loginHtml, '/login'), t.issuer);
  ({ res, url } = await agent.follow(await agent.post(action, { username: 'uma', password: PASSWORD }), action.href));
  expect(new URL(url).pathname).toBe('/account/security');
  expect(res.status).toBe(200);

  // Recent now: the same changes go through.
  const totp = await post(agent, '/account/security', '/account/security/totp');
  expect(totp.status).toBe(200);
  expect(text(totp.html)).toContain('/account/security/totp/confirm');
  expect((await passkeyOptions(agent)).status).toBe(200);
  expect((await page(agent, `${t.issuer}/account/email`)).status).toBe(200);
});
