import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover, signInThrough } from './helpers/flows.js';
import { API, baseConfig, CONF_SECRET, REDIRECT, USER } from './fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ config: baseConfig });
});
afterAll(async () => {
  await t?.close();
});

const jwks = () => createRemoteJWKSet(new URL(`${t.issuer}/oidc/jwks`));

/** Verifies an ID token independently of openid-client: signature via JWKS, iss, aud, nonce. */
async function verifyIdToken(idToken: string, audience: string, nonce: string) {
  const { payload, protectedHeader } = await jwtVerify(idToken, jwks(), { issuer: t.issuer, audience });
  expect(payload.nonce).toBe(nonce);
  return { payload, protectedHeader };
}

describe('discovery', () => {
  test('openid-client discovers the issuer and its endpoints', async () => {
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const md = config.serverMetadata();
    expect(md.issuer).toBe(t.issuer);
    expect(md.token_endpoint).toBe(`${t.issuer}/oidc/token`);
    expect(md.jwks_uri).toBe(`${t.issuer}/oidc/jwks`);
    expect(md.code_challenge_methods_supported).toEqual(['S256']);
    expect(md.response_types_supported).toEqual(['code']);
    expect(md.authorization_response_iss_parameter_supported).toBe(true);
    expect(md.grant_types_supported).not.toContain('implicit');
    expect(md.grant_types_supported).toContain('password'); // the legacy grant, only for clients that list it (b2b.test.ts)
    expect(md.id_token_signing_alg_values_supported).toContain('RS256');
    expect(md.acr_values_supported).toContain('urn:tessera:acr:pwd');
  });

  test('JWKS publishes RS256 and ES256 public keys only', async () => {
    const body = await (await fetch(`${t.issuer}/oidc/jwks`)).json() as { keys: Record<string, string>[] };
    expect(body.keys.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    for (const k of body.keys) expect(k.d).toBeUndefined();
  });
});

describe('authorization code + PKCE', () => {
  test('public client: ID token verified, iss in the response, UserInfo sub matches', async () => {
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    oidc.enableNonRepudiationChecks(config);
    const { tokens, nonce, callback } = await codeFlow(config, new UserAgent(), t.issuer, USER);
    expect(callback.searchParams.get('iss')).toBe(t.issuer); // RFC 9207
    const { payload } = await verifyIdToken(tokens.id_token!, 'spa', nonce);
    expect(payload.tenant).toBe('default');
    const info = await oidc.fetchUserInfo(config, tokens.access_token, payload.sub!);
    expect(info.sub).toBe(payload.sub);
    expect(info.email).toBe('alice@example.test');
    expect(info.email_verified).toBe(true);
    expect(info.given_name).toBe('Alice');
    expect(info.phone_number).toBeUndefined(); // phone scope not granted
  });

  test.each([
    ['client_secret_basic', 'web', 'basic'],
    ['client_secret_post', 'web-post', 'post'],
  ] as const)('confidential client (%s)', async (_label, clientId, auth) => {
    const config = await discover(t.issuer, { clientId, clientSecret: CONF_SECRET, auth });
    const { tokens, nonce } = await codeFlow(config, new UserAgent(), t.issuer, USER);
    const { payload } = await verifyIdToken(tokens.id_token!, clientId, nonce);
    expect(payload.sub).toBeTruthy();
    expect(tokens.refresh_token).toBeTruthy();
  });

  test('a wrong client secret is refused with invalid_client', async () => {
    const config = await discover(t.issuer, { clientId: 'web', clientSecret: 'x'.repeat(40), auth: 'basic' });
    const err = await codeFlow(config, new UserAgent(), t.issuer, USER).then(() => undefined, (e: unknown) => e as { status?: number; cause?: unknown });
    // openid-client surfaces a 401 with WWW-Authenticate as a challenge error.
    expect(err?.status).toBe(401);
    expect(JSON.stringify(err?.cause)).toContain('invalid_client');
  });

  test('max_age yields auth_time, checked by openid-client', async () => {
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const { tokens, nonce } = await codeFlow(config, new UserAgent(), t.issuer, USER, { max_age: '300' }, { maxAge: 300 });
    const { payload } = await verifyIdToken(tokens.id_token!, 'spa', nonce);
    expect(typeof payload.auth_time).toBe('number');
    expect(Math.abs(payload.auth_time as number - Date.now() / 1000)).toBeLessThan(60);
  });

  test('acr_values: the ID token carries the acr reached', async () => {
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const { tokens, nonce } = await codeFlow(config, new UserAgent(), t.issuer, USER, { acr_values: 'urn:tessera:acr:pwd' });
    const { payload } = await verifyIdToken(tokens.id_token!, 'spa', nonce);
    expect(payload.acr).toBe('urn:tessera:acr:pwd');
  });

  test('login_hint pre-fills the username', async () => {
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid', login_hint: 'hinted-user',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const agent = new UserAgent();
    const { res } = await agent.follow(await agent.get(url), url.href);
    const html = await res.text();
    expect(html).toContain('value="hinted-user"');
    // `webauthn`: the field also offers passkeys in its autofill (conditional UI).
    expect(html).toContain('autocomplete="username webauthn"');
    expect(html).toContain('autocomplete="current-password"');
  });

  test('access token for a declared API is a JWT with aud, scope, client_id, sub, tenant', async () => {
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, USER, { scope: 'openid read', resource: API });
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks(), { issuer: t.issuer, audience: API });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload.scope).toBe('read');
    expect(payload.client_id).toBe('spa');
    expect(payload.tenant).toBe('default');
    expect(payload.sub).toBe(decodeJwt(tokens.id_token!).sub);
  });

  test('without a resource the access token is opaque', async () => {
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, USER);
    expect(tokens.access_token.split('.').length).not.toBe(3);
  });
});

