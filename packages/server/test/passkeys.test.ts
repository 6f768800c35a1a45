/**
 * Passkeys (WebAuthn) end to end over HTTP, with a software authenticator
 * (test/helpers/webauthn.ts) producing real ES256 signatures: registration
 * from the account pages, passwordless sign-in through an OIDC client, the
 * passkey as a second factor, and every kind of bad response refused with
 * its code and no change of state.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { discover } from './helpers/flows.js';
import { page, signedInBrowser, text } from './helpers/account.js';
import { SoftAuthenticator } from './helpers/webauthn.js';
import type { Forgery } from './helpers/webauthn.js';
import { baseConfig, REDIRECT } from './fixtures.js';
import { createAuditRepository } from '../src/audit/repository.js';
import { createUserRepository } from '../src/identity/repository.js';
import { createPasskeyRepository } from '../src/mfa/passkeys/repository.js';
import { ACR_MFA } from '../src/oidc/acr.js';

const PASSWORD = 'a long enough test password';
const person = (username: string) => ({ username, password: PASSWORD, email: `${username}@example.test`, email_verified: true });
const NAMES = ['reg', 'bad', 'foreign', 'json', 'pwless', 'synced', 'counter', 'second', 'manage', 'theirs', 'keeper', 'tenant', 'member'];

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      roles: [...baseConfig.roles, { name: 'secure', tenant: 'default' }],
      tenants: [...baseConfig.tenants, { id: 'default', name: 'Default', policy: { mfa: { mode: 'optional', required_roles: ['secure'] } } }],
      users: [...baseConfig.users, ...NAMES.map(person), { ...person('enroller'), roles: ['secure'] }],
      // A public client of acme: members of acme from other tenants sign in there with their passkeys.
      clients: [...baseConfig.clients, { client_id: 'acme-spa', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], first_party: true, tenant: 'acme', scope: 'openid profile' }],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

const passkeys = () => createPasskeyRepository(t.app.store.db);
const userId = async (username: string) => (await createUserRepository(t.app.store.db).findByUsername('default', username))!.id;
const audit = (subjectId: string, action: string) => createAuditRepository(t.app.store.db).query({ subjectId, action });
/** The stable code on an error page (`<code>error</code>: passkey_unknown`). */
const errorCode = (html: string) => /<code>error<\/code>: ([a-z_]+)/.exec(html)?.[1];
const authenticator = (opts: { synced?: boolean; counter?: boolean } = {}) => new SoftAuthenticator({ origin: t.issuer, ...opts });

/** POSTs JSON like the page script does (same-origin fetch). */
async function postJson(agent: UserAgent, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return agent.request(`${t.issuer}${path}`, {
    method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', origin: t.issuer, ...headers },
  });
}

/** The account page's form token (any account page issues it). */
async function csrfOf(agent: UserAgent): Promise<string> {
  return (await page(agent, `${t.issuer}/account/security`)).csrf;
}

/** Registration options for the signed-in account. */
async function registrationOptions(agent: UserAgent) {
  const res = await postJson(agent, '/account/passkeys/options', { _csrf: await csrfOf(agent) });
  expect(res.status).toBe(200);
  return res.json() as Promise<{ challenge: string; rp: { id: string; name: string }; user: { id: string; name: string };
    authenticatorSelection: Record<string, unknown>; excludeCredentials: { id: string }[]; attestation: string }>;
}

/** Registers a passkey from the account page; returns the verify response. */
async function register(agent: UserAgent, auth: SoftAuthenticator, f: Forgery = {}, name = ''): Promise<Response> {
  const options = await registrationOptions(agent);
  const credential = auth.register(options, f);
  return agent.post(`${t.issuer}/account/passkeys/verify`, { _csrf: await csrfOf(agent), name, credential: JSON.stringify(credential) });
}

/**
 * The answer to adding a passkey: a user's first second factor comes with
 * recovery codes (a page showing them once); later ones go back to the
 * Security page. Returns which it was.
 */
