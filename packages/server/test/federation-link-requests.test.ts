/**
 * The approval queue of federated links and JIT accounts in the admin API
 * (docs/federation.md#link-requests): `link: admin_approval` and
 * `jit: approve` with a bare oidc-provider as the upstream; list, read,
 * approve (step-up) and reject, tenant confinement, first decision wins,
 * audit. Runs on SQLite and PostgreSQL.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { ACME_ADMIN, OPAL, PLATFORM_ADMIN, adminApi, adminConfig, machineToken, personToken, steppedUpToken, withAuthenticator } from './helpers/admin.js';
import { Browser, UPSTREAM_CLIENT, startUpstream } from './helpers/upstream.js';
import type { Upstream, UpstreamAccount } from './helpers/upstream.js';
import { discover } from './helpers/flows.js';
import { REDIRECT } from './fixtures.js';
import { createExternalLinkRepository } from '../src/federation/links.js';

type LinkRequest = { id: string; tenant: string; provider: string; subject: string; user_id: string; kind: string; status: string; decided_by: string | null };

let t: TestApp;
let up: Upstream;
let api: ReturnType<typeof adminApi>;
let spa: oidc.Configuration;
const tokens = {} as Record<'bot' | 'opal' | 'ada' | 'adminMfa', string>;

beforeAll(async () => {
  const port = await freePort();
  t = await startTestApp({
    config: {
      ...adminConfig(),
      identity_providers: [{
        alias: 'appr', type: 'oidc', display_name: 'Approved only', issuer: `http://localhost:${port}`, client_id: UPSTREAM_CLIENT.id,
        client_secret: UPSTREAM_CLIENT.secret, trust_email_verified: true, jit: 'approve', link: 'admin_approval',
      }],
    },
    env: { TESSERA_OUTBOUND_PRIVATE_HOSTS: 'localhost' },
  });
  up = await startUpstream([`${t.issuer}/federation/appr/callback`], port);
  api = adminApi(t.issuer);
  spa = await discover(t.issuer, { clientId: 'spa' });
  Object.assign(tokens, {
    bot: await machineToken(t.issuer, 'ops-bot'),
    opal: await personToken(t.issuer, OPAL),
    ada: await personToken(t.issuer, ACME_ADMIN, { client: 'acme-console' }),
  });
  tokens.adminMfa = await steppedUpToken(t.issuer, PLATFORM_ADMIN, await withAuthenticator(t.issuer, PLATFORM_ADMIN));
}, 120_000);
afterAll(async () => {
  await t?.close();
  await up?.close();
});

/** A federated sign-in through `appr`: the client's callback (tokens' sub) or the page it stopped on. */
async function signIn(account: UpstreamAccount) {
  up.next(account);
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(spa, {
    redirect_uri: REDIRECT, scope: 'openid', state: 's', idp_hint: 'appr',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const browser = new Browser();
  const out = await browser.run(await browser.get(url), url.href, REDIRECT);
  if (!out.callback) return { page: out.page!, html: await out.page!.text() };
  const tokens = await oidc.authorizationCodeGrant(spa, out.callback, { pkceCodeVerifier: verifier, expectedState: 's' });
  return { sub: tokens.claims()!.sub };
}

async function requestFor(subject: string) {
  const list = await api<{ items: LinkRequest[] }>('GET', '/link-requests', { token: tokens.bot });
  expect(list.status).toBe(200);
  return list.body.items.find((r) => r.subject === subject)!;
}
const audit = async (action: string) => (await t.app.store.db.selectFrom('audit_log').selectAll().where('action', '=', action).execute())
  .map((r) => ({ subject: r.subject_id, data: JSON.parse(r.details) as Record<string, unknown> }));

describe('link: admin_approval (the email of an existing account)', () => {
  test('the sign-in waits; the request is listed; approving (with step-up) links; the next sign-in is the account', async () => {
    const opal = (await t.app.platform.users.findByUsername('default', OPAL.username))!;
    const first = await signIn({ sub: 'ap-1', email: opal.email!, email_verified: true });
    expect(first.page?.status).toBe(403);
    expect(first.html).toContain('approval_pending');
    const r = await requestFor('ap-1');
    expect(r).toMatchObject({ tenant: 'default', provider: 'appr', user_id: opal.id, kind: 'link', status: 'pending', decided_by: null });

    // Another tenant's administrator neither sees nor decides it.
    const acme = await api<{ items: LinkRequest[] }>('GET', '/link-requests', { token: tokens.ada });
    expect(acme.body.items.some((x) => x.id === r.id)).toBe(false);
    expect((await api('GET', `/link-requests/${r.id}`, { token: tokens.ada })).status).toBe(404);
    expect((await api('POST', `/link-requests/${r.id}/reject`, { token: tokens.ada })).status).toBe(404);
    // Approving needs step-up for people.
    const noMfa = await api('POST', `/link-requests/${r.id}/approve`, { token: tokens.opal });
    expect(noMfa.status).toBe(401);
    expect(noMfa.body).toMatchObject({ error: 'insufficient_user_authentication' });
    expect(await createExternalLinkRepository(t.app.store.db).find('default', 'appr', 'ap-1')).toBeUndefined();

    const ok = await api<LinkRequest>('POST', `/link-requests/${r.id}/approve`, { token: tokens.adminMfa });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'approved', kind: 'link' });
    expect(ok.body.decided_by).toBeTruthy();
    expect(await createExternalLinkRepository(t.app.store.db).find('default', 'appr', 'ap-1')).toMatchObject({ userId: opal.id });
    expect((await audit('link.approved')).some((e) => e.subject === opal.id && e.data.request === r.id)).toBe(true);
    expect((await audit('user.linked')).some((e) => e.subject === opal.id && e.data.via === 'approval')).toBe(true);
    // The first decision wins.
    const again = await api('POST', `/link-requests/${r.id}/reject`, { token: tokens.bot });
    expect(again.status).toBe(409);
    expect((await signIn({ sub: 'ap-1', email: opal.email!, email_verified: true })).sub).toBe(opal.id);
  });
});

