import { createHmac } from 'node:crypto';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockProviders, type MockProviders } from '../src/index.js';
import { Browser, redirectUriFor, RP } from './helpers.js';

let mock: MockProviders;
let config: oidc.Configuration;
const redirectUri = redirectUriFor('facebook');

beforeAll(async () => {
  mock = await startMockProviders({ port: 0, tesseraUrl: RP, slowMs: 1500 });
  const fb = mock.providers.facebook;
  // OAuth 2.0 only: the relying party is configured with explicit endpoints, as for Facebook.
  config = new oidc.Configuration(
    { issuer: fb.issuer, authorization_endpoint: fb.authorizationEndpoint, token_endpoint: fb.tokenEndpoint },
    fb.clientId, undefined, oidc.ClientSecretPost(fb.clientSecret),
  );
  oidc.allowInsecureRequests(config);
});
afterAll(async () => {
  await mock?.close();
});

const proof = (token: string, secret = mock.providers.facebook.clientSecret) => createHmac('sha256', secret).update(token).digest('hex');

async function login(hint: string, scope = 'email public_profile'): Promise<{ callback: URL; verifier: string; state: string }> {
  const state = oidc.randomState();
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope, state, login_hint: hint,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const out = await new Browser().run(url, redirectUri);
  if (!out.callback) throw new Error(`no callback: ${out.page?.status}`);
  return { callback: out.callback, verifier, state };
}

async function token(hint: string, scope?: string): Promise<string> {
  const { callback, verifier, state } = await login(hint, scope);
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
  expect(tokens.id_token).toBeUndefined();
  return tokens.access_token;
}

async function me(accessToken: string, params: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const url = new URL(mock.providers.facebook.profileEndpoint!);
  url.search = new URLSearchParams({ access_token: accessToken, ...params }).toString();
  const res = await fetch(url);
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

describe('mock Facebook (OAuth 2.0 + Graph /me)', () => {
  it('ok: code for a token (no ID token), then /me with appsecret_proof gives the fields asked for', async () => {
    const at = await token('alice:ok');
    const { status, body } = await me(at, { fields: 'id,name,email,first_name,last_name,picture', appsecret_proof: proof(at) });
    expect(status).toBe(200);
    expect(body).toMatchObject({ name: 'Alice Anders', email: 'alice@example.com', first_name: 'Alice', last_name: 'Anders' });
    expect(body.id).toMatch(/^\d{16}$/);
    expect(body).not.toHaveProperty('email_verified');
    expect((body.picture as { data: { url: string } }).data.url).toContain('alice');
    // The versioned Graph path answers the same.
    const v = await fetch(`${mock.url}/facebook/v19.0/me?fields=id&access_token=${at}&appsecret_proof=${proof(at)}`);
    expect((await v.json() as { id: string }).id).toBe(body.id);
  });

  it('appsecret_proof is required and checked; bad tokens get code 190', async () => {
    const at = await token('bob:ok');
    const missing = await me(at);
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ error: { code: 100, type: 'GraphMethodException', message: expect.stringContaining('appsecret_proof') } });
    const wrong = await me(at, { appsecret_proof: proof(at, 'not-the-secret') });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatchObject({ error: { code: 100, message: expect.stringContaining('Invalid appsecret_proof') } });
    const bad = await me('not-a-token', { appsecret_proof: proof('not-a-token') });
    expect(bad.body).toMatchObject({ error: { code: 190, type: 'OAuthException' } });
    // Bearer header works as well as the access_token parameter.
    const res = await fetch(`${mock.providers.facebook.profileEndpoint}?appsecret_proof=${proof(at)}`, { headers: { authorization: `Bearer ${at}` } });
    expect(res.status).toBe(200);
  });

  it('email needs the email permission', async () => {
    const at = await token('alice:ok', 'public_profile');
    const { body } = await me(at, { fields: 'id,name,email', appsecret_proof: proof(at) });
    expect(body.name).toBe('Alice Anders');
    expect(body).not.toHaveProperty('email');
  });

  it('missing_email: /me has no email; duplicate: the local email under a fresh id', async () => {
    const a = await token('carol:missing_email');
    expect((await me(a, { fields: 'id,email', appsecret_proof: proof(a) })).body).not.toHaveProperty('email');
    const ok = await token('carol:ok');
    const d = await token('carol:duplicate');
    const okMe = (await me(ok, { fields: 'id,email', appsecret_proof: proof(ok) })).body;
    const dupMe = (await me(d, { fields: 'id,email', appsecret_proof: proof(d) })).body;
    expect(dupMe.email).toBe(mock.localEmail);
    expect(dupMe.id).not.toBe(okMe.id);
  });

  it('deny gives error=access_denied; wrong_issuer answers with another iss (RFC 9207 mix-up)', async () => {
    const denied = await login('alice:deny');
    expect(denied.callback.searchParams.get('error')).toBe('access_denied');
    await expect(oidc.authorizationCodeGrant(config, denied.callback, { expectedState: denied.state })).rejects.toMatchObject({ error: 'access_denied' });
    const mixed = await login('alice:wrong_issuer');
    expect(mixed.callback.searchParams.get('iss')).not.toBe(mock.providers.facebook.issuer);
    await expect(oidc.authorizationCodeGrant(config, mixed.callback, { pkceCodeVerifier: mixed.verifier, expectedState: mixed.state }))
      .rejects.toMatchObject({ code: 'OAUTH_INVALID_RESPONSE', cause: { message: expect.stringContaining('"iss" (issuer) response parameter') } });
  });

  it('slow: the token endpoint and /me answer only after slowMs', async () => {
    const impatient = new oidc.Configuration(config.serverMetadata(), mock.providers.facebook.clientId, undefined, oidc.ClientSecretPost(mock.providers.facebook.clientSecret));
    oidc.allowInsecureRequests(impatient);
    impatient[oidc.customFetch] = (url, options) => fetch(url, { ...options, signal: AbortSignal.timeout(400) } as RequestInit);
    const { callback, verifier, state } = await login('bob:slow');
    await expect(oidc.authorizationCodeGrant(impatient, callback, { pkceCodeVerifier: verifier, expectedState: state })).rejects.toThrow(/timed out|abort/i);
    const at = await token('bob:slow');
    const url = `${mock.providers.facebook.profileEndpoint}?access_token=${at}&appsecret_proof=${proof(at)}`;
    await expect(fetch(url, { signal: AbortSignal.timeout(400) })).rejects.toThrow(/timed out|abort/i);
  });

  it('is OAuth 2.0 only: the openid scope is refused, no discovery, no JWKS; its scenarios exclude ID token ones', async () => {
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'openid email', state: 's' });
    const out = await new Browser().run(url, redirectUri);
    expect(out.page!.status).toBe(400);
    expect(await out.page!.text()).toContain('OAuth 2.0 only');
    expect((await fetch(`${mock.providers.facebook.issuer}/.well-known/openid-configuration`)).status).toBe(404);
    expect((await fetch(`${mock.providers.facebook.issuer}/jwks`)).status).toBe(404);
    for (const s of ['bad_signature', 'unverified_email']) {
      const u = oidc.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'email', state: 's', login_hint: `alice:${s}` });
      const page = (await new Browser().run(u, redirectUri)).page!;
      expect(page.status).toBe(400);
    }
  });
});
