/**
 * Pushed authorization requests (RFC 9126) and DPoP (RFC 9449), issue 21,
 * with openid-client (which implements both) as the relying party: PAR
 * flows, a client that must push, DPoP-bound access and refresh tokens, a
 * replayed proof, a proof made with another key, a client whose tokens must be
 * bound, and discovery advertising both.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { calculateJwkThumbprint, decodeJwt, exportJWK } from 'jose';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { discover, signInThrough } from './helpers/flows.js';
import { API, APP_SCOPE, CONF_SECRET, REDIRECT, SERVICE_SECRET, USER, baseConfig } from './fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      clients: [
        ...baseConfig.clients,
        {
          client_id: 'par-only', client_secret: CONF_SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
          first_party: true, scope: APP_SCOPE, require_pushed_authorization_requests: true,
        },
        {
          client_id: 'dpop-only', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
          first_party: true, scope: APP_SCOPE, dpop_bound_access_tokens: true,
        },
      ],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

type Tokens = Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;

/** A code flow driven through the hosted pages; PAR and DPoP as asked. */
async function flow(config: oidc.Configuration, opts: { par?: boolean; dpop?: oidc.DPoPHandle; params?: Record<string, string> } = {}): Promise<Tokens> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const params = {
    redirect_uri: REDIRECT, scope: 'openid offline_access', state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...opts.params,
  };
  const url = opts.par ? await oidc.buildAuthorizationUrlWithPAR(config, params, { DPoP: opts.dpop }) : oidc.buildAuthorizationUrl(config, params);
  const callback = await signInThrough(new UserAgent(), url, t.issuer, USER);
  return oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP: opts.dpop });
}

async function errorOf(p: Promise<unknown>): Promise<{ error?: string; error_description?: string; status?: number }> {
  try {
    await p;
    return {};
  } catch (err) {
    const e = err as { error?: string; error_description?: string; status?: number; cause?: unknown };
    if (e.error) return { error: e.error, error_description: e.error_description, status: e.status };
    // openid-client's WWWAuthenticateChallengeError: the challenge parameters are in cause.
    const challenge = (e.cause as { parameters?: Record<string, string> }[] | undefined)?.[0]?.parameters;
    return { error: challenge?.error, error_description: challenge?.error_description, status: e.status };
  }
}

const thumbprintOf = async (keys: CryptoKeyPair) => calculateJwkThumbprint(await exportJWK(keys.publicKey));

describe('discovery', () => {
  test('advertises PAR and DPoP, and nothing that is off', async () => {
    const meta = await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(meta.pushed_authorization_request_endpoint).toBe(`${t.issuer}/oidc/request`);
    expect(meta.require_pushed_authorization_requests).toBeUndefined(); // per client, not for every client
    expect(meta.dpop_signing_alg_values_supported).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256']);
    expect(meta).not.toHaveProperty('registration_endpoint');
  });
});

describe('pushed authorization requests (RFC 9126)', () => {
  test('openid-client pushes the request; the browser sees only request_uri; the code flow completes', async () => {
    const config = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET });
    const url = await oidc.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    const tokens = await flow(await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET }), { par: true });
    expect(tokens.claims()!.sub).toBeTruthy();
  });

  test('a request_uri is single use', async () => {
    const config = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET });
    const url = await oidc.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    await signInThrough(new UserAgent(), url, t.issuer, USER);
    const again = await new UserAgent().get(url);
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('invalid_request_uri');
  });

  test('PAR authenticates the client and checks the redirect URI before anything is stored', async () => {
    const wrongSecret = await discover(t.issuer, { clientId: 'web', clientSecret: `${CONF_SECRET}x` });
    expect((await errorOf(oidc.buildAuthorizationUrlWithPAR(wrongSecret, { redirect_uri: REDIRECT, scope: 'openid' }))).error).toBe('invalid_client');
    const config = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET });
    const bad = await errorOf(oidc.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: 'http://127.0.0.1:9/elsewhere', scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    }));
    expect(bad.error).toBe('invalid_request');
    expect(bad.error_description).toMatch(/redirect_uri/);
  });

  test('require_pushed_authorization_requests: a plain request is refused, a pushed one works', async () => {
    const config = await discover(t.issuer, { clientId: 'par-only', clientSecret: CONF_SECRET });
    const plain = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const res = await new UserAgent().get(plain);
    expect(res.status).toBe(303);
    const back = new URL(res.headers.get('location')!);
    expect(back.origin + back.pathname).toBe(REDIRECT);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/Pushed Authorization Request must be used/);
    const tokens = await flow(config, { par: true });
    expect(tokens.access_token).toBeTruthy();
  });
});