describe('codes and refresh tokens', () => {
  test('a code is single use, and reusing it revokes the tokens it issued', async () => {
    const config = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET, auth: 'basic' });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = await signInThrough(new UserAgent(), url, t.issuer, USER);
    const first = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, idTokenExpected: true });
    const intro1 = await oidc.tokenIntrospection(config, first.access_token);
    expect(intro1.active).toBe(true);
    await expect(oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier })).rejects.toMatchObject({ error: 'invalid_grant' });
    const intro2 = await oidc.tokenIntrospection(config, first.access_token);
    expect(intro2.active).toBe(false);
  });

  test('public client refresh tokens rotate; reuse of a rotated token revokes the family', async () => {
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, USER);
    const rt1 = tokens.refresh_token!;
    const second = await oidc.refreshTokenGrant(config, rt1);
    const rt2 = second.refresh_token!;
    expect(rt2).toBeTruthy();
    expect(rt2).not.toBe(rt1);
    // The legitimate holder moves on (so rt1 is past its grace period: its successor is used up)…
    const third = await oidc.refreshTokenGrant(config, rt2);
    const rt3 = third.refresh_token!;
    // …the attacker (or a confused client) replays the rotated token…
    await expect(oidc.refreshTokenGrant(config, rt1)).rejects.toMatchObject({ error: 'invalid_grant' });
    // …and the legitimate holder's newer token is dead too: the whole grant was revoked.
    await expect(oidc.refreshTokenGrant(config, rt3)).rejects.toMatchObject({ error: 'invalid_grant' });
    const res = await fetch(`${t.issuer}/oidc/me`, { headers: { authorization: `Bearer ${third.access_token}` } });
    expect(res.status).toBe(401);
  });
});

