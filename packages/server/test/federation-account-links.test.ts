/**
 * Connected accounts on /account/connected (docs/federation.md#connected-accounts),
 * with a bare oidc-provider as the upstream: list, link another provider
 * through a fresh round trip (bound to the signed-in account), unlink, and
 * the refusal to unlink the last way to sign in (409 last_login_method).
 * Runs on SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { formAction, hiddenField } from './helpers/agent.js';
import { Browser, UPSTREAM_CLIENT, startUpstream } from './helpers/upstream.js';
import type { Upstream } from './helpers/upstream.js';
import { USER, baseConfig } from './fixtures.js';
import { createExternalLinkRepository } from '../src/federation/links.js';

let t: TestApp;
let up: Upstream;
const NOWHERE = 'http://never.invalid/';

beforeAll(async () => {
  const port = await freePort();
  t = await startTestApp({
    config: {
      ...baseConfig,
      identity_providers: [{
        alias: 'corp', type: 'oidc', display_name: 'Corp', issuer: `http://localhost:${port}`, client_id: UPSTREAM_CLIENT.id,
        client_secret: UPSTREAM_CLIENT.secret, trust_email_verified: true, jit: 'create',
      }],
    },
    env: { TESSERA_OUTBOUND_PRIVATE_HOSTS: 'localhost' },
  });
  up = await startUpstream([`${t.issuer}/federation/corp/callback`], port);
}, 60_000);
afterAll(async () => {
  await t?.close();
  await up?.close();
});

const links = () => createExternalLinkRepository(t.app.store.db);
const audit = async (action: string) => (await t.app.store.db.selectFrom('audit_log').selectAll().where('action', '=', action).execute())
  .map((r) => ({ subject: r.subject_id, data: JSON.parse(r.details) as Record<string, unknown> }));

/** Signs in to /account: with the password form, or (no credentials) through the Corp button as the queued upstream account. */
async function accountBrowser(creds?: { username: string; password: string }) {
  const browser = new Browser();
  let out = await browser.run(await browser.get(`${t.issuer}/account`), `${t.issuer}/account`, NOWHERE);
  const html = await out.page!.text();
  if (creds) {
    const action = new URL(formAction(html, '/login'), t.issuer);
    out = await browser.run(await browser.post(action, creds), action.href, NOWHERE);
  } else {
    const href = /href="([^"]+\/federation\/corp\/start)"/.exec(html)![1]!.replace(/&amp;/g, '&');
    const url = new URL(href, t.issuer);
    out = await browser.run(await browser.get(url), url.href, NOWHERE);
  }
  expect(new URL(out.url).pathname).toBe('/account');
  expect(out.page!.status).toBe(200);
  return browser;
}

async function connected(browser: Browser) {
  const res = await browser.get(`${t.issuer}/account/connected`);
  expect(res.status).toBe(200);
  const html = await res.text();
  return { res, html, csrf: hiddenField(html, '_csrf')! };
}

/** Connect Corp from the page: the round trip to the upstream (as `sub`) and back. Returns where it ends. */
async function connect(browser: Browser, sub: string) {
  const { csrf } = await connected(browser);
  up.next({ sub, email: `${sub}@corp.example`, email_verified: true });
  const out = await browser.run(await browser.post(`${t.issuer}/account/connected/link`, { _csrf: csrf, provider: 'corp' }), `${t.issuer}/account/connected/link`, NOWHERE);
  return out;
}

describe('connected accounts', () => {
  test('reached from the security page while the tenant has a provider to connect; the page shows the Security tab as current', async () => {
    const browser = await accountBrowser(USER);
    const security = await (await browser.get(`${t.issuer}/account/security`)).text();
    expect(security).toMatch(/<a href="\/account\/connected" id="connected-accounts">[^<]+<\/a>/);
    const { html } = await connected(browser);
    expect(html).toMatch(/<a href="\/account\/security" aria-current="page">/);
    // No provider serves the tenant (Corp disabled): no link.
    await t.app.store.db.updateTable('identity_providers').set({ enabled: 0 }).where('alias', '=', 'corp').execute();
    try {
      expect(await (await browser.get(`${t.issuer}/account/security`)).text()).not.toContain('/account/connected');
    } finally {
      await t.app.store.db.updateTable('identity_providers').set({ enabled: 1 }).where('alias', '=', 'corp').execute();
    }
  });

  test('a password account connects Corp through a round trip, sees it listed, and disconnects it', async () => {
    const browser = await accountBrowser(USER);
    const alice = (await t.app.platform.users.findByUsername('default', USER.username))!;
    const first = await connected(browser);
    expect(first.html).toContain('No account at another provider is connected.');
    expect(first.html).toContain('Connect Corp');
    // The form's answer is a redirect to the upstream: CSP form-action names it.
    expect(first.res.headers.get('content-security-policy')).toContain(`form-action 'self' ${up.issuer}`);

    const out = await connect(browser, 'al-1');
    expect(new URL(out.url).pathname + new URL(out.url).search).toBe('/account/connected?done=linked');
    expect(await links().find('default', 'corp', 'al-1')).toMatchObject({ userId: alice.id, email: 'al-1@corp.example' });
    expect((await audit('user.linked')).some((e) => e.subject === alice.id && e.data.via === 'account')).toBe(true);
    const listed = await connected(browser);
    expect(listed.html).toContain('al-1@corp.example');

    const res = await browser.post(`${t.issuer}/account/connected/unlink`, { _csrf: listed.csrf, provider: 'corp', subject: 'al-1' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/connected?done=unlinked');
    expect(await links().find('default', 'corp', 'al-1')).toBeUndefined();
    expect((await audit('user.unlinked')).some((e) => e.subject === alice.id && e.data.provider === 'corp')).toBe(true);
  });

  test('the last way to sign in cannot be disconnected: 409 last_login_method, the link stays', async () => {
    up.next({ sub: 'jit-1', email: 'jit-1@corp.example', email_verified: true });
    const browser = await accountBrowser();
    const { html, csrf } = await connected(browser);
    expect(html).toContain('jit-1@corp.example');
    const res = await browser.post(`${t.issuer}/account/connected/unlink`, { _csrf: csrf, provider: 'corp', subject: 'jit-1' });
    expect(res.status).toBe(409);
    expect(await res.text()).toContain('last_login_method');
    expect(await links().find('default', 'corp', 'jit-1')).toBeTruthy();
  });

  test('an upstream account connected to someone else is refused (409), and another user\'s link cannot be named', async () => {
    const browser = await accountBrowser(USER);
    const out = await connect(browser, 'jit-1');
    expect(out.page!.status).toBe(409);
    const jitUser = (await links().find('default', 'corp', 'jit-1'))!.userId;
    expect(jitUser).not.toBe((await t.app.platform.users.findByUsername('default', USER.username))!.id);
    const { csrf } = await connected(browser);
    const res = await browser.post(`${t.issuer}/account/connected/unlink`, { _csrf: csrf, provider: 'corp', subject: 'jit-1' });
    expect(res.status).toBe(404);
    expect(await links().find('default', 'corp', 'jit-1')).toMatchObject({ userId: jitUser });
  });

  test('bad input: no form token, an unknown provider', async () => {
    const browser = await accountBrowser(USER);
    const noCsrf = await browser.post(`${t.issuer}/account/connected/link`, { provider: 'corp' });
    expect(noCsrf.status).toBe(403);
    const { csrf } = await connected(browser);
    const unknown = await browser.post(`${t.issuer}/account/connected/link`, { _csrf: csrf, provider: 'nope' });
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain('unknown_identity_provider');
  });
});
