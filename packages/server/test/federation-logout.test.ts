/**
 * Federated logout (docs/federation.md#federated-logout) with real upstreams:
 * the mock Keycloak of `tessera mock-providers` (oidc-provider with
 * RP-initiated and back-channel logout) and a bare oidc-provider whose
 * signing key the test holds (to forge logout tokens one check at a time).
 *  - Signing out of Tessera sends the browser through the upstream's
 *    end_session_endpoint (id_token_hint = the kept upstream ID token) and on
 *    to the client's post_logout_redirect_uri; only for federated_logout.
 *  - The upstream's back-channel logout tokens end the Tessera sessions its
 *    sign-ins made; every check of OIDC Back-Channel Logout 1.0 §2.6 refuses.
 * Runs on SQLite and PostgreSQL.
 */
import * as oidc from 'openid-client';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startMockProviders } from '../../mock-providers/src/index.js';
import type { MockProviders } from '../../mock-providers/src/index.js';
import { freePort, startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { formAction } from './helpers/agent.js';
import { hiddenInputs } from './helpers/forms.js';
import { Browser, UPSTREAM_CLIENT, startUpstream } from './helpers/upstream.js';
import type { Upstream } from './helpers/upstream.js';
import { discover } from './helpers/flows.js';
import { REDIRECT, baseConfig } from './fixtures.js';

const AFTER_LOGOUT = 'http://127.0.0.1:9/after-logout';
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
let t: TestApp;
let mock: MockProviders;
let up: Upstream;
let spa: oidc.Configuration;
let upstreamKey: CryptoKey;
const KID = 'bare-upstream-key';

beforeAll(async () => {
  const mockPort = await freePort();
  mock = await startMockProviders({ port: mockPort, host: '127.0.0.1', publicUrl: `http://localhost:${mockPort}`, ldap: false, saml: false });
  const upstreamPort = await freePort();
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  upstreamKey = privateKey;
  const common = { tenants: ['default'], trust_email_verified: true, jit: 'create', timeout_seconds: 5 };
  t = await startTestApp({
    config: {
      ...baseConfig,
      identity_providers: [
        { alias: 'kc', type: 'mock', mock: 'keycloak', url: mock.url, display_name: 'Keycloak', federated_logout: true, ...common },
        { alias: 'gg', type: 'mock', mock: 'google', url: mock.url, display_name: 'Google', ...common },
        {
          alias: 'bare', type: 'oidc', display_name: 'Bare', issuer: `http://localhost:${upstreamPort}`, client_id: UPSTREAM_CLIENT.id,
          client_secret: UPSTREAM_CLIENT.secret, federated_logout: true, ...common,
        },
      ],
    },
    env: { TESSERA_OUTBOUND_PRIVATE_HOSTS: 'localhost' },
  });
  mock.registerClient('keycloak', {
    client_id: 'tessera', client_secret: 'tessera-mock-secret', redirect_uris: [`${t.issuer}/federation/kc/callback`],
    post_logout_redirect_uris: [`${t.issuer}/federation/kc/logged-out`], backchannel_logout_uri: `${t.issuer}/federation/kc/backchannel-logout`,
  });
  mock.addRedirectUri('google', `${t.issuer}/federation/gg/callback`);
  up = await startUpstream([`${t.issuer}/federation/bare/callback`], upstreamPort, {
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: KID, alg: 'RS256', use: 'sig' }] },
  });
  spa = await discover(t.issuer, { clientId: 'spa' });
}, 60_000);
afterAll(async () => {
  await t?.close();
  await mock?.close();
  await up?.close();
});

