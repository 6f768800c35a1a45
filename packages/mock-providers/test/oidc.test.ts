import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockProviders, type MockProviders } from '../src/index.js';
import { Browser, decodeHeader, decodePayload, redirectUriFor, rpFor, RP, signIn } from './helpers.js';

let mock: MockProviders;
const LOCAL = 'someone.local@example.com';

beforeAll(async () => {
  mock = await startMockProviders({ port: 0, tesseraUrl: RP, slowMs: 1500, localEmail: LOCAL });
});
afterAll(async () => {
  await mock?.close();
});

const jwks = (name: 'google' | 'entra' | 'keycloak') => createRemoteJWKSet(new URL(mock.providers[name].jwksUri!));

describe.each(['google', 'entra', 'keycloak'] as const)('%s: discovery and the ok scenario', (name) => {
  it('publishes discovery with its own issuer, a JWKS and the endpoints', async () => {
    const res = await fetch(mock.providers[name].discoveryUrl!);
    expect(res.status).toBe(200);
    const meta = await res.json() as Record<string, unknown>;
    expect(meta.issuer).toBe(`${mock.url}/${name}`);
    expect(meta.jwks_uri).toBe(mock.providers[name].jwksUri);
    expect(meta.token_endpoint).toBe(mock.providers[name].tokenEndpoint);
    expect(meta.authorization_response_iss_parameter_supported).toBe(true);
    const keys = (await (await fetch(mock.providers[name].jwksUri!)).json() as { keys: Record<string, unknown>[] }).keys;
    expect(keys.length).toBe(1);
    expect(keys[0]).not.toHaveProperty('d'); // public part only
  });

  it('ok: openid-client validates the ID token (signature, iss, aud, nonce) and userinfo answers', async () => {
    const config = await rpFor(mock, name);
    const trip = await signIn(mock, config, name, { hint: 'alice:ok' });
    expect(trip.callback.searchParams.get('iss')).toBe(mock.providers[name].issuer);
    const tokens = await trip.finish();
    const claims = tokens.claims()!;
    expect(claims.iss).toBe(mock.providers[name].issuer);
    expect(claims.aud).toBe('tessera');
    expect(claims.email).toBe('alice@example.com');
    expect(claims.email_verified).toBe(true);
    expect(claims.name).toBe('Alice Anders');
    const { payload } = await jwtVerify(tokens.id_token!, jwks(name), { issuer: mock.providers[name].issuer, audience: 'tessera' });
    expect(payload.sub).toBe(claims.sub);
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(info.email).toBe('alice@example.com');
    expect(mock.emitted.at(-1)).toMatchObject({ mock: name, persona: 'alice', scenario: 'ok', sub: claims.sub });
  });
});

describe('provider-specific claims', () => {
  it('entra: tid, oid, groups and amr with mfa for a persona with MFA', async () => {
    const tokens = await (await signIn(mock, await rpFor(mock, 'entra'), 'entra', { hint: 'alice' })).finish();
    const c = tokens.claims()!;
    expect(c.tid).toBe('acme');
    expect(c.oid).toMatch(/^[0-9a-f-]{36}$/);
    expect(c.groups).toEqual(['staff', 'admins']);
    expect(c.amr).toEqual(['pwd', 'mfa']);
  });

  it('keycloak: groups, and amr without mfa for a persona without MFA', async () => {
    const tokens = await (await signIn(mock, await rpFor(mock, 'keycloak'), 'keycloak', { hint: 'bob:ok' })).finish();
    const c = tokens.claims()!;
    expect(c.groups).toEqual(['staff']);
    expect(c.amr).toEqual(['pwd']);
    expect(c.preferred_username).toBe('bob');
    expect(c.sub).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4/);
  });

  it('google: hd and no groups; the subject is stable across sign-ins', async () => {
    const config = await rpFor(mock, 'google');
    const a = (await (await signIn(mock, config, 'google', { hint: 'alice:ok' })).finish()).claims()!;
    const b = (await (await signIn(mock, config, 'google', { hint: 'alice@example.com' })).finish()).claims()!;
    expect(a.hd).toBe('example.com');
    expect(a).not.toHaveProperty('groups');
    expect(a.sub).toMatch(/^\d{21}$/);
    expect(b.sub).toBe(a.sub);
  });
});