describe('DPoP (RFC 9449)', () => {
  test('code flow with PAR and DPoP: token_type DPoP, the JWT access token carries cnf.jkt, UserInfo needs the proof', async () => {
    const config = await discover(t.issuer, { clientId: 'spa' });
    const keys = await oidc.randomDPoPKeyPair();
    const dpop = oidc.getDPoPHandle(config, keys);
    const tokens = await flow(config, { par: true, dpop, params: { resource: API, scope: 'openid offline_access read' } });
    expect(tokens.token_type).toBe('dpop');
    expect((decodeJwt(tokens.access_token).cnf as { jkt?: string }).jkt).toBe(await thumbprintOf(keys));

    // UserInfo takes the token issued without a resource.
    const plain = await flow(config, { dpop });
    const sub = plain.claims()!.sub;
    expect((await oidc.fetchUserInfo(config, plain.access_token, sub, { DPoP: dpop })).sub).toBe(sub);
    // The same token as a bearer token, or with a proof from another key, is refused.
    const asBearer = await fetch(`${t.issuer}/oidc/me`, { headers: { authorization: `Bearer ${plain.access_token}` } });
    expect(asBearer.status).toBe(401);
    const other = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair());
    const wrongKey = await errorOf(oidc.fetchUserInfo(config, plain.access_token, sub, { DPoP: other }));
    expect(wrongKey.error).toBe('invalid_token');
  });

  test('a public client\'s refresh token is bound to the key: refreshing with another key fails, with the same key it works', async () => {
    const config = await discover(t.issuer, { clientId: 'spa' });
    const keys = await oidc.randomDPoPKeyPair();
    const tokens = await flow(config, { dpop: oidc.getDPoPHandle(config, keys) });
    const other = await errorOf(oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair()) }));
    expect(other.error).toBe('invalid_grant');
    const without = await errorOf(oidc.refreshTokenGrant(config, tokens.refresh_token!));
    expect(without.error).toBe('invalid_grant');
    const next = await oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: oidc.getDPoPHandle(config, keys) });
    expect(next.token_type).toBe('dpop');
  });

  test('a replayed proof is refused (client credentials, the proof captured off the wire)', async () => {
    const config = await discover(t.issuer, { clientId: 'service', clientSecret: SERVICE_SECRET });
    let sent: { url: string; headers: Headers; body: string } | undefined;
    config[oidc.customFetch] = async (url, options) => {
      sent = { url, headers: new Headers(options.headers), body: String(options.body) };
      return fetch(url, options as RequestInit);
    };
    const keys = await oidc.randomDPoPKeyPair();
    const first = await oidc.clientCredentialsGrant(config, { resource: API, scope: 'read' }, { DPoP: oidc.getDPoPHandle(config, keys) });
    expect(first.token_type).toBe('dpop');
    expect((decodeJwt(first.access_token).cnf as { jkt?: string }).jkt).toBe(await thumbprintOf(keys));
    expect(sent!.headers.get('dpop')).toBeTruthy();
    const replay = await fetch(sent!.url, { method: 'POST', headers: sent!.headers, body: sent!.body });
    expect(replay.status).toBe(400);
    const answer = await replay.json() as { error: string; error_description: string };
    // The same request with the same proof: only the proof's reuse differs from the first, accepted one.
    expect(answer.error).toBe('invalid_grant');
  });

  test('a proof for another request (other URL) or a malformed proof is refused', async () => {
    const config = await discover(t.issuer, { clientId: 'service', clientSecret: SERVICE_SECRET });
    let proof = '';
    config[oidc.customFetch] = async (url, options) => {
      proof = new Headers(options.headers).get('dpop') ?? '';
      return fetch(url, options as RequestInit);
    };
    await oidc.clientCredentialsGrant(config, { resource: API, scope: 'read' }, { DPoP: oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair()) });
    const auth = `Basic ${Buffer.from(`service:${SERVICE_SECRET}`).toString('base64')}`;
    const introspection = await fetch(`${t.issuer}/oidc/token/introspection`, {
      method: 'POST', headers: { authorization: auth, dpop: proof, 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=x',
    });
    expect(introspection.status).toBe(200); // introspection does not take DPoP: the header is ignored there
    const garbage = await fetch(`${t.issuer}/oidc/token`, {
      method: 'POST', headers: { authorization: auth, dpop: 'not-a-jwt', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: 'read' }),
    });
    expect(garbage.status).toBe(400);
    expect((await garbage.json() as { error: string }).error).toBe('invalid_dpop_proof');
  });

  test('dpop_bound_access_tokens: without a proof the token request is refused; with one the tokens are bound', async () => {
    const config = await discover(t.issuer, { clientId: 'dpop-only' });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = await signInThrough(new UserAgent(), url, t.issuer, USER);
    const refused = await errorOf(oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier }));
    expect(refused.error).toBe('invalid_grant');
    const tokens = await flow(config, { dpop: oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair()) });
    expect(tokens.token_type).toBe('dpop');
  });
});
