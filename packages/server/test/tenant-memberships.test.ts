/**
 * Memberships in other tenants take effect (docs/identity.md#memberships-in-other-tenants):
 * a user of tenant `default` who is a member of `acme` signs in to acme's
 * clients and gets tenant=acme and acme's roles (ID token, UserInfo, JWT
 * access token, introspection); the membership comes from the admin API or
 * from a federation group mapping (`membership: true`, a real upstream);
 * without a membership the user is refused as before; removing it stops the
 * next sign-in and the tenant's refresh tokens and access tokens at UserInfo;
 * the sign-in tenant's policies apply; an identifier two members share signs
 * in nobody; the home tenant is unchanged. Runs on SQLite and PostgreSQL.
 */
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { Browser, UPSTREAM_CLIENT, startUpstream } from './helpers/upstream.js';
import type { Upstream } from './helpers/upstream.js';
import { codeFlow, discover } from './helpers/flows.js';
import { MACHINE_SECRET, adminApi, machineToken } from './helpers/admin.js';
import { API, APP_SCOPE, CONF_SECRET, REDIRECT, baseConfig } from './fixtures.js';

const PASSWORD = 'a long enough member password';
const MIA = { username: 'mia', password: PASSWORD };
const app = (client_id: string, tenant: string, extra: Record<string, unknown> = {}) => ({
  client_id, client_secret: CONF_SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
  token_endpoint_auth_method: 'client_secret_basic', first_party: true, tenant, scope: APP_SCOPE, ...extra,
});

let t: TestApp;
let up: Upstream;
let api: ReturnType<typeof adminApi>;
let bot: string;
let miaId: string;

beforeAll(async () => {
  const upstreamPort = await freePort();
  t = await startTestApp({
    config: {
      ...baseConfig,
      tenants: [...baseConfig.tenants, { id: 'globex', name: 'Globex' }, { id: 'strict', name: 'Strict', policy: { mfa: { mode: 'required' } } },
        { id: 'tight', name: 'Tight', policy: { lockout: { max_failures: 2, window_seconds: 600, duration_seconds: 600 } } }],
      roles: [...baseConfig.roles, { name: 'auditor', tenant: 'acme' }, { name: 'reviewer', tenant: 'acme' }],
      clients: [
        ...baseConfig.clients,
        app('acme-app', 'acme'), app('acme-app2', 'acme'), app('strict-app', 'strict'), app('home-app', 'default'), app('tight-app', 'tight'),
        // App assignment by a role in acme (docs/b2b.md#app-assignment).
        app('acme-auditors', 'acme', { allowed_roles: ['auditor'] }),
        { client_id: 'ops-bot', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], tenant: 'default', admin_scopes: ['identity.admin', 'auth.admin'] },
      ],
      users: [
        ...baseConfig.users,
        { username: 'mia', password: PASSWORD, email: 'mia@example.test', email_verified: true, roles: ['editor'] },
        // Two tenants' users with one username, both members of acme: ambiguous there.
        { username: 'sam', password: PASSWORD, email: 'sam@default.test', email_verified: true },
        { username: 'sam', password: PASSWORD, email: 'sam@globex.test', email_verified: true, tenant: 'globex' },
        // acme's own hal and default's hal (a member of acme): acme's own wins.
        { username: 'hal', password: 'acme hal has this password', email: 'hal@acme.test', email_verified: true, tenant: 'acme' },
        { username: 'hal', password: PASSWORD, email: 'hal@default.test', email_verified: true },
        { username: 'lou', password: PASSWORD, email: 'lou@example.test', email_verified: true },
      ],
      identity_providers: [{
        alias: 'corp', type: 'oidc', display_name: 'Corp', issuer: `http://localhost:${upstreamPort}`, client_id: UPSTREAM_CLIENT.id,
        client_secret: UPSTREAM_CLIENT.secret, tenants: ['default', 'acme'], trust_email_verified: true, jit: 'create', timeout_seconds: 5,
        scopes: ['openid', 'email', 'profile', 'groups'],
        group_mappings: [{ group: 'partners', tenant: 'acme', membership: true, roles: ['reviewer'] }],
      }],
    },
    env: { TESSERA_OUTBOUND_PRIVATE_HOSTS: 'localhost' },
  });
  up = await startUpstream([`${t.issuer}/federation/corp/callback`], upstreamPort);
  api = adminApi(t.issuer);
  bot = await machineToken(t.issuer, 'ops-bot');
  miaId = (await t.app.platform.users.findByUsername('default', 'mia'))!.id;
}, 60_000);
afterAll(async () => {
  await t?.close();
  await up?.close();
});