describe('scenarios on the wire', () => {
  it('deny: the client gets error=access_denied with state and iss, and openid-client raises it', async () => {
    const config = await rpFor(mock, 'entra');
    const trip = await signIn(mock, config, 'entra', { hint: 'alice:deny' });
    expect(trip.callback.searchParams.get('error')).toBe('access_denied');
    expect(trip.callback.searchParams.get('code')).toBeNull();
    expect(trip.callback.searchParams.get('iss')).toBe(mock.providers.entra.issuer);
    await expect(trip.finish()).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('missing_email: no email in the ID token nor in userinfo', async () => {
    const config = await rpFor(mock, 'google');
    const tokens = await (await signIn(mock, config, 'google', { hint: 'bob:missing_email' })).finish();
    const c = tokens.claims()!;
    expect(c).not.toHaveProperty('email');
    expect(c).not.toHaveProperty('email_verified');
    const info = await oidc.fetchUserInfo(config, tokens.access_token, c.sub);
    expect(info).not.toHaveProperty('email');
    expect(info.name).toBe('Bob Brown');
  });

  it('unverified_email: email_verified is false', async () => {
    const c = (await (await signIn(mock, await rpFor(mock, 'keycloak'), 'keycloak', { hint: 'alice:unverified_email' })).finish()).claims()!;
    expect(c.email).toBe('alice@example.com');
    expect(c.email_verified).toBe(false);
  });

  it('duplicate: the local account email, verified, under a fresh subject every time', async () => {
    const config = await rpFor(mock, 'google');
    const ok = (await (await signIn(mock, config, 'google', { hint: 'bob:ok' })).finish()).claims()!;
    const d1 = (await (await signIn(mock, config, 'google', { hint: 'bob:duplicate' })).finish()).claims()!;
    const d2 = (await (await signIn(mock, config, 'google', { hint: 'bob:duplicate' })).finish()).claims()!;
    expect(d1.email).toBe(LOCAL);
    expect(d1.email_verified).toBe(true);
    expect(new Set([ok.sub, d1.sub, d2.sub]).size).toBe(3);
  });

  it('link_required: the local account email, verified, under the persona\'s stable subject', async () => {
    const config = await rpFor(mock, 'entra');
    const ok = (await (await signIn(mock, config, 'entra', { hint: 'carol:ok' })).finish()).claims()!;
    const l = (await (await signIn(mock, config, 'entra', { hint: 'carol:link_required' })).finish()).claims()!;
    expect(l.email).toBe(LOCAL);
    expect(l.email_verified).toBe(true);
    expect(l.sub).toBe(ok.sub);
  });

  it('stale_group: the groups of the next sign-in have shrunk (stale_groups, else the last group)', async () => {
    const config = await rpFor(mock, 'keycloak');
    const carol = (await (await signIn(mock, config, 'keycloak', { hint: 'carol:ok' })).finish()).claims()!;
    const carolStale = (await (await signIn(mock, config, 'keycloak', { hint: 'carol:stale_group' })).finish()).claims()!;
    expect(carol.groups).toEqual(['sales', 'managers']);
    expect(carolStale.groups).toEqual(['sales']);
    expect(carolStale.sub).toBe(carol.sub);
    const alice = (await (await signIn(mock, config, 'keycloak', { hint: 'alice:stale_group' })).finish()).claims()!;
    expect(alice.groups).toEqual(['staff']);
  });

  it('slow: the token endpoint answers only after slowMs, so a client with a shorter timeout gives up', async () => {
    const impatient = await rpFor(mock, 'google', 400);
    const trip = await signIn(mock, impatient, 'google', { hint: 'alice:slow' });
    await expect(trip.finish()).rejects.toThrow(/timed out|abort/i);
    // The same client is fine with a scenario that answers at once.
    const fine = await (await signIn(mock, impatient, 'google', { hint: 'alice:ok' })).finish();
    expect(fine.claims()!.email).toBe('alice@example.com');
  });

  it('slow: userinfo is slow too for a sign-in under that scenario', async () => {
    const patient = await rpFor(mock, 'entra');
    const tokens = await (await signIn(mock, patient, 'entra', { hint: 'bob:slow' })).finish();
    const impatient = await rpFor(mock, 'entra', 400);
    await expect(oidc.fetchUserInfo(impatient, tokens.access_token, tokens.claims()!.sub)).rejects.toThrow(/timed out|abort/i);
  });

  it('bad_signature: the ID token is signed by a key that is not in the JWKS', async () => {
    const config = await rpFor(mock, 'google');
    const trip = await signIn(mock, config, 'google', { hint: 'alice:bad_signature' });
    await expect(trip.finish()).rejects.toThrow(/key|signature/i);

    // Seen without openid-client: the claims are intact, only the key is foreign.
    const raw = await tokenResponse('google', 'alice:bad_signature');
    const published = (await (await fetch(mock.providers.google.jwksUri!)).json() as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    expect(published).not.toContain(decodeHeader(raw.id_token).kid);
    expect(decodePayload(raw.id_token)).toMatchObject({ iss: mock.providers.google.issuer, aud: 'tessera', email: 'alice@example.com' });
    await expect(jwtVerify(raw.id_token, jwks('google'))).rejects.toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
  });

  it('wrong_issuer: a validly signed ID token whose iss is another issuer', async () => {
    const config = await rpFor(mock, 'keycloak');
    const trip = await signIn(mock, config, 'keycloak', { hint: 'alice:wrong_issuer' });
    expect(trip.callback.searchParams.get('iss')).toBe(mock.providers.keycloak.issuer);
    await expect(trip.finish()).rejects.toMatchObject({ code: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' });

    const raw = await tokenResponse('keycloak', 'alice:wrong_issuer');
    const { payload } = await jwtVerify(raw.id_token, jwks('keycloak')); // the signature is good
    expect(payload.iss).not.toBe(mock.providers.keycloak.issuer);
    expect(Object.values(mock.providers).map((p) => p.issuer)).toContain(payload.iss);
  });
});

describe('choosing persona and scenario', () => {
  it('without a hint the picker page shows the personas, under a strict CSP, and its form signs in', async () => {
    const config = await rpFor(mock, 'google');
    const trip = await signIn(mock, config, 'google', { form: { persona: 'carol', scenario: 'missing_email' } });
    expect(trip.picker).toContain('Carol Chen');
    expect(trip.picker).toContain('name="scenario"');
    expect(trip.picker).not.toContain('<script');
    const c = (await trip.finish()).claims()!;
    expect(c.name).toBe('Carol Chen');
    expect(c).not.toHaveProperty('email');
  });

  it('the picker page carries a strict CSP that lets its form reach the client', async () => {
    const b = new Browser();
    const res = await b.fetch(authUrl('entra'));
    const page = await b.fetch(new URL(res.headers.get('location')!, mock.url));
    expect(page.status).toBe(200);
    const policy = page.headers.get('content-security-policy')!;
    expect(policy).toContain("default-src 'none'");
    expect(policy).not.toMatch(/unsafe|script-src/);
    expect(policy).toContain(`form-action 'self' ${RP}`);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
  });

  it('the picker\'s cancel button denies', async () => {
    const trip = await signIn(mock, await rpFor(mock, 'google'), 'google', { form: { cancel: '1' } });
    expect(trip.callback.searchParams.get('error')).toBe('access_denied');
  });

  it('nextSignIn queues a choice for the next interaction of that mock', async () => {
    mock.nextSignIn('keycloak', 'carol', 'stale_group');
    const c = (await (await signIn(mock, await rpFor(mock, 'keycloak'), 'keycloak', {})).finish()).claims()!;
    expect(c.groups).toEqual(['sales']);
  });

  it('an unknown persona or scenario in login_hint is a 400 page at the mock, not a redirect', async () => {
    for (const hint of ['nobody:ok', 'alice:explode']) {
      const out = await new Browser().run(authUrl('google', { login_hint: hint }), redirectUriFor('google'));
      expect(out.callback).toBeUndefined();
      expect(out.page!.status).toBe(400);
      expect(await out.page!.text()).toMatch(hint.startsWith('nobody') ? /no persona/ : /not one of this mock/);
    }
  });

  it('a login_hint that names no persona (an email from the client) just shows the picker', async () => {
    const out = await new Browser().run(authUrl('google', { login_hint: 'stranger@example.com' }), redirectUriFor('google'));
    expect(out.page!.status).toBe(200);
    expect(await out.page!.text()).toContain('Alice Anders');
  });

  it('a redirect_uri that is not registered is refused at the mock (exact match)', async () => {
    const out = await new Browser().run(authUrl('google', { redirect_uri: `${RP}/federation/google/callback/extra` }), RP);
    expect(out.callback).toBeUndefined();
    expect(out.page!.status).toBe(400);
    expect(await out.page!.text()).toContain('redirect_uri');
  });

  it('registerClient and addRedirectUri take effect at once (Tessera started after the mock)', async () => {
    mock.registerClient('entra', { client_id: 'late', client_secret: 'late-secret-1', redirect_uris: ['http://late.example/cb'] });
    mock.addRedirectUri('entra', 'http://late.example/cb2', 'late');
    const config = await oidc.discovery(new URL(mock.providers.entra.issuer), 'late', 'late-secret-1', undefined, { execute: [oidc.allowInsecureRequests] });
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: 'http://late.example/cb2', scope: 'openid', login_hint: 'bob', state: 's' });
    const out = await new Browser().run(url, 'http://late.example/cb2');
    const tokens = await oidc.authorizationCodeGrant(config, out.callback!, { expectedState: 's' });
    expect(tokens.claims()!.aud).toBe('late');
  });
});

function authUrl(name: 'google' | 'entra' | 'keycloak', extra: Record<string, string> = {}): URL {
  const u = new URL(mock.providers[name].authorizationEndpoint);
  u.search = new URLSearchParams({
    client_id: 'tessera', redirect_uri: redirectUriFor(name), response_type: 'code', scope: 'openid email', state: 'st', nonce: 'nn', ...extra,
  }).toString();
  return u;
}

/** A raw token response (no client-side validation), to look at what the mock emitted. */
async function tokenResponse(name: 'google' | 'entra' | 'keycloak', hint: string): Promise<{ id_token: string }> {
  const out = await new Browser().run(authUrl(name, { login_hint: hint }), redirectUriFor(name));
  const res = await fetch(mock.providers[name].tokenEndpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from('tessera:tessera-mock-secret').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: out.callback!.searchParams.get('code')!, redirect_uri: redirectUriFor(name) }),
  });
  expect(res.status).toBe(200);
  return await res.json() as { id_token: string };
}
