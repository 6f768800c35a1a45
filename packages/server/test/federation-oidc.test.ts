/**
 * Federated sign-in through a real upstream: a bare oidc-provider on its own
 * port and host (localhost) with its own issuer; openid-client as Tessera's
 * relying party and as the application's. Buttons, idp_hint, home-realm
 * discovery, the round trip's checks (state, browser binding, replay,
 * access_denied), completion (amr/acr, MFA policy, upstream MFA trust),
 * JIT, returning identities, linking with proof (never by email alone).
 * Runs on SQLite and PostgreSQL.
 */
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { formAction } from './helpers/agent.js';
import { Browser, UPSTREAM_CLIENT, startUpstream } from './helpers/upstream.js';
import type { Upstream } from './helpers/upstream.js';
import { discover } from './helpers/flows.js';
import { CONF_SECRET, REDIRECT, baseConfig } from './fixtures.js';
import { createExternalLinkRepository } from '../src/federation/links.js';
import { ACR_MFA, ACR_PASSWORD } from '../src/oidc/acr.js';

let t: TestApp;
let up: Upstream;
let rp: oidc.Configuration;
const LOCAL = { username: 'owner', password: 'a long enough local password', email: 'owner@corp.example' };

beforeAll(async () => {
  const upstreamPort = await freePort();
  const upstreamIssuer = `http://localhost:${upstreamPort}`;
  t = await startTestApp({
    config: {
      ...baseConfig,
      tenants: [...baseConfig.tenants, { id: 'sso', name: 'SSO only', policy: { local_login: false } }],
      roles: [...baseConfig.roles, { name: 'staff', tenant: 'default' }],
      users: [...baseConfig.users, { ...LOCAL, email_verified: true }],
      clients: [
        ...baseConfig.clients,
        { client_id: 'mfa-app', client_secret: CONF_SECRET, redirect_uris: [REDIRECT], first_party: true, mfa: 'required', scope: 'openid profile email' },
        { client_id: 'sso-app', client_secret: CONF_SECRET, redirect_uris: [REDIRECT], first_party: true, tenant: 'sso', scope: 'openid profile email' },
      ],
      identity_providers: [
        {
          alias: 'corp', type: 'oidc', display_name: 'Corp', icon: 'building', issuer: upstreamIssuer, client_id: UPSTREAM_CLIENT.id,
          client_secret: UPSTREAM_CLIENT.secret, tenants: ['default', 'sso'], email_domains: ['corp.example'], trust_email_verified: true,
          trust_upstream_mfa: { amr: ['mfa', 'otp'] }, jit: 'create', timeout_seconds: 5, scopes: ['openid', 'email', 'profile', 'groups'],
          group_mappings: [{ group: 'staff', roles: ['staff'] }],
        },
        // Registered, but this upstream does not know its client: never reached in these tests except when disabled.
        { alias: 'off', type: 'oidc', display_name: 'Off', issuer: upstreamIssuer, client_id: 'x', client_secret: 'y', enabled: false },
        { alias: 'acme-only', type: 'oidc', display_name: 'Acme only', issuer: upstreamIssuer, client_id: 'x', client_secret: 'y', tenants: ['acme'] },
      ],
    },
    env: { TESSERA_OUTBOUND_PRIVATE_HOSTS: 'localhost' },
  });
  up = await startUpstream([`${t.issuer}/federation/corp/callback`], upstreamPort);
  rp = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET });
}, 60_000);
afterAll(async () => {
  await t?.close();
  await up?.close();
});

async function authorize(browser: Browser, params: Record<string, string> = {}, config = rp) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: 'openid profile email', state, nonce,
    // acr, amr and email in the ID token itself (docs/protocol.md#claims).
    claims: JSON.stringify({ id_token: { acr: null, amr: null, email: null } }),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
  });
  const res = await browser.get(url);
  const out = await browser.run(res, url.href, REDIRECT);
  return { ...out, verifier, state, nonce, config };
}

/** From the sign-in page, the provider's button (a plain link) to the client's callback or a page. */
async function viaButton(browser: Browser, page: { page?: Response; url: string }, alias = 'corp') {
  const html = await page.page!.text();
  const href = new RegExp(`href="([^"]+/federation/${alias}/start)"`).exec(html)?.[1];
  if (!href) throw new Error(`no ${alias} button on ${page.url}: ${html.slice(0, 400)}`);
  const url = new URL(href.replace(/&amp;/g, '&'), t.issuer);
  return browser.run(await browser.get(url), url.href, REDIRECT);
}