const rpFor = (clientId: string) => discover(t.issuer, { clientId, clientSecret: CONF_SECRET });
/** A token for the API (a JWT) ... */
const params = { scope: 'openid profile email roles read offline_access', resource: API };
/** ... and one for UserInfo (opaque: UserInfo takes no API token). */
const userinfoParams = { scope: 'openid profile email roles offline_access' };

/** The hosted sign-in up to the page after the password: the callback, or the page (status and body) it stopped at. */
async function passwordSignIn(clientId: string, creds: { username: string; password: string }, agent = new UserAgent()) {
  const config = await rpFor(clientId);
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256', state: oidc.randomState(),
  });
  const { res, url: at } = await agent.follow(await agent.get(url), url.href);
  const html = await res.text();
  expect(html).toContain('autocomplete="current-password"');
  const action = new URL(formAction(html, '/login'), t.issuer);
  const answer = await agent.post(action, creds);
  return { status: answer.status, location: answer.headers.get('location'), body: answer.status === 303 ? '' : await answer.text(), at };
}

async function introspect(clientId: string, token: string) {
  const res = await fetch(`${t.issuer}/oidc/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${CONF_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ token }).toString(),
  });
  return res.json() as Promise<Record<string, unknown>>;
}

describe('a membership granted by the admin API', () => {
  test('without a membership: acme\'s sign-in does not know the user (as before)', async () => {
    const r = await passwordSignIn('acme-app', MIA);
    expect(r.status).toBe(401);
    expect(r.body).toContain('The username or password is incorrect.');
  });

  test('with it: tenant acme and acme\'s roles in the ID token, UserInfo, the JWT access token and introspection', async () => {
    expect((await api('PUT', `/users/${miaId}/memberships/acme`, { token: bot })).status).toBeLessThan(300);
    expect((await api('PUT', `/users/${miaId}/roles`, { token: bot, body: { tenant: 'acme', roles: ['auditor'] } })).status).toBe(200);
    const config = await rpFor('acme-app');
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, MIA, params);
    const id = tokens.claims()!;
    expect(id).toMatchObject({ sub: miaId, tenant: 'acme' });
    const at = decodeJwt(tokens.access_token);
    expect(at).toMatchObject({ sub: miaId, tenant: 'acme', roles: ['auditor'], client_id: 'acme-app' });
    const opaque = (await codeFlow(config, new UserAgent(), t.issuer, MIA, userinfoParams)).tokens;
    expect(await oidc.fetchUserInfo(config, opaque.access_token, miaId)).toMatchObject({ sub: miaId, tenant: 'acme', roles: ['auditor'] });
    expect(await introspect('acme-app', opaque.access_token)).toMatchObject({ active: true, sub: miaId, tenant: 'acme', roles: ['auditor'] });
    // A refresh keeps the tenant and its roles (a JWT is not introspected: the opaque one above was).
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(decodeJwt(refreshed.access_token)).toMatchObject({ tenant: 'acme', roles: ['auditor'] });
    // The audit log files the sign-in under the tenant signed in to.
    const events = await t.app.store.db.selectFrom('audit_log').selectAll().where('action', '=', 'login.succeeded').where('subject_id', '=', miaId).execute();
    expect(events.map((e) => e.tenant_id)).toContain('acme');
  });

  test('app assignment counts the member\'s roles in acme: allowed_roles [auditor] lets them in', async () => {
    const { tokens } = await codeFlow(await rpFor('acme-auditors'), new UserAgent(), t.issuer, MIA, params);
    expect(decodeJwt(tokens.access_token)).toMatchObject({ sub: miaId, tenant: 'acme', roles: ['auditor'] });
  });

  test('the home tenant is unchanged: tenant default and its roles', async () => {
    const config = await rpFor('home-app');
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, MIA, params);
    expect(tokens.claims()).toMatchObject({ sub: miaId, tenant: 'default' });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ tenant: 'default', roles: ['editor'] });
    const opaque = (await codeFlow(config, new UserAgent(), t.issuer, MIA, userinfoParams)).tokens;
    expect(await oidc.fetchUserInfo(config, opaque.access_token, miaId)).toMatchObject({ tenant: 'default', roles: ['editor'] });
  });

  test('a session from the home tenant does not sign in to acme silently: acme\'s sign-in asks (its policies apply there)', async () => {
    const agent = new UserAgent();
    await codeFlow(await rpFor('home-app'), agent, t.issuer, MIA, params);
    // The same browser at acme: the sign-in page again, not a silent code.
    const r = await passwordSignIn('acme-app', MIA, agent);
    expect(r.status).toBe(303);
    // ...and the home tenant's other client still signs in silently (single sign-on as before).
    const again = await codeFlow(await rpFor('home-app'), agent, t.issuer, undefined, { ...params, prompt: 'none' });
    expect(again.tokens.claims()).toMatchObject({ sub: miaId, tenant: 'default' });
  });

  test('single sign-on within acme: after signing in to one of acme\'s clients a member gets a silent code at another; a later sign-in at home moves it', async () => {
    const agent = new UserAgent();
    const signedInToAcme = async () => (await t.app.store.db.selectFrom('session_meta').select('sid').where('account_id', '=', miaId)
      .where('signed_in_tenant', '=', 'acme').execute()).length;
    const before = await signedInToAcme();
    const first = await codeFlow(await rpFor('acme-app'), agent, t.issuer, MIA, params);
    expect(first.tokens.claims()).toMatchObject({ sub: miaId, tenant: 'acme' });
    // The session's sign-in was to acme: acme's other client signs the member in silently, with acme's claims.
    await expect.poll(signedInToAcme, { timeout: 3000 }).toBe(before + 1);
    // The admin API shows the session's sign-in tenant.
    const listed = await api<{ items: Array<{ signed_in_tenant: string | null }> }>('GET', `/users/${miaId}/sessions`, { token: bot });
    expect(listed.status).toBe(200);
    expect(listed.body.items.filter((s) => s.signed_in_tenant === 'acme')).toHaveLength(before + 1);
    const silent = await codeFlow(await rpFor('acme-app2'), agent, t.issuer, undefined, { ...params, prompt: 'none' });
    expect(silent.tokens.claims()).toMatchObject({ sub: miaId, tenant: 'acme' });
    // The home tenant keeps single sign-on from any of the user's sessions...
    const home = await codeFlow(await rpFor('home-app'), agent, t.issuer, undefined, { ...params, prompt: 'none' });
    expect(home.tokens.claims()).toMatchObject({ sub: miaId, tenant: 'default' });
    // ...and a fresh sign-in at home (another browser's flow here: prompt=login) makes the session home's: acme asks again.
    await codeFlow(await rpFor('home-app'), agent, t.issuer, MIA, { ...params, prompt: 'login' });
    await expect.poll(signedInToAcme, { timeout: 3000 }).toBe(before);
    await expect(codeFlow(await rpFor('acme-app2'), agent, t.issuer, undefined, { ...params, prompt: 'none' })).rejects.toMatchObject({ error: 'login_required' });
  });

  test('the sign-in tenant\'s MFA policy applies: strict (mfa required) asks a member for a second factor, the home tenant did not', async () => {
    expect((await api('PUT', `/users/${miaId}/memberships/strict`, { token: bot })).status).toBeLessThan(300);
    const r = await passwordSignIn('strict-app', MIA);
    expect(r.status).toBe(303);
    expect(r.location).toMatch(/\/interaction\/[^/]+\/mfa$/);
    expect((await api('DELETE', `/users/${miaId}/memberships/strict`, { token: bot })).status).toBe(204);
  });

  test('the sign-in tenant\'s lockout thresholds apply: two wrong passwords at tight (max_failures 2) lock the member; the default tenant allows five', async () => {
    const lou = (await t.app.platform.users.findByUsername('default', 'lou'))!;
    await t.app.platform.users.addMembership(lou.id, 'tight');
    for (let i = 0; i < 2; i++) expect((await passwordSignIn('tight-app', { username: 'lou', password: 'wrong password, long enough' })).status).toBe(401);
    expect((await t.app.platform.users.findById(lou.id))!.lockedUntil).toBeGreaterThan(Date.now());
    // Locked for unknown sources: the right password is refused too, with the same answer.
    expect((await passwordSignIn('tight-app', { username: 'lou', password: PASSWORD })).status).toBe(401);
    expect((await passwordSignIn('home-app', { username: 'lou', password: PASSWORD })).status).toBe(401);
    // mia at home: two wrong passwords do not lock under the default tenant's thresholds.
    for (let i = 0; i < 2; i++) expect((await passwordSignIn('home-app', { username: 'mia', password: 'wrong password, long enough' })).status).toBe(401);
    expect((await t.app.platform.users.findById(miaId))!.lockedUntil).toBeNull();
  });

  test('removing the membership: the next sign-in is refused, the tenant\'s refresh tokens and access tokens stop at their next use', async () => {
    const config = await rpFor('acme-app');
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, MIA, userinfoParams);
    expect(await oidc.fetchUserInfo(config, tokens.access_token, miaId)).toMatchObject({ tenant: 'acme' });
    const home = await codeFlow(await rpFor('home-app'), new UserAgent(), t.issuer, MIA, params);
    expect((await api('DELETE', `/users/${miaId}/memberships/acme`, { token: bot })).status).toBe(204);
    const r = await passwordSignIn('acme-app', MIA);
    expect(r.status).toBe(401);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'invalid_grant' });
    await expect(oidc.fetchUserInfo(config, tokens.access_token, miaId)).rejects.toThrow();
    // The home tenant's tokens go on working.
    const refreshed = await oidc.refreshTokenGrant(await rpFor('home-app'), home.tokens.refresh_token!);
    expect(decodeJwt(refreshed.access_token)).toMatchObject({ tenant: 'default', roles: ['editor'] });
  });
});

describe('finding the account a login names in a tenant', () => {
  test('the tenant\'s own user wins over a member from another tenant with the same username', async () => {
    const hal = (await t.app.platform.users.findByUsername('default', 'hal'))!;
    await t.app.platform.users.addMembership(hal.id, 'acme');
    // default's hal's password at acme: acme's own hal is the one asked about, so it is wrong.
    expect((await passwordSignIn('acme-app', { username: 'hal', password: PASSWORD })).status).toBe(401);
    const { tokens } = await codeFlow(await rpFor('acme-app'), new UserAgent(), t.issuer, { username: 'hal', password: 'acme hal has this password' }, params);
    const acmeHal = (await t.app.platform.users.findByUsername('acme', 'hal'))!;
    expect(tokens.claims()).toMatchObject({ sub: acmeHal.id, tenant: 'acme' });
    // The member signs in by an identifier only they have there (their email).
    const byEmail = await codeFlow(await rpFor('acme-app'), new UserAgent(), t.issuer, { username: 'hal@default.test', password: PASSWORD }, params);
    expect(byEmail.tokens.claims()).toMatchObject({ sub: hal.id, tenant: 'acme' });
  });

  test('two members from different tenants sharing a username: nobody signs in by it (the generic refusal)', async () => {
    const sams = await t.app.store.db.selectFrom('users').select(['id', 'tenant_id']).where('username', '=', 'sam').execute();
    expect(sams).toHaveLength(2);
    for (const s of sams) await t.app.platform.users.addMembership(s.id, 'acme');
    const r = await passwordSignIn('acme-app', { username: 'sam', password: PASSWORD });
    expect(r.status).toBe(401);
    expect(r.body).toContain('The username or password is incorrect.');
    // By email (unique to each) the right one signs in.
    const { tokens } = await codeFlow(await rpFor('acme-app'), new UserAgent(), t.issuer, { username: 'sam@globex.test', password: PASSWORD }, params);
    expect(tokens.claims()).toMatchObject({ sub: sams.find((s) => s.tenant_id === 'globex')!.id, tenant: 'acme' });
  });
});

describe('a membership granted by a federation group mapping (membership: true)', () => {
  async function federated(clientId: string, browser = new Browser()) {
    const config = await rpFor(clientId);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid roles read', resource: API, state, idp_hint: 'corp',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const out = await browser.run(await browser.get(url), url.href, REDIRECT);
    if (!out.callback) return { page: out.page! };
    return { tokens: await oidc.authorizationCodeGrant(config, out.callback, { pkceCodeVerifier: verifier, expectedState: state }) };
  }

  test('an upstream account of the home tenant, mapped into acme, signs in to acme\'s client as that member', async () => {
    up.next({ sub: 'p-1', email: 'pat@partner.example', email_verified: true, given_name: 'Pat', groups: ['partners'] });
    const home = await federated('home-app');
    const pat = (await t.app.platform.users.findByEmail('default', 'pat@partner.example'))!;
    expect(home.tokens!.claims()).toMatchObject({ sub: pat.id, tenant: 'default' });
    expect(await t.app.platform.users.listMemberships(pat.id)).toEqual(['default', 'acme']);

    up.next({ sub: 'p-1', email: 'pat@partner.example', email_verified: true, groups: ['partners'] });
    const acme = await federated('acme-app');
    expect(acme.tokens!.claims()).toMatchObject({ sub: pat.id, tenant: 'acme' });
    expect(decodeJwt(acme.tokens!.access_token)).toMatchObject({ tenant: 'acme', roles: ['reviewer'] });
    // No second account was created in acme: the member's link in the home tenant served.
    expect(await t.app.platform.users.findByEmail('acme', 'pat@partner.example')).toBeUndefined();
    const logins = await t.app.store.db.selectFrom('audit_log').select('tenant_id').where('action', '=', 'federation.login.succeeded').where('subject_id', '=', pat.id).execute();
    expect(logins.map((e) => e.tenant_id).sort()).toEqual(['acme', 'default']);
  });

  test('the group gone upstream: the mapping takes the membership and the sign-in to acme is refused', async () => {
    up.next({ sub: 'p-1', email: 'pat@partner.example', email_verified: true, groups: [] });
    const r = await federated('acme-app');
    expect(r.page?.status).toBe(403);
    expect(await r.page!.text()).toContain('access_denied');
    const pat = (await t.app.platform.users.findByEmail('default', 'pat@partner.example'))!;
    expect(await t.app.platform.users.listMemberships(pat.id)).toEqual(['default']);
  });
});