/** A sign-in at Tessera through `alias` (idp_hint; the mocks' persona as login_hint); returns Tessera's tokens. */
async function signIn(alias: string, browser: Browser, loginHint?: string) {
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(spa, {
    redirect_uri: REDIRECT, scope: 'openid profile email', state: 's', nonce: 'n', idp_hint: alias, ...(loginHint ? { login_hint: loginHint } : {}),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const out = await browser.run(await browser.get(url), url.href, REDIRECT);
  if (!out.callback) throw new Error(`no callback: ${out.page?.status} ${(await out.page?.text())?.slice(0, 300)}`);
  return oidc.authorizationCodeGrant(spa, out.callback, { pkceCodeVerifier: verifier, expectedState: 's', expectedNonce: 'n' });
}

/** RP-initiated logout at Tessera: the end-session request, then its (self-submitting) form. Returns where the confirmation sends the browser. */
async function signOutOfTessera(browser: Browser, idToken: string) {
  const url = oidc.buildEndSessionUrl(spa, { id_token_hint: idToken, post_logout_redirect_uri: AFTER_LOGOUT, state: 'bye' });
  const page = await browser.get(url);
  expect(page.status).toBe(200);
  const html = await page.text();
  const action = new URL(formAction(html, '/session/end/confirm'), t.issuer);
  const confirmed = await browser.post(action, { ...hiddenInputs(html), logout: 'yes' });
  expect(confirmed.status).toBe(303);
  return new URL(confirmed.headers.get('location')!, t.issuer);
}

/** Answers "yes" on an upstream's sign-out confirmation page (the mock asks even with a hint). */
async function confirmAtMock(browser: Browser, url: URL) {
  const page = await browser.get(url);
  expect(page.status).toBe(200);
  const html = await page.text();
  const action = new URL(html.match(/<form[^>]*action="([^"]+)"/)![1]!, url);
  const xsrf = html.match(/name="xsrf" value="([^"]+)"/)![1]!;
  return browser.post(action, { xsrf, logout: 'yes' });
}

const sessionsOf = async (userId: string) => t.app.platform.payloads.listByAccount('Session', userId);
const federatedRows = () => t.app.store.db.selectFrom('federated_sessions').selectAll().execute();
async function audit(action: string) {
  return (await t.app.store.db.selectFrom('audit_log').selectAll().where('action', '=', action).execute())
    .map((r) => ({ subject: r.subject_id, data: JSON.parse(r.details) as Record<string, unknown> }));
}

describe('RP-initiated: signing out of Tessera signs out of the upstream', () => {
  test('the browser goes through the upstream end_session_endpoint with the kept ID token, then on to the client', async () => {
    const browser = new Browser();
    const tokens = await signIn('kc', browser, 'alice:ok');
    const userId = tokens.claims()!.sub;
    expect(await sessionsOf(userId)).toHaveLength(1);
    const [row] = (await federatedRows()).filter((r) => r.user_id === userId);
    expect(row).toMatchObject({ provider: 'kc', session_uid: (await sessionsOf(userId))[0]!.uid });
    expect(row!.upstream_sid).toBeTruthy();
    // Encrypted at rest: no JWT in the column.
    expect(row!.id_token).not.toMatch(/^eyJ/);

    const upstream = await signOutOfTessera(browser, tokens.id_token!);
    const kc = mock.providers.keycloak;
    expect(upstream.origin + upstream.pathname).toBe(kc.endSessionEndpoint);
    expect(upstream.searchParams.get('post_logout_redirect_uri')).toBe(`${t.issuer}/federation/kc/logged-out`);
    const hint = decodeJwt(upstream.searchParams.get('id_token_hint')!);
    expect(hint).toMatchObject({ iss: kc.issuer, aud: 'tessera', sid: row!.upstream_sid });
    expect(await sessionsOf(userId)).toHaveLength(0); // Tessera's session ended first

    const back = await confirmAtMock(browser, upstream);
    expect(back.status).toBe(303);
    const loggedOut = new URL(back.headers.get('location')!);
    expect(loggedOut.href.startsWith(`${t.issuer}/federation/kc/logged-out?`)).toBe(true);
    const final = await browser.get(loggedOut);
    expect(final.status).toBe(303);
    expect(final.headers.get('location')).toBe(`${AFTER_LOGOUT}?state=bye`);
    // The state is single use: a replay lands on the signed-out page, not on the client.
    expect((await browser.get(loggedOut)).headers.get('location')).toBe('/oidc/session/end/success');
    expect((await federatedRows()).filter((r) => r.user_id === userId)).toHaveLength(0);
    expect((await audit('federation.logout')).some((e) => e.subject === userId && e.data.via === 'rp_initiated')).toBe(true);
  });

  test('a provider without federated_logout keeps nothing: sign-out goes straight to the client', async () => {
    const browser = new Browser();
    const tokens = await signIn('gg', browser, 'bob:ok');
    expect((await federatedRows()).filter((r) => r.user_id === tokens.claims()!.sub)).toHaveLength(0);
    const next = await signOutOfTessera(browser, tokens.id_token!);
    expect(next.href).toBe(`${AFTER_LOGOUT}?state=bye`);
  });
});

describe('back-channel: the upstream ends the Tessera sessions its sign-ins made', () => {
  test('signing out at the mock Keycloak sends a logout token that ends the linked Tessera session', async () => {
    const browser = new Browser();
    const tokens = await signIn('kc', browser, 'carol:ok');
    const userId = tokens.claims()!.sub;
    const other = new Browser();
    const untouched = await signIn('kc', other, 'dave:ok'); // (bob signed in through gg above: his email would ask for a link)
    expect(await sessionsOf(userId)).toHaveLength(1);
    // The person signs out at the upstream itself (its own end-session, no hint): it notifies its clients, Tessera among them.
    const done = await confirmAtMock(browser, new URL(mock.providers.keycloak.endSessionEndpoint!));
    expect(done.status).toBe(303); // to the mock's signed-out page
    expect(await sessionsOf(userId)).toHaveLength(0);
    expect(await sessionsOf(untouched.claims()!.sub)).toHaveLength(1);
    expect((await audit('federation.logout')).some((e) => e.subject === userId && e.data.via === 'backchannel' && e.data.sessions === 1)).toBe(true);
    expect((await audit('session.revoked')).some((e) => e.subject === userId)).toBe(true);
    // The browser's Tessera session is gone: a silent authorization needs a sign-in.
    const silent = oidc.buildAuthorizationUrl(spa, { redirect_uri: REDIRECT, scope: 'openid', prompt: 'none', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
    const out = await browser.run(await browser.get(silent), silent.href, REDIRECT);
    expect(out.callback!.searchParams.get('error')).toBe('login_required');
  });
});

describe('back-channel logout tokens: OIDC Back-Channel Logout 1.0 §2.6', () => {
  const endpoint = () => `${t.issuer}/federation/bare/backchannel-logout`;
  const post = (form: Record<string, string>) => fetch(endpoint(), { method: 'POST', body: new URLSearchParams(form) });
  const now = () => Math.floor(Date.now() / 1000);
  const claimsFor = (sub: string): Record<string, unknown> => ({
    iss: up.issuer, aud: UPSTREAM_CLIENT.id, iat: now(), jti: crypto.randomUUID(), sub, events: { [EVENT]: {} },
  });
  const sign = (claims: Record<string, unknown>, header: { typ?: string; kid?: string } = {}, key = upstreamKey) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'logout+jwt', kid: KID, ...header }).sign(key);

  async function signedInAtBare(sub: string) {
    up.next({ sub, email: `${sub}@bare.example`, email_verified: true });
    const tokens = await signIn('bare', new Browser());
    const userId = tokens.claims()!.sub;
    expect(await sessionsOf(userId)).toHaveLength(1);
    return userId;
  }

  test('a genuine token (sub only) ends every session of that upstream subject; its replay is refused', async () => {
    const userId = await signedInAtBare('bc-1');
    const token = await sign(claimsFor('bc-1'));
    const res = await post({ logout_token: token });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await sessionsOf(userId)).toHaveLength(0);
    const replay = await post({ logout_token: token });
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'logout_token_invalid' });
    expect((await audit('federation.logout_refused')).some((e) => e.data.reason === 'jti replayed')).toBe(true);
  });

  test('each failed check: 400 logout_token_invalid, audited, and the session lives on', async () => {
    const userId = await signedInAtBare('bc-2');
    const { privateKey: rogue } = await generateKeyPair('RS256');
    const base = () => claimsFor('bc-2');
    const without = (k: string) => Object.fromEntries(Object.entries(base()).filter(([n]) => n !== k));
    const cases: [string, Promise<string> | string][] = [
      ['a key the upstream does not publish', sign(base(), { kid: 'rogue' }, rogue)],
      ['the right kid, another key', sign(base(), {}, rogue)],
      ['another issuer', sign({ ...base(), iss: 'http://evil.example' })],
      ['another audience', sign({ ...base(), aud: 'someone-else' })],
      ['no iat', sign(without('iat'))],
      ['iat an hour ago', sign({ ...base(), iat: now() - 3600 })],
      ['no jti', sign(without('jti'))],
      ['no events', sign(without('events'))],
      ['another event', sign({ ...base(), events: { 'http://schemas.openid.net/event/other': {} } })],
      ['the event not an object', sign({ ...base(), events: { [EVENT]: 'yes' } })],
      ['neither sub nor sid', sign(without('sub'))],
      ['a nonce (an ID token)', sign({ ...base(), nonce: 'n' })],
      ['typ JWT', sign(base(), { typ: 'JWT' })],
      ['not a JWT', 'not-a-token'],
    ];
    for (const [name, token] of cases) {
      const res = await post({ logout_token: await token });
      expect(res.status, name).toBe(400);
      expect(await res.json(), name).toMatchObject({ error: 'logout_token_invalid' });
    }
    const empty = await fetch(endpoint(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    expect(empty.status).toBe(400);
    expect(await sessionsOf(userId)).toHaveLength(1);
    expect((await audit('federation.logout_refused')).filter((e) => e.data.provider === 'bare').length).toBeGreaterThanOrEqual(cases.length);
  });

  test('a sid names one session: another sid of the same subject ends nothing', async () => {
    const userId = await signedInAtBare('bc-3');
    const res = await post({ logout_token: await sign({ ...claimsFor('bc-3'), sid: 'not-a-session-of-ours' }) });
    expect(res.status).toBe(200);
    expect(await sessionsOf(userId)).toHaveLength(1);
  });

  test('no back-channel logout for a provider without federated_logout, or an unknown one', async () => {
    for (const alias of ['gg', 'nope']) {
      const res = await fetch(`${t.issuer}/federation/${alias}/backchannel-logout`, { method: 'POST', body: new URLSearchParams({ logout_token: 'x' }) });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'unknown_identity_provider' });
    }
  });
});
