/**
 * `password.change_requires_mfa` (docs/identity.md#password-change): a person
 * changing their password on /account goes through a second factor first —
 * the account pages' step-up (max_age + acr_values through the authorization
 * server): only the second factor when the sign-in is recent, enrollment
 * when the person has none. The form never accepts a change without it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { hiddenInputs } from './helpers/forms.js';
import { page } from './helpers/account.js';
import { enrollHandler, enrollTotp, signInToAccount, totpHandler } from './helpers/mfa.js';
import type { Authenticator } from './helpers/mfa.js';
import { baseConfig } from './fixtures.js';
import { createAuditRepository } from '../src/audit/repository.js';
import { verifyPassword } from '../src/identity/password.js';

const PASSWORD = 'a long enough test password';
const NEW_PASSWORD = 'an even longer new passphrase';
const person = (username: string, tenant = 'default') => ({ username, password: PASSWORD, email: `${username}@example.test`, email_verified: true, tenant });

let t: TestApp;
let miaAuthenticator: Authenticator;

beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      // MFA at sign-in is off, so sessions start at the password level; the password change asks for it anyway.
      tenants: [{ id: 'default', name: 'Default', policy: { mfa: { mode: 'off' }, password: { change_requires_mfa: true } } }, ...baseConfig.tenants],
      users: [...baseConfig.users, person('mia'), person('noah'), person('owen'), person('pia', 'acme')],
    },
  });
  miaAuthenticator = (await enrollTotp(await signInToAccount(t.issuer, { username: 'mia', password: PASSWORD }), t.issuer)).authenticator;
}, 60_000);
afterAll(async () => {
  await t?.close();
});

const user = (username: string, tenant = 'default') => t.app.platform.users.findByUsername(tenant, username);

/** Opens /account/password and follows where it leads; answers MFA pages with `mfa`. Returns the final page. */
async function openChangePage(agent: UserAgent, mfa?: (html: string, url: string, agent: UserAgent) => Promise<Response>): Promise<{ url: string; html: string; status: number; steps: string[] }> {
  const steps: string[] = [];
  let { res, url } = await agent.follow(await agent.get(`${t.issuer}/account/password`), `${t.issuer}/account/password`);
  for (let i = 0; i < 6 && new URL(url).pathname !== '/account/password'; i++) {
    const html = await res.text();
    steps.push(new URL(url).pathname.replace(/\/interaction\/[^/]+/, '/interaction/:uid'));
    if (!mfa) return { url, html, status: res.status, steps };
    ({ res, url } = await agent.follow(await mfa(html, url, agent), url));
  }
  return { url, html: await res.text(), status: res.status, steps };
}

async function change(agent: UserAgent, html: string): Promise<Response> {
  return agent.post(new URL(formAction(html, '/account/password'), t.issuer), {
    ...hiddenInputs(html), current_password: PASSWORD, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD,
  });
}

describe('password.change_requires_mfa', () => {
  test('with an authenticator: the page sends the person through the second factor only, then the change works', async () => {
    const agent = await signInToAccount(t.issuer, { username: 'mia', password: PASSWORD });
    // Straight to the step-up sign-in: max_age and acr_values, back to this page.
    const first = await agent.get(`${t.issuer}/account/password`);
    expect(first.status).toBe(303);
    const location = new URL(first.headers.get('location')!, t.issuer);
    expect(location.pathname).toBe('/account/signin');
    expect(Object.fromEntries(location.searchParams)).toEqual({ return_to: '/account/password', step_up: 'mfa', max_age: '600', tenant: 'default' });

    const opened = await openChangePage(agent, totpHandler(miaAuthenticator));
    expect(opened.steps).toEqual(['/interaction/:uid/mfa']);
    expect(opened.status).toBe(200);
    expect(opened.html).toContain('current_password');
    const res = await change(agent, opened.html);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/password?changed=1');
    expect(await verifyPassword((await user('mia'))!.passwordHash!, NEW_PASSWORD)).toBe(true);
    const [entry] = await createAuditRepository(t.app.store.db).query({ subjectId: (await user('mia'))!.id, action: 'password.changed' });
    expect(entry).toBeDefined();
  });

  test('without a second factor: the step-up sets one up first', async () => {
    const agent = await signInToAccount(t.issuer, { username: 'noah', password: PASSWORD });
    const out: Parameters<typeof enrollHandler>[0] = {};
    const opened = await openChangePage(agent, enrollHandler(out));
    expect(opened.status).toBe(200);
    expect(out.authenticator).toBeDefined();
    expect(opened.html).toContain('current_password');
    expect((await change(agent, opened.html)).status).toBe(303);
    expect(await verifyPassword((await user('noah'))!.passwordHash!, NEW_PASSWORD)).toBe(true);
  });

  test('a change posted without the step-up is not applied: the browser is sent to confirm first', async () => {
    const agent = await signInToAccount(t.issuer, { username: 'owen', password: PASSWORD });
    // A form token from another account page (the change page itself redirects).
    const { csrf } = await page(agent, `${t.issuer}/account`);
    const res = await agent.post(`${t.issuer}/account/password`, { _csrf: csrf, current_password: PASSWORD, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^\/account\/signin\?return_to=%2Faccount%2Fpassword&step_up=mfa/);
    expect(await verifyPassword((await user('owen'))!.passwordHash!, PASSWORD)).toBe(true);
  });

  test('a tenant without the policy: no step-up', async () => {
    const agent = await signInToAccount(t.issuer, { username: 'pia', password: PASSWORD }, undefined, 'acme');
    const res = await agent.get(`${t.issuer}/account/password`);
    expect(res.status).toBe(200);
  });
});