describe('consent', () => {
  test('third-party client: consent asked once, then remembered for the grant', async () => {
    const config = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET, auth: 'basic' });
    const agent = new UserAgent();
    const params = {
      redirect_uri: REDIRECT, scope: 'openid email',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    };
    const first = oidc.buildAuthorizationUrl(config, params);
    let { res } = await agent.follow(await agent.get(first), first.href);
    const login = await res.text();
    expect(login).toContain('Sign in');
    const cb = await signInThrough(agent, first, t.issuer, USER);
    expect(cb.searchParams.get('code')).toBeTruthy();
    // Same browser session, same scopes: no page at all this time.
    const second = oidc.buildAuthorizationUrl(config, params);
    ({ res } = await agent.follow(await agent.get(second), second.href));
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(REDIRECT);
    expect(location.searchParams.get('code')).toBeTruthy();
  });

  test('denying consent returns access_denied to the client', async () => {
    const config = await discover(t.issuer, { clientId: 'web-post', clientSecret: CONF_SECRET, auth: 'post' });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid profile', state: 's1',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const cb = await signInThrough(new UserAgent(), url, t.issuer, USER, { consent: false });
    expect(cb.searchParams.get('error')).toBe('access_denied');
    expect(cb.searchParams.get('state')).toBe('s1');
  });

  test.each([
    ['without prompt', {}],
    ['even with prompt=consent', { prompt: 'consent', scope: 'openid profile offline_access' }],
  ])('first-party client skips consent (%s) and gets a refresh token', async (_label, extra: Record<string, string>) => {
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid profile email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
    });
    const agent = new UserAgent();
    let { res, url: at } = await agent.follow(await agent.get(url), url.href);
    const html = await res.text();
    const action = new URL(html.match(/action="([^"]*\/login)"/)![1]!, t.issuer);
    ({ res, url: at } = await agent.follow(await agent.post(action, USER), action.href));
    expect(new URL(at).origin + new URL(at).pathname).toBe(REDIRECT);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(at), { pkceCodeVerifier: verifier, idTokenExpected: true });
    expect(tokens.refresh_token).toBeTruthy();
  });
});

describe('browser-flow protections', () => {
  test('prompt=none without a session returns login_required to the client', async () => {
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid', prompt: 'none', state: 'st',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(REDIRECT);
    expect(location.searchParams.get('error')).toBe('login_required');
    expect(location.searchParams.get('state')).toBe('st');
    expect(location.searchParams.get('iss')).toBe(t.issuer);
  });

  test('an unregistered redirect_uri gets an error page, never a redirect', async () => {
    const url = new URL(`${t.issuer}/oidc/auth`);
    url.search = new URLSearchParams({
      client_id: 'spa', response_type: 'code', scope: 'openid', redirect_uri: 'http://127.0.0.1:9/cb/extra',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    }).toString();
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('redirect_uri');
  });

  test('PKCE is required, and plain is refused', async () => {
    const base = { client_id: 'web', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT };
    for (const extra of [{}, { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }] as Record<string, string>[]) {
      const url = new URL(`${t.issuer}/oidc/auth`);
      url.search = new URLSearchParams({ ...base, ...extra }).toString();
      const res = await fetch(url, { redirect: 'manual' });
      const location = new URL(res.headers.get('location')!);
      expect(location.searchParams.get('error')).toBe('invalid_request');
    }
  });

  test('wrong password and unknown user get the same answer', async () => {
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const answers: { status: number; body: string }[] = [];
    for (const creds of [{ username: 'alice', password: 'wrong-password' }, { username: 'nobody-here', password: 'wrong-password' }]) {
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT, scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
      });
      const agent = new UserAgent();
      const { res } = await agent.follow(await agent.get(url), url.href);
      const action = new URL((await res.text()).match(/action="([^"]*\/login)"/)![1]!, t.issuer);
      const answer = await agent.post(action, creds);
      const body = (await answer.text()).replace(/\/interaction\/[A-Za-z0-9_-]+/g, '/interaction/UID').replace(/interaction&#61;[A-Za-z0-9_-]+/g, 'interaction&#61;UID').replace(/value="[^"]*"/g, 'value=""');
      answers.push({ status: answer.status, body });
    }
    expect(answers[0]!.status).toBe(401);
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[0]!.body).toContain('The username or password is incorrect.');
  });
});