async function expectAdded(res: Response): Promise<'codes' | 'redirect'> {
  if (res.status === 303) {
    expect(res.headers.get('location')).toBe('/account/security?passkeys=added#passkeys');
    return 'redirect';
  }
  const html = await res.text();
  expect(res.status, html.slice(0, 300)).toBe(200);
  expect(html.match(/<li><code>/g)).toHaveLength(10);
  return 'codes';
}

/** Starts a code flow at the first-party SPA client and stops at the sign-in page. */
async function startSignIn(agent: UserAgent, params: Record<string, string> = {}, clientId = 'spa') {
  const config = await discover(t.issuer, { clientId, auth: 'none' });
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: 'openid profile', state, nonce,
    // acr and amr are released in the ID token when requested (docs/protocol.md).
    claims: JSON.stringify({ id_token: { acr: null, amr: null } }),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
  });
  const { res, url: at } = await agent.follow(await agent.get(url), url.href);
  const uid = /\/interaction\/([^/?#]+)/.exec(at)![1]!;
  const html = await res.text();
  const redeem = async (callback: string) => oidc.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
  });
  return { uid, html, redeem };
}

/** Passwordless: options, the authenticator's answer, the form POST; returns the POST's response. */
async function passkeySignIn(agent: UserAgent, uid: string, auth: SoftAuthenticator, f: Forgery = {}): Promise<Response> {
  const res = await postJson(agent, `/interaction/${uid}/passkey/options`, {});
  expect(res.status).toBe(200);
  const options = await res.json() as { challenge: string; rpId: string; allowCredentials?: { id: string }[]; userVerification: string };
  const credential = auth.authenticate(options, f);
  return agent.post(`${t.issuer}/interaction/${uid}/passkey`, { credential: JSON.stringify(credential) });
}

/** Follows a finished interaction back to the client; returns the callback URL. */
async function toCallback(agent: UserAgent, res: Response, from: string): Promise<string> {
  const { url } = await agent.follow(res, from);
  expect(url.startsWith(REDIRECT)).toBe(true);
  return url;
}

async function signedIn(username: string) {
  return (await signedInBrowser(t.issuer, { username, password: PASSWORD })).agent;
}