describe('jit: approve (a new account)', () => {
  test('rejecting disables the pending account: it still cannot sign in', async () => {
    const first = await signIn({ sub: 'ap-2', email: 'newbie@elsewhere.example', email_verified: true });
    expect(first.page?.status).toBe(403);
    const r = await requestFor('ap-2');
    expect(r).toMatchObject({ kind: 'account', status: 'pending' });
    expect((await t.app.platform.users.findById(r.user_id))!.status).toBe('pending');
    const no = await api<LinkRequest>('POST', `/link-requests/${r.id}/reject`, { token: tokens.bot });
    expect(no.status).toBe(200);
    expect(no.body.status).toBe('rejected');
    expect((await t.app.platform.users.findById(r.user_id))!.status).toBe('disabled');
    expect((await audit('link.rejected')).some((e) => e.data.request === r.id)).toBe(true);
    expect((await signIn({ sub: 'ap-2', email: 'newbie@elsewhere.example', email_verified: true })).sub).toBeUndefined();
  });

  test('approving activates the account: the next sign-in goes through', async () => {
    await signIn({ sub: 'ap-3', email: 'approved@elsewhere.example', email_verified: true });
    const r = await requestFor('ap-3');
    const ok = await api<LinkRequest>('GET', `/link-requests/${r.id}`, { token: tokens.bot });
    expect(ok.body).toMatchObject({ id: r.id, kind: 'account', status: 'pending' });
    expect((await api('POST', `/link-requests/${r.id}/approve`, { token: tokens.adminMfa })).status).toBe(200);
    expect((await t.app.platform.users.findById(r.user_id))!.status).toBe('active');
    expect((await signIn({ sub: 'ap-3', email: 'approved@elsewhere.example', email_verified: true })).sub).toBe(r.user_id);
    const approved = await api<{ items: LinkRequest[] }>('GET', '/link-requests?status=approved', { token: tokens.bot });
    expect(approved.body.items.map((x) => x.status)).not.toContain('pending');
    expect(approved.body.items.some((x) => x.id === r.id)).toBe(true);
  });

  test('bad input: an unknown status, an unknown request', async () => {
    const bad = await api('GET', '/link-requests?status=maybe', { token: tokens.bot });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'validation_failed' });
    expect((await api('POST', '/link-requests/nope/approve', { token: tokens.bot })).status).toBe(404);
    expect((await api('GET', '/link-requests/nope', { token: tokens.bot })).status).toBe(404);
  });
});