async function tokensFrom(a: Awaited<ReturnType<typeof authorize>>, callback: URL) {
  return oidc.authorizationCodeGrant(a.config, callback, { pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce });
}

async function audit(action: string) {
  return t.app.store.db.selectFrom('audit_log').selectAll().where('action', '=', action).execute();
}

describe('choosing a provider', () => {
  test('the sign-in page offers the tenant\'s enabled providers as plain links, with a strict CSP', async () => {
    const a = await authorize(new Browser());
    expect(a.page!.status).toBe(200);
    const html = await a.page!.text();
    expect(html).toMatch(/<a class="button secondary idp idp-building" href="\/interaction\/[^"]+\/federation\/corp\/start"/);
    expect(html).toContain('Sign in with Corp');
    expect(html).not.toContain('/federation/off/start'); // disabled
    expect(html).not.toContain('/federation/acme-only/start'); // another tenant's
    expect(html).toContain('autocomplete="current-password"'); // the password form stays
    const csp = a.page!.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
  });

  test('idp_hint for an unknown or another tenant\'s provider: an error page with a stable code, audited', async () => {
    for (const hint of ['nope', 'acme-only']) {
      const a = await authorize(new Browser(), { idp_hint: hint });
      expect(a.page!.status).toBe(400);
      expect(await a.page!.text()).toContain('unknown_identity_provider');
    }
    const failed = await audit('federation.login.failed');
    expect(failed.some((e) => JSON.parse(e.details).reason === 'unknown_identity_provider')).toBe(true);
  });
});

