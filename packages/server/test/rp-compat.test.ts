import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, formAction, hiddenField } from './helpers/agent.js';
import { codeFlow, discover, signInThrough } from './helpers/flows.js';
import { API, baseConfig, CONF_SECRET, REDIRECT, USER } from './fixtures.js';
import { ConfigError } from '../src/config/errors.js';
import { parseDeclarative } from '../src/config/load.js';

/** Settings for relying parties as people run them (docs/relying-parties.md). */
let t: TestApp;
const AFTER = 'http://127.0.0.1:9/after-logout';
const BOB = { username: 'bob', password: 'bob-password-123456' };
beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      users: [...baseConfig.users, { ...BOB, email: 'bob@example.test', email_verified: true }],
      clients: [
        ...baseConfig.clients,
        { client_id: 'careful', client_secret: CONF_SECRET, redirect_uris: [REDIRECT], post_logout_redirect_uris: [AFTER], logout_confirmation: 'always', first_party: true },
        { client_id: 'rp', client_secret: CONF_SECRET, redirect_uris: [REDIRECT], post_logout_redirect_uris: [AFTER], first_party: true, default_resource: API },
        { client_id: 'legacy-rp', client_secret: CONF_SECRET, redirect_uris: [REDIRECT], first_party: true, require_pkce: false },
        { client_id: 'authjs', client_secret: CONF_SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], first_party: true, id_token_claims: true },
      ],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

const confidential = (clientId: string) => discover(t.issuer, { clientId, clientSecret: CONF_SECRET });

