/**
 * Tenants are separate user spaces, also for single sign-on: a platform
 * session of a user of one tenant never signs that user in to a client of
 * another tenant; that client's sign-in page asks for one of its own users.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { REDIRECT, USER, baseConfig } from './fixtures.js';
import { UserAgent as Browser, formAction } from './helpers/agent.js';
import { adminApi } from './helpers/admin.js';

const CAROL = { username: 'carol', password: 'carol password long enough' };
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      clients: [...baseConfig.clients, {
        client_id: 'acme-spa', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT],
        grant_types: ['authorization_code'], first_party: true, tenant: 'acme',
      }],
      users: [
        ...baseConfig.users,
        { ...CAROL, email: 'carol@acme.example', email_verified: true, tenant: 'acme', given_name: 'Carol', roles: ['admin'] },
        { username: 'dora', password: 'dora password long enough', tenant: 'acme' },
      ],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

describe('single sign-on stays inside a tenant', () => {
  test('a default-tenant session does not sign in to an acme client: its sign-in page asks, and only acme users get in', async () => {
    const agent = new UserAgent();
    const spa = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const first = await codeFlow(spa, agent, t.issuer, USER, { prompt: 'login' });
    const aliceSub = first.tokens.claims()!.sub;

    // Same browser, a client of another tenant: with no credentials to offer, the flow must stop at a sign-in page.
    const acme = await discover(t.issuer, { clientId: 'acme-spa', auth: 'none' });
    await expect(codeFlow(acme, agent, t.issuer, undefined)).rejects.toThrow(/sign-in|credentials|login|password/i);

    // Alice cannot sign in there at all (she is not an acme user); Carol can, and gets her own subject.
    await expect(codeFlow(acme, new UserAgent(), t.issuer, USER)).rejects.toThrow();
    const carol = await codeFlow(acme, agent, t.issuer, CAROL);
    expect(carol.tokens.claims()!.sub).not.toBe(aliceSub);
  });

  test('within one tenant, single sign-on works as before', async () => {
    const agent = new UserAgent();
    const spa = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const first = await codeFlow(spa, agent, t.issuer, USER, { prompt: 'login' });
    const again = await codeFlow(spa, agent, t.issuer, undefined);
    expect(again.tokens.claims()!.sub).toBe(first.tokens.claims()!.sub);
  });
});

describe('the built-in apps serve every tenant: `tenant` picks whose users sign in', () => {
  /** Signs in to the account pages the way a person does, from `start`; returns where they ended and the page. */
  async function accountSignIn(start: string, creds: { username: string; password: string }) {
    const agent = new Browser();
    let { res, url } = await agent.follow(await agent.get(`${t.issuer}${start}`), `${t.issuer}${start}`);
    const authorize = new URL(url);
    const action = new URL(formAction(await res.text(), '/login'), t.issuer);
    ({ res, url } = await agent.follow(await agent.post(action, creds), action.href));
    return { url: new URL(url), html: await res.text(), authorize };
  }

  test('account pages: /account?tenant=acme signs in an acme user; without it, acme users are not found', async () => {
    const acme = await accountSignIn('/account?tenant=acme', CAROL);
    expect(acme.url.pathname).toBe('/account');
    expect(acme.html).toContain('carol@acme.example');
    const plain = await accountSignIn('/account', CAROL);
    expect(plain.url.pathname).toMatch(/^\/interaction\//); // still the sign-in page: no such user in `default`
  });

  test('the admin console: an acme administrator signs in with tenant=acme and administers acme only', async () => {
    const console_ = await discover(t.issuer, { clientId: 'tessera-console', auth: 'none' });
    const { tokens } = await codeFlow(console_, new UserAgent(), t.issuer, CAROL, {
      redirect_uri: `${t.issuer}/admin/callback`, scope: 'openid identity.admin', resource: `${t.issuer}/api/admin`, tenant: 'acme', prompt: 'login',
    });
    const users = await adminApi(t.issuer)<{ items: Array<{ username: string; tenant: string }> }>('GET', '/users', { token: tokens.access_token });
    expect(users.status).toBe(200);
    expect(users.body.items.map((u) => u.username).sort()).toEqual(['carol', 'dora']);
    expect((await adminApi(t.issuer)('GET', '/users?tenant=default', { token: tokens.access_token })).status).toBe(404);
  });

  test('an ordinary client ignores `tenant`: its own tenant decides', async () => {
    const acme = await discover(t.issuer, { clientId: 'acme-spa', auth: 'none' });
    await expect(codeFlow(acme, new UserAgent(), t.issuer, USER, { tenant: 'default' })).rejects.toThrow();
    const spa = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    await expect(codeFlow(spa, new UserAgent(), t.issuer, CAROL, { tenant: 'acme' })).rejects.toThrow();
  });
});