describe('the round trip', () => {
  test('JIT: a new upstream identity signs in, amr fed, groups mapped, link kept; audited', async () => {
    up.next({ sub: 'u-100', email: 'Dana@Corp.example', email_verified: true, given_name: 'Dana', family_name: 'Doe', groups: ['staff'] });
    const browser = new Browser();
    // The button on the sign-in page: a plain link, followed as a browser without JavaScript does.
    const page = await authorize(browser, { prompt: 'consent' });
    const a = { ...page, ...(await viaButton(browser, page)) };
    // First party is not set for `web`: consent page
    let callback = a.callback;
    if (!callback) {
      const html = await a.page!.text();
      const action = new URL(formAction(html, '/confirm'), t.issuer);
      callback = (await browser.run(await browser.post(action, {}), action.href, REDIRECT)).callback;
    }
    const tokens = await tokensFrom(a, callback!);
    const claims = tokens.claims()!;
    expect(claims.amr).toEqual(['fed']);
    expect(claims.acr).toBe(ACR_PASSWORD);
    expect(claims.email).toBe('dana@corp.example');
    const user = await t.app.platform.users.findByEmail('default', 'dana@corp.example');
    expect(user).toMatchObject({ givenName: 'Dana', familyName: 'Doe', emailVerified: true, status: 'active' });
    expect(claims.sub).toBe(user!.id);
    expect(await t.app.platform.users.rolesIn(user!.id, 'default')).toEqual(['staff']);
    const link = await createExternalLinkRepository(t.app.store.db).find('default', 'corp', 'u-100');
    expect(link).toMatchObject({ userId: user!.id, email: 'dana@corp.example' });
    expect((await audit('user.jit_created')).map((e) => e.subject_id)).toContain(user!.id);
    expect((await audit('federation.login.succeeded')).map((e) => e.subject_id)).toContain(user!.id);
  });

  test('a returning identity uses its link: same user, last_used_at moves, a vanished group takes only its role', async () => {
    const user = (await t.app.platform.users.findByEmail('default', 'dana@corp.example'))!;
    await t.app.platform.users.setRoles(user.id, 'default', ['staff', 'editor']); // editor by hand
    up.next({ sub: 'u-100', email: 'dana@corp.example', email_verified: true, groups: [] });
    const a = await authorize(new Browser(), { idp_hint: 'corp' }, await discover(t.issuer, { clientId: 'spa' }));
    const tokens = await tokensFrom(a, a.callback!);
    expect(tokens.claims()!.sub).toBe(user.id);
    expect(await t.app.platform.users.rolesIn(user.id, 'default')).toEqual(['editor']);
    const link = await createExternalLinkRepository(t.app.store.db).find('default', 'corp', 'u-100');
    expect(link!.lastUsedAt).toBeGreaterThan(0);
    const count = await t.app.store.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).where('email', '=', 'dana@corp.example').executeTakeFirst();
    expect(Number(count!.n)).toBe(1);
  });

  test('upstream MFA counts when the provider trusts its amr: acr mfa, amr with mfa', async () => {
    up.next({ sub: 'u-100', email: 'dana@corp.example', email_verified: true }, { amr: ['pwd', 'otp'] });
    const a = await authorize(new Browser(), { idp_hint: 'corp' }, await discover(t.issuer, { clientId: 'spa' }));
    const claims = (await tokensFrom(a, a.callback!)).claims()!;
    expect(claims.acr).toBe(ACR_MFA);
    expect(claims.amr).toEqual(['fed', 'mfa']);
  });

  test('Tessera\'s MFA policy still applies when the upstream proves none: a client requiring MFA gets the second-factor step', async () => {
    up.next({ sub: 'u-100', email: 'dana@corp.example', email_verified: true });
    const config = await discover(t.issuer, { clientId: 'mfa-app', clientSecret: CONF_SECRET });
    const a = await authorize(new Browser(), { idp_hint: 'corp' }, config);
    expect(a.callback).toBeUndefined();
    expect(a.url).toMatch(/\/interaction\/[^/]+\/mfa$/);
    expect(a.page!.status).toBe(200);
  });

  test('upstream access_denied reaches the client as access_denied; audited; no session', async () => {
    up.next('deny');
    const a = await authorize(new Browser(), { idp_hint: 'corp' });
    expect(a.callback!.searchParams.get('error')).toBe('access_denied');
    expect((await audit('federation.login.failed')).some((e) => JSON.parse(e.details).reason === 'access_denied')).toBe(true);
  });

  test('home-realm discovery: a login_hint at a provider\'s domain goes there at once', async () => {
    up.next({ sub: 'u-100', email: 'dana@corp.example', email_verified: true });
    const a = await authorize(new Browser(), { login_hint: 'dana@corp.example' }, await discover(t.issuer, { clientId: 'spa' }));
    expect(a.callback!.searchParams.get('code')).toBeTruthy();
  });

  test('home-realm discovery form: the email domain picks the provider; an unknown domain stays on the page', async () => {
    const browser = new Browser();
    const a = await authorize(browser, {}, await discover(t.issuer, { clientId: 'spa' }));
    const html = await a.page!.text();
    const action = new URL(formAction(html, '/federation/discover'), t.issuer);
    const csp = a.page!.headers.get('content-security-policy')!;
    expect(csp).toContain(`form-action 'self' http://127.0.0.1:9 ${up.issuer}`);
    const unknown = await browser.post(action, { email: 'x@elsewhere.example' });
    expect(unknown.status).toBe(400);
    up.next({ sub: 'u-100', email: 'dana@corp.example', email_verified: true });
    const out = await browser.run(await browser.post(action, { email: 'dana@CORP.example' }), action.href, REDIRECT);
    expect(out.callback!.searchParams.get('code')).toBeTruthy();
  });

  test('local_login: false with one provider: no password form, straight to the provider', async () => {
    up.next({ sub: 'u-200', email: 'sam@corp.example', email_verified: true });
    const a = await authorize(new Browser(), {}, await discover(t.issuer, { clientId: 'sso-app', clientSecret: CONF_SECRET }));
    expect(a.callback!.searchParams.get('code')).toBeTruthy();
    expect(await t.app.platform.users.findByEmail('sso', 'sam@corp.example')).toBeTruthy();
  });
});