describe('registration from the account page', () => {
  test('options ask for a discoverable credential with user verification, exclude registered passkeys; the passkey is stored, listed and audited', async () => {
    const agent = await signedIn('reg');
    const options = await registrationOptions(agent);
    expect(options.rp.id).toBe(new URL(t.issuer).hostname);
    expect(options.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'required' });
    expect(options.attestation).toBe('none');
    expect(options.excludeCredentials).toEqual([]);

    const auth = authenticator();
    const res = await agent.post(`${t.issuer}/account/passkeys/verify`, {
      _csrf: await csrfOf(agent), name: 'Laptop', credential: JSON.stringify(auth.register(options)),
    });
    // The first second factor: recovery codes, shown once, then on to the Security page.
    expect(res.status, t.logs.filter((l) => l.includes('passkey.refused')).join('\n')).toBe(200);
    const codesPage = await res.text();
    expect(codesPage.match(/<li><code>/g)).toHaveLength(10);
    expect(codesPage.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c)))).toContain('href="/account/security?passkeys=added#passkeys"');
    const id = await userId('reg');
    expect((await audit(id, 'mfa.recovery_codes_regenerated'))[0]!.details).toMatchObject({ reason: 'first_factor' });
    const [stored] = await passkeys().listByUser(id);
    expect(stored).toMatchObject({ name: 'Laptop', signCount: 0, deviceType: 'singleDevice', backedUp: false, transports: ['internal'] });
    expect(stored!.id).toBe(auth.credentials[0]!.id.toString('base64url'));

    const security = await page(agent, `${t.issuer}/account/security?passkeys=added`);
    expect(text(security.html)).toContain('Your passkey has been added.');
    expect(text(security.html)).toContain('Laptop');
    expect(security.html).toContain('src="/assets/passkeys.js"');
    expect((await agent.get(`${t.issuer}/account/security`)).headers.get('content-security-policy')).toContain("script-src 'self'");
    const [event] = await audit(id, 'mfa.enrolled');
    expect(event!.details).toMatchObject({ kind: 'passkey', id: stored!.id, name: 'Laptop' });

    // The next options exclude it; a second one without a name gets a numbered default name.
    expect((await registrationOptions(agent)).excludeCredentials.map((c) => c.id)).toEqual([stored!.id]);
    // A second one: no new codes (the first ones still stand).
    expect(await expectAdded(await register(agent, authenticator()))).toBe('redirect');
    expect((await passkeys().listByUser(id)).map((k) => k.name)).toEqual(['Laptop', 'Passkey 2']);
  });

  test('wrong origin, wrong RP ID, a foreign, replayed or missing challenge, malformed JSON: 400 with the code, nothing stored', async () => {
    const agent = await signedIn('bad');
    const id = await userId('bad');
    const expectRefused = async (res: Response, code: string) => {
      const html = await res.text();
      expect(res.status, html.slice(0, 300)).toBe(400);
      expect(errorCode(html)).toBe(code);
      expect(await passkeys().listByUser(id)).toEqual([]);
    };
    await expectRefused(await register(agent, authenticator(), { origin: 'https://evil.example' }), 'passkey_origin_mismatch');
    await expectRefused(await register(agent, authenticator(), { rpId: 'evil.example' }), 'passkey_rp_mismatch');
    await expectRefused(await register(agent, authenticator(), { challenge: Buffer.alloc(32, 7).toString('base64url') }), 'passkey_challenge_invalid');
    await expectRefused(await register(agent, authenticator(), { type: 'webauthn.get' }), 'passkey_invalid');
    await expectRefused(await register(agent, authenticator(), { userVerified: false }), 'passkey_invalid');

    // A replay: the same (valid) response twice; the first is accepted, the second finds its challenge used.
    const options = await registrationOptions(agent);
    const credential = JSON.stringify(authenticator().register(options));
    const csrf = await csrfOf(agent);
    expect(await expectAdded(await agent.post(`${t.issuer}/account/passkeys/verify`, { _csrf: csrf, credential }))).toBe('codes');
    const before = await passkeys().listByUser(id);
    const replay = await agent.post(`${t.issuer}/account/passkeys/verify`, { _csrf: csrf, credential });
    expect(replay.status).toBe(400);
    expect(errorCode(await replay.text())).toBe('passkey_challenge_invalid');
    expect(await passkeys().listByUser(id)).toEqual(before);

    // Another user's challenge is not this user's.
    const other = await signedIn('foreign');
    const foreign = authenticator().register(await registrationOptions(other));
    const res = await agent.post(`${t.issuer}/account/passkeys/verify`, { _csrf: csrf, credential: JSON.stringify(foreign) });
    expect(errorCode(await res.text())).toBe('passkey_challenge_invalid');

    for (const credential of ['{not json', '{"id":"x"}', JSON.stringify({ ...foreign, response: { clientDataJSON: 'bm90IGpzb24', attestationObject: 'AA' } })]) {
      const bad = await agent.post(`${t.issuer}/account/passkeys/verify`, { _csrf: csrf, credential });
      expect(bad.status).toBe(400);
      expect(errorCode(await bad.text())).toBe('invalid_request');
    }
    expect(await passkeys().listByUser(id)).toEqual(before);
    expect((await audit(id, 'mfa.challenge_failed')).length).toBeGreaterThanOrEqual(6);
  });

  test('the JSON options endpoints refuse cross-site requests, missing form tokens and signed-out browsers', async () => {
    const agent = await signedIn('json');
    const csrf = await csrfOf(agent);
    expect((await postJson(agent, '/account/passkeys/options', { _csrf: csrf }, { origin: 'https://evil.example' })).status).toBe(403);
    const noToken = await postJson(agent, '/account/passkeys/options', {});
    expect(noToken.status).toBe(403);
    expect(await noToken.json()).toMatchObject({ error: 'csrf_failed' });
    const anonymous = await postJson(new UserAgent(), '/account/passkeys/options', { _csrf: csrf });
    expect(anonymous.status).toBe(403);
    const malformed = await agent.request(`${t.issuer}/account/passkeys/options`, {
      method: 'POST', body: '{oops', headers: { 'content-type': 'application/json', origin: t.issuer },
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: 'invalid_request' });
  });
});