describe('revocation answers an empty 200 without a content type (RFC 7009 §2.2; oidc-client-ts refuses text/plain)', () => {
  test('for a known and for an unknown token alike', async () => {
    const config = await confidential('web');
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, USER);
    for (const token of [tokens.refresh_token!, 'not-a-token']) {
      const res = await fetch(`${t.issuer}/oidc/token/revocation`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`web:${CONF_SECRET}`).toString('base64')}` },
        body: new URLSearchParams({ token }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBeNull();
      expect(await res.text()).toBe('');
    }
    // Errors keep their JSON body.
    const bad = await fetch(`${t.issuer}/oidc/token/revocation`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=x' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_request' });
  });
});

describe('RP-initiated logout with a valid id_token_hint needs no confirmation', () => {
  async function signedIn(clientId: string) {
    const config = clientId === 'spa' ? await discover(t.issuer, { clientId, auth: 'none' }) : await confidential(clientId);
    const agent = new UserAgent();
    const { tokens } = await codeFlow(config, agent, t.issuer, USER);
    return { config, agent, tokens };
  }

  test('the page posts itself (CSP allows exactly that script), and the session ends', async () => {
    const { config, agent, tokens } = await signedIn('rp');
    const url = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: AFTER, state: 's1' });
    const page = await agent.get(url);
    const html = await page.text();
    expect(html).toContain('Signing you out');
    expect(html).not.toContain('Sign out?');
    expect(hiddenField(html, 'logout')).toBe('yes');
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).toContain("form-action 'self' http://127.0.0.1:9");
    // What the browser's script does: post the form.
    const done = await agent.post(new URL(formAction(html, '/session/end'), t.issuer), { xsrf: hiddenField(html, 'xsrf')!, logout: 'yes' });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(`${AFTER}?state=s1`);
    const again = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid', prompt: 'none',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const { url: landed } = await agent.follow(await agent.get(again), again.href);
    expect(new URL(landed).searchParams.get('error')).toBe('login_required');
  });

  test('the confirmation, the signed-out page and the engine\'s error pages carry the hosted pages\' strict CSP', async () => {
    const { config, agent, tokens } = await signedIn('careful');
    const confirm = await agent.get(oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: AFTER }));
    const html = await confirm.text();
    expect(html).toContain('Sign out?');
    // The answer redirects to the post-logout URI: form-action allows exactly that origin, and no script runs.
    expect(confirm.headers.get('content-security-policy')).toBe(
      "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self' http://127.0.0.1:9; frame-ancestors 'none'; base-uri 'none'");
    // Without a post-logout URI the sign-out ends on Tessera's signed-out page.
    const bare = await agent.get(`${t.issuer}/oidc/session/end?client_id=careful`);
    const bareHtml = await bare.text();
    expect(bare.headers.get('content-security-policy')).toContain("form-action 'self';");
    const done = await agent.follow(await agent.post(new URL(formAction(bareHtml, '/session/end'), t.issuer), { xsrf: hiddenField(bareHtml, 'xsrf')!, logout: 'yes' }), t.issuer);
    expect(done.res.status).toBe(200);
    expect(done.res.headers.get('content-security-policy')).toMatch(/^default-src 'none';.*form-action 'self'; frame-ancestors 'none'/);
    // An authorization request the engine refuses with its own error page (no valid client to redirect to).
    const error = await fetch(`${t.issuer}/oidc/auth?client_id=nope&response_type=code&scope=openid`);
    expect(error.status).toBe(400);
    expect(error.headers.get('content-type')).toContain('text/html');
    expect(error.headers.get('content-security-policy')).toMatch(/^default-src 'none';.*form-action 'self'; frame-ancestors 'none'; base-uri 'none'$/);
    // A sign-in page that no longer exists (an old bookmark, an expired interaction).
    const gone = await fetch(`${t.issuer}/interaction/no-such-interaction`);
    expect(gone.status).toBeGreaterThanOrEqual(400);
    expect(gone.headers.get('content-security-policy')).toMatch(/^default-src 'none';/);
  });

  test('logout_confirmation: always keeps the question', async () => {
    const { config, agent, tokens } = await signedIn('careful');
    const html = await (await agent.get(oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token! }))).text();
    expect(html).toContain('Sign out?');
  });

  test('without a hint, with another user\'s hint, or with the hint of another session (its sid), the question stays', async () => {
    const { agent, tokens: alice } = await signedIn('rp');
    expect(await (await agent.get(`${t.issuer}/oidc/session/end?client_id=rp`)).text()).toContain('Sign out?');
    const config = await confidential('rp');
    const bob = await codeFlow(config, new UserAgent(), t.issuer, BOB);
    expect(await (await agent.get(oidc.buildEndSessionUrl(config, { id_token_hint: bob.tokens.id_token! }))).text()).toContain('Sign out?');
    // Alice's ID token from another browser's session, with its sid: not this session.
    const elsewhere = await codeFlow(config, new UserAgent(), t.issuer, USER, { claims: JSON.stringify({ id_token: { sid: null } }) });
    expect(elsewhere.tokens.claims()?.sid).toMatch(/.+/);
    expect(await (await agent.get(oidc.buildEndSessionUrl(config, { id_token_hint: elsewhere.tokens.id_token! }))).text()).toContain('Sign out?');
    // Alice's own hint still signs her out without the question.
    expect(await (await agent.get(oidc.buildEndSessionUrl(config, { id_token_hint: alice.id_token! }))).text()).toContain('Signing you out');
  });
});

describe('id_token_claims: the scopes\' claims in the ID token too', () => {
  test('profile and email claims are in the ID token of a client that asks for it, and only for granted scopes', async () => {
    const config = await confidential('authjs');
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, USER, { scope: 'openid profile offline_access' });
    expect(tokens.claims()).toMatchObject({ name: 'Alice Liddell', preferred_username: 'alice', given_name: 'Alice' });
    // email was not asked for: not released.
    expect(tokens.claims()).not.toHaveProperty('email');
    // A refresh's ID token carries them too.
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.claims()).toMatchObject({ preferred_username: 'alice' });
  });

  test('another client gets them from UserInfo only (OIDC Core §5.4)', async () => {
    const { tokens } = await codeFlow(await confidential('web'), new UserAgent(), t.issuer, USER, { scope: 'openid profile email' });
    expect(tokens.claims()).not.toHaveProperty('preferred_username');
    expect(tokens.claims()).not.toHaveProperty('email');
  });
});

describe('default_resource', () => {
  test('scope=openid without a resource gets a JWT access token for the client\'s API', async () => {
    const { tokens } = await codeFlow(await confidential('rp'), new UserAgent(), t.issuer, USER, { scope: 'openid' });
    const claims = decodeJwt(tokens.access_token);
    expect(claims.aud).toBe(API);
    expect(claims.client_id).toBe('rp');
    // That token cannot be used at UserInfo, so the ID token carries the scopes' claims.
    const withProfile = await codeFlow(await confidential('rp'), new UserAgent(), t.issuer, USER, { scope: 'openid profile' });
    expect(withProfile.tokens.claims()).toMatchObject({ preferred_username: 'alice' });
    // Another client without one still gets an opaque token for UserInfo.
    const plain = await codeFlow(await confidential('web'), new UserAgent(), t.issuer, USER, { scope: 'openid' });
    expect(plain.tokens.access_token.split('.').length).toBe(1);
  });

  test('the file must name a declared API', () => {
    const bad = { ...baseConfig, clients: [{ client_id: 'x', client_secret: CONF_SECRET, redirect_uris: [REDIRECT], default_resource: 'https://nowhere.example' }] };
    expect(() => parseDeclarative(JSON.stringify(bad), 'test')).toThrow(ConfigError);
    try {
      parseDeclarative(JSON.stringify(bad), 'test');
    } catch (err) {
      expect(String(err)).toContain('clients[0].default_resource: must be the identifier of an API in apis');
    }
  });
});

describe('PKCE opt-out for confidential clients that send a nonce', () => {
  async function withoutPkce(clientId: string, nonce: string | undefined) {
    const config = await confidential(clientId);
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', state, ...(nonce ? { nonce } : {}) });
    const agent = new UserAgent();
    const first = await agent.get(url);
    const location = first.headers.get('location') ?? '';
    if (location.startsWith(REDIRECT)) return { error: new URL(location).searchParams.get('error') };
    const callback = await signInThrough(agent, url, t.issuer, USER);
    const tokens = await oidc.authorizationCodeGrant(config, callback, { expectedState: state, ...(nonce ? { expectedNonce: nonce } : {}), idTokenExpected: true });
    return { tokens };
  }

  test('require_pkce: false with a nonce signs in without a code challenge', async () => {
    const { tokens } = await withoutPkce('legacy-rp', oidc.randomNonce());
    expect(tokens?.claims()?.sub).toMatch(/.+/);
  });

  test('without a nonce, or for a client that did not opt out, PKCE stays required', async () => {
    expect((await withoutPkce('legacy-rp', undefined)).error).toBe('invalid_request');
    expect((await withoutPkce('web', oidc.randomNonce())).error).toBe('invalid_request');
  });

  test('a public client cannot opt out', () => {
    const bad = { clients: [{ client_id: 'p', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], require_pkce: false }] };
    expect(() => parseDeclarative(JSON.stringify(bad), 'test')).toThrow(/require_pkce: cannot be false for a public client/);
  });
});