describe('bad input and attacks', () => {
  /** Starts a round trip and stops at the upstream's redirect back (the callback URL, not yet followed). */
  async function stopAtCallback(browser: Browser) {
    up.next({ sub: 'u-300', email: 'eve@corp.example', email_verified: true });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT, scope: 'openid', state: 's', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', idp_hint: 'corp',
    });
    const out = await browser.run(await browser.get(url), url.href, `${t.issuer}/federation/corp/callback`);
    return out.callback!;
  }

  test('a tampered state: 400 federation_state_invalid, audited, no user', async () => {
    const callback = await stopAtCallback(new Browser());
    callback.searchParams.set('state', 'tampered-state-value');
    const browser = new Browser();
    const res = await browser.get(callback);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('federation_state_invalid');
    expect(await t.app.platform.users.findByEmail('default', 'eve@corp.example')).toBeUndefined();
  });

  test('the callback in another browser (no binding cookie): refused, and the state is spent', async () => {
    const browser = new Browser();
    const callback = await stopAtCallback(browser);
    const thief = await new Browser().get(callback);
    expect(thief.status).toBe(400);
    // Single use: the rightful browser cannot continue with it either.
    const again = await browser.get(callback);
    expect(again.status).toBe(400);
    expect(await t.app.platform.users.findByEmail('default', 'eve@corp.example')).toBeUndefined();
  });

  test('a replayed callback: the first goes on, the replay is refused', async () => {
    const browser = new Browser();
    const callback = await stopAtCallback(browser);
    const first = await browser.get(callback);
    expect(first.status).toBe(303);
    const replay = await browser.get(callback);
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('federation_state_invalid');
  });

  test('an RFC 9207 iss from another issuer (mix-up): refused with a stable code, no user', async () => {
    const browser = new Browser();
    const callback = await stopAtCallback(browser);
    callback.searchParams.set('iss', 'https://evil.example');
    const res = await browser.get(callback);
    expect(res.status).toBe(502);
    expect(await res.text()).toContain('upstream_invalid_response');
    expect(await t.app.platform.users.findByEmail('default', 'eve@corp.example')).toBeUndefined();
  });

  test('a callback for a disabled provider is refused', async () => {
    const res = await new Browser().get(`${t.issuer}/federation/off/callback?state=abc&code=def`);
    expect(res.status).toBe(400); // no state of ours: refused before anything else
    const started = await new Browser().get(`${t.issuer}/federation/nope/callback?code=x`);
    expect(started.status).toBe(400);
  });

  test('never by email alone: an unverified upstream email of a local account gives no link and no user', async () => {
    up.next({ sub: 'u-400', email: LOCAL.email, email_verified: false });
    const a = await authorize(new Browser(), { idp_hint: 'corp' });
    expect(a.page!.status).toBe(403);
    expect(await a.page!.text()).toContain('email_not_verified');
    expect(await createExternalLinkRepository(t.app.store.db).find('default', 'corp', 'u-400')).toBeUndefined();
  });

  test('a verified upstream email of a local account: the link page; a sign-in to that account makes the link', async () => {
    up.next({ sub: 'u-500', email: LOCAL.email, email_verified: true });
    const browser = new Browser();
    const a = await authorize(browser, { idp_hint: 'corp' }, await discover(t.issuer, { clientId: 'spa' }));
    expect(a.page!.status).toBe(200);
    const html = await a.page!.text();
    expect(html).toContain('An account with this email address already exists');
    expect(await createExternalLinkRepository(t.app.store.db).find('default', 'corp', 'u-500')).toBeUndefined();
    const action = new URL(formAction(html, '/login'), t.issuer);
    const done = await browser.run(await browser.post(action, { username: LOCAL.username, password: LOCAL.password }), action.href, REDIRECT);
    expect(done.callback!.searchParams.get('code')).toBeTruthy();
    const owner = (await t.app.platform.users.findByUsername('default', LOCAL.username))!;
    expect(await createExternalLinkRepository(t.app.store.db).find('default', 'corp', 'u-500')).toMatchObject({ userId: owner.id });
    const linked = await audit('user.linked');
    expect(linked.some((e) => e.subject_id === owner.id && JSON.parse(e.details).via === 'proof')).toBe(true);
    // Next time the link is used: straight in as the owner.
    up.next({ sub: 'u-500', email: LOCAL.email, email_verified: true });
    const b = await authorize(new Browser(), { idp_hint: 'corp' }, await discover(t.issuer, { clientId: 'spa' }));
    expect(decodeJwt((await tokensFrom(b, b.callback!)).id_token!).sub).toBe(owner.id);
  });

  test('the link page, then a sign-in to another account: no link', async () => {
    up.next({ sub: 'u-600', email: LOCAL.email, email_verified: true });
    const browser = new Browser();
    const a = await authorize(browser, { idp_hint: 'corp' }, await discover(t.issuer, { clientId: 'spa' }));
    const html = await a.page!.text();
    const action = new URL(formAction(html, '/login'), t.issuer);
    await browser.run(await browser.post(action, { username: 'dana@corp.example', password: 'wrong' }), action.href, REDIRECT);
    expect(await createExternalLinkRepository(t.app.store.db).find('default', 'corp', 'u-600')).toBeUndefined();
  });
});