describe('passwordless sign-in', () => {
  test('the sign-in page offers the passkey button and autofill; the script is served as a file', async () => {
    const { html } = await startSignIn(new UserAgent());
    expect(html).toContain('autocomplete="username webauthn"');
    expect(html).toContain('data-passkey-auth');
    expect(html).toContain('data-autofill');
    expect(html).not.toMatch(/<script>(?!<)/);
    const script = await fetch(`${t.issuer}/assets/passkeys.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toContain('javascript');
    const body = await script.text();
    expect(body).toContain('SimpleWebAuthnBrowser');
    expect(body).toContain('data-passkey-register');
  });

  test('a passkey alone finishes an OIDC code flow: the ID token has acr MFA and amr hwk + user', async () => {
    const auth = authenticator();
    await expectAdded(await register(await signedIn('pwless'), auth));

    const agent = new UserAgent();
    const { uid, redeem } = await startSignIn(agent);
    const res = await passkeySignIn(agent, uid, auth);
    expect(res.status).toBe(303);
    const tokens = await redeem(await toCallback(agent, res, `${t.issuer}/interaction/${uid}/passkey`));
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(await userId('pwless'));
    expect(claims.acr).toBe(ACR_MFA);
    expect(claims.amr).toEqual(expect.arrayContaining(['hwk', 'user']));
    expect(claims.amr).not.toContain('pwd');
    const [stored] = await passkeys().listByUser(await userId('pwless'));
    expect(stored!.signCount).toBe(1);
    expect(stored!.lastUsedAt).toBeGreaterThan(0);
  });

  test('a synced passkey (backup eligible, no counter) is swk', async () => {
    const auth = authenticator({ synced: true, counter: false });
    await expectAdded(await register(await signedIn('synced'), auth));
    const [stored] = await passkeys().listByUser(await userId('synced'));
    expect(stored).toMatchObject({ deviceType: 'multiDevice', backedUp: true });
    for (let i = 0; i < 2; i++) { // a counter that stays 0 is not a regression
      const agent = new UserAgent();
      const { uid, redeem } = await startSignIn(agent);
      const res = await passkeySignIn(agent, uid, auth);
      const tokens = await redeem(await toCallback(agent, res, `${t.issuer}/interaction/${uid}/passkey`));
      expect(tokens.claims()!.amr).toEqual(expect.arrayContaining(['swk', 'user']));
    }
  });

  test('counter regression, replayed assertion, unknown credential, bad signature, wrong origin or RP ID: refused with the code, nothing changed', async () => {
    const auth = authenticator();
    await expectAdded(await register(await signedIn('counter'), auth));
    const id = await userId('counter');
    const agent = new UserAgent();
    const { uid, redeem } = await startSignIn(agent);
    const first = await passkeySignIn(agent, uid, auth);
    await redeem(await toCallback(agent, first, `${t.issuer}/interaction/${uid}/passkey`));
    const snapshot = async () => (await passkeys().listByUser(id))[0]!;
    const after = await snapshot();
    expect(after.signCount).toBe(1);

    const refused = async (f: Forgery, code: string, a = auth) => {
      const ua = new UserAgent();
      const { uid: u } = await startSignIn(ua);
      const res = await passkeySignIn(ua, u, a, f);
      const html = await res.text();
      expect(res.status, html.slice(0, 300)).toBe(400);
      expect(errorCode(html)).toBe(code);
      expect(await snapshot()).toEqual(after);
    };
    await refused({ counter: 1 }, 'passkey_counter_regression'); // same as stored: a clone
    await refused({ counter: 0 }, 'passkey_counter_regression');
    await refused({ origin: 'https://evil.example' }, 'passkey_origin_mismatch');
    await refused({ rpId: 'evil.example' }, 'passkey_rp_mismatch');
    await refused({ wrongKey: true }, 'passkey_invalid');
    await refused({ userVerified: false }, 'passkey_invalid'); // passwordless needs user verification
    await refused({ challenge: Buffer.alloc(32, 1).toString('base64url') }, 'passkey_challenge_invalid');
    const stranger = authenticator();
    stranger.register({ challenge: 'x', rp: { id: new URL(t.issuer).hostname }, user: { id: 'eA' } });
    await refused({}, 'passkey_unknown', stranger);
    const [event] = await audit(id, 'mfa.challenge_failed');
    expect(event!.details).toMatchObject({ kind: 'passkey', stage: 'login' });

    // A replayed assertion: the first use works, the same bytes again find their challenge consumed.
    const ua = new UserAgent();
    const { uid: u } = await startSignIn(ua);
    const options = await (await postJson(ua, `/interaction/${u}/passkey/options`, {})).json() as { challenge: string; rpId: string };
    const credential = JSON.stringify(auth.authenticate(options));
    const ok = await ua.post(`${t.issuer}/interaction/${u}/passkey`, { credential });
    expect(ok.status).toBe(303);
    const ua2 = new UserAgent();
    const { uid: u2 } = await startSignIn(ua2);
    const replay = await ua2.post(`${t.issuer}/interaction/${u2}/passkey`, { credential });
    expect(replay.status).toBe(400);
    expect(errorCode(await replay.text())).toBe('passkey_challenge_invalid');
    // The authenticator counted every signature it made (refused ones too); the server stored the one it accepted.
    expect((await snapshot()).signCount).toBe(auth.credentials[0]!.counter);

    // Malformed input: 400 invalid_request.
    const malformed = await ua2.post(`${t.issuer}/interaction/${u2}/passkey`, { credential: '[1,2' });
    expect(malformed.status).toBe(400);
    expect(errorCode(await malformed.text())).toBe('invalid_request');
  });

  test("another tenant's passkey is unknown here", async () => {
    const auth = authenticator();
    await expectAdded(await register(await signedIn('tenant'), auth));
    // As if it had been registered by an account of tenant acme: the default tenant's sign-in does not know it.
    await t.app.store.db.updateTable('passkeys').set({ tenant_id: 'acme' }).where('user_id', '=', await userId('tenant')).execute();
    const agent = new UserAgent();
    const { uid } = await startSignIn(agent);
    const res = await passkeySignIn(agent, uid, auth);
    expect(res.status).toBe(400);
    expect(errorCode(await res.text())).toBe('passkey_unknown');
  });
});

describe('a member from another tenant (docs/identity.md#memberships-in-other-tenants)', () => {
  test('the passkey of a default-tenant user who is a member of acme signs in to acme\'s client (tenant acme); without the membership it is unknown there', async () => {
    const auth = authenticator();
    await expectAdded(await register(await signedIn('member'), auth));
    const id = await userId('member');
    const refused = new UserAgent();
    const first = await startSignIn(refused, {}, 'acme-spa');
    const no = await passkeySignIn(refused, first.uid, auth);
    expect(no.status).toBe(400);
    expect(errorCode(await no.text())).toBe('passkey_unknown');

    await t.app.platform.users.addMembership(id, 'acme');
    const agent = new UserAgent();
    const { uid, redeem } = await startSignIn(agent, {}, 'acme-spa');
    const res = await passkeySignIn(agent, uid, auth);
    expect(res.status).toBe(303);
    const tokens = await redeem(await toCallback(agent, res, `${t.issuer}/interaction/${uid}/passkey`));
    expect(tokens.claims()).toMatchObject({ sub: id, tenant: 'acme' });
  });
});

describe('the passkey as the second factor', () => {
  test('after the password, the MFA step offers "Use a passkey"; the ID token has acr MFA and amr pwd + hwk', async () => {
    const auth = authenticator();
    await expectAdded(await register(await signedIn('second'), auth));

    const agent = new UserAgent();
    const { uid, html, redeem } = await startSignIn(agent);
    const login = await agent.post(new URL(formAction(html, '/login'), t.issuer), { username: 'second', password: PASSWORD });
    expect(login.headers.get('location')).toBe(`/interaction/${uid}/mfa`);
    const mfa = await agent.get(`${t.issuer}/interaction/${uid}/mfa`);
    const mfaHtml = await mfa.text();
    expect(mfa.status).toBe(200);
    expect(mfaHtml).toContain(`/interaction/${uid}/passkey/mfa/options`);
    expect(mfa.headers.get('content-security-policy')).toContain("script-src 'self'");

    const optionsRes = await postJson(agent, `/interaction/${uid}/passkey/mfa/options`, {});
    const options = await optionsRes.json() as { challenge: string; rpId: string; allowCredentials: { id: string }[] };
    expect(options.allowCredentials.map((c) => c.id)).toEqual([auth.credentials[0]!.id.toString('base64url')]);
    // A passwordless challenge is not an MFA challenge (purpose-bound).
    const wrongPurpose = await postJson(agent, `/interaction/${uid}/passkey/options`, {});
    const wrong = auth.authenticate(await wrongPurpose.json() as { challenge: string; rpId: string });
    const refused = await agent.post(`${t.issuer}/interaction/${uid}/passkey/mfa`, { credential: JSON.stringify(wrong) });
    expect(errorCode(await refused.text())).toBe('passkey_challenge_invalid');

    const res = await agent.post(`${t.issuer}/interaction/${uid}/passkey/mfa`, { credential: JSON.stringify(auth.authenticate(options)) });
    expect(res.status).toBe(303);
    const tokens = await redeem(await toCallback(agent, res, `${t.issuer}/interaction/${uid}/passkey/mfa`));
    const claims = tokens.claims()!;
    expect(claims.acr).toBe(ACR_MFA);
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'hwk']));
  });

  test("another user's passkey is not this user's second factor", async () => {
    const mine = authenticator();
    await expectAdded(await register(await signedIn('manage'), mine));
    const theirs = authenticator();
    await expectAdded(await register(await signedIn('theirs'), theirs));
    const agent = new UserAgent();
    const { uid, html } = await startSignIn(agent);
    await agent.post(new URL(formAction(html, '/login'), t.issuer), { username: 'manage', password: PASSWORD });
    const options = await (await postJson(agent, `/interaction/${uid}/passkey/mfa/options`, {})).json() as { challenge: string; rpId: string };
    const res = await agent.post(`${t.issuer}/interaction/${uid}/passkey/mfa`, { credential: JSON.stringify(theirs.authenticate({ ...options, allowCredentials: [] })) });
    expect(res.status).toBe(400);
    expect(errorCode(await res.text())).toBe('passkey_unknown');
  });
});

describe('enrollment inside a sign-in', () => {
  test('MFA is required and the user has no factor: the setup page offers a passkey, which finishes the sign-in with both factors', async () => {
    const agent = new UserAgent();
    const { uid, html, redeem } = await startSignIn(agent);
    const login = await agent.post(new URL(formAction(html, '/login'), t.issuer), { username: 'enroller', password: PASSWORD });
    expect(login.headers.get('location')).toBe(`/interaction/${uid}/mfa`);
    const setup = await agent.get(`${t.issuer}/interaction/${uid}/mfa`);
    const setupHtml = await setup.text();
    expect(setup.status).toBe(200);
    expect(setupHtml).toContain(`/interaction/${uid}/passkey/enroll/options`);
    expect(setup.headers.get('content-security-policy')).toContain("script-src 'self'");

    // A second-factor challenge is not the way in for a user who has no passkey yet.
    expect((await postJson(agent, `/interaction/${uid}/passkey/mfa/options`, {})).status).toBe(400);

    const auth = authenticator();
    const options = await (await postJson(agent, `/interaction/${uid}/passkey/enroll/options`, {})).json() as Parameters<SoftAuthenticator['register']>[0];
    const enrolled = await agent.post(`${t.issuer}/interaction/${uid}/passkey/enroll`, { name: 'Phone', credential: JSON.stringify(auth.register(options)) });
    // The first factor comes with recovery codes, shown once inside the sign-in; "I have saved them" goes on.
    const codesHtml = await enrolled.text();
    expect(enrolled.status).toBe(200);
    expect(codesHtml.match(/<li><code>/g)).toHaveLength(10);
    expect(formAction(codesHtml, '/mfa/continue')).toBe(`/interaction/${uid}/mfa/continue`);
    const res = await agent.post(`${t.issuer}/interaction/${uid}/mfa/continue`, {});
    expect(res.status).toBe(303);
    const tokens = await redeem(await toCallback(agent, res, `${t.issuer}/interaction/${uid}/mfa/continue`));
    expect(tokens.claims()!.acr).toBe(ACR_MFA);
    expect(tokens.claims()!.amr).toEqual(expect.arrayContaining(['pwd', 'hwk']));
    const id = await userId('enroller');
    expect((await passkeys().listByUser(id)).map((k) => k.name)).toEqual(['Phone']);
    const [event] = await audit(id, 'mfa.enrolled');
    expect(event!.details).toMatchObject({ kind: 'passkey', name: 'Phone' });

    // Now enrolled: the next sign-in asks for the passkey, and enrollment is no longer offered.
    const next = new UserAgent();
    const again = await startSignIn(next);
    await next.post(new URL(formAction(again.html, '/login'), t.issuer), { username: 'enroller', password: PASSWORD });
    expect((await postJson(next, `/interaction/${again.uid}/passkey/enroll/options`, {})).status).toBe(400);
    const mfaOptions = await (await postJson(next, `/interaction/${again.uid}/passkey/mfa/options`, {})).json() as Parameters<SoftAuthenticator['authenticate']>[0];
    const done = await next.post(`${t.issuer}/interaction/${again.uid}/passkey/mfa`, { credential: JSON.stringify(auth.authenticate(mfaOptions)) });
    expect(done.status).toBe(303);
  });
});

describe('managing passkeys', () => {
  test('rename, remove; the last second factor cannot be removed while MFA is required', async () => {
    const agent = await signedIn('keeper');
    const id = await userId('keeper');
    expect(await expectAdded(await register(agent, authenticator(), {}, 'Phone'))).toBe('codes');
    const [key] = await passkeys().listByUser(id);
    const csrf = await csrfOf(agent);

    const renamed = await agent.post(`${t.issuer}/account/passkeys/rename`, { _csrf: csrf, id: key!.id, name: 'Work phone' });
    expect(renamed.headers.get('location')).toBe('/account/security?passkeys=renamed#passkeys');
    expect((await passkeys().listByUser(id))[0]!.name).toBe('Work phone');
    const empty = await agent.post(`${t.issuer}/account/passkeys/rename`, { _csrf: csrf, id: key!.id, name: '   ' });
    expect(empty.headers.get('location')).toBe('/account/security?passkeys=name_invalid#passkeys');
    expect(text((await page(agent, `${t.issuer}/account/security?passkeys=name_invalid`)).html)).toContain('Enter a name of 1 to 64 characters.');
    const noToken = await agent.post(`${t.issuer}/account/passkeys/rename`, { id: key!.id, name: 'x' });
    expect(noToken.status).toBe(403);
    // Another user's passkey cannot be renamed (nothing found, nothing changed).
    const theirs = (await passkeys().listByUser(await userId('theirs')))[0]!;
    const foreign = await agent.post(`${t.issuer}/account/passkeys/rename`, { _csrf: csrf, id: theirs.id, name: 'mine now' });
    expect(foreign.headers.get('location')).toBe('/account/security?passkeys=not_found#passkeys');
    expect((await passkeys().findById(theirs.id))!.name).not.toBe('mine now');
    expect(noToken.status).toBe(403);
    expect((await passkeys().listByUser(id))[0]!.name).toBe('Work phone');

    // MFA becomes required for this user (a role): the only passkey cannot go.
    await createUserRepository(t.app.store.db).setRoles(id, 'default', ['secure']);
    const refused = await agent.post(`${t.issuer}/account/security/factors/remove`, { _csrf: csrf, kind: 'passkey', id: key!.id });
    expect(refused.status).toBe(409);
    expect(await passkeys().listByUser(id)).toHaveLength(1);

    expect(await expectAdded(await register(agent, authenticator(), {}, 'Key'))).toBe('redirect');
    const removed = await agent.post(`${t.issuer}/account/security/factors/remove`, { _csrf: csrf, kind: 'passkey', id: key!.id });
    expect(removed.status).toBe(303);
    expect((await passkeys().listByUser(id)).map((k) => k.name)).toEqual(['Key']);
    const [event] = await audit(id, 'mfa.removed');
    expect(event!.details).toMatchObject({ kind: 'passkey' });
  });
});
