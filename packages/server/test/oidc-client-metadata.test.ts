/**
 * Client metadata relying parties set (issue 21, item 7): ID token and
 * UserInfo signing algorithms, logo/policy/terms on the consent page,
 * default_max_age and require_auth_time. openid-client checks signatures and
 * algorithms as a real relying party does.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import * as oidc from 'openid-client';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow } from './helpers/flows.js';
import { adminApi, adminConfig, machineToken } from './helpers/admin.js';
import { CONF_SECRET, REDIRECT, USER } from './fixtures.js';

const client = (client_id: string, extra: Record<string, unknown> = {}) => ({
  client_id, client_secret: CONF_SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code'],
  token_endpoint_auth_method: 'client_secret_basic', first_party: true, ...extra,
});

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    config: adminConfig({
      clients: [
        client('es-rp', { id_token_signed_response_alg: 'ES256', userinfo_signed_response_alg: 'ES256' }),
        client('rs-userinfo', { userinfo_signed_response_alg: 'RS256' }),
        client('branded', {
          first_party: false, client_name: 'Branded App', logo_uri: 'https://cdn.example.test/logo.png',
          policy_uri: 'https://branded.example.test/privacy', tos_uri: 'https://branded.example.test/terms',
        }),
        client('fresh', { default_max_age: 1 }),
        client('timed', { require_auth_time: true }),
      ],
    }),
  });
});
afterAll(async () => {
  await t?.close();
});

const rp = (clientId: string, metadata: Partial<oidc.ClientMetadata> = {}) =>
  oidc.discovery(new URL(t.issuer), clientId, metadata, oidc.ClientSecretBasic(CONF_SECRET), { execute: [oidc.allowInsecureRequests] });

describe('signing algorithms', () => {
  test('id_token_signed_response_alg ES256: openid-client accepts the ES256 ID token it was registered for', async () => {
    const config = await rp('es-rp', { id_token_signed_response_alg: 'ES256', userinfo_signed_response_alg: 'ES256' });
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, USER, { scope: 'openid email', prompt: 'login' });
    expect(decodeProtectedHeader(tokens.id_token!).alg).toBe('ES256');
    // userinfo_signed_response_alg: the answer is a signed JWT (application/jwt), which openid-client verifies.
    const sub = decodeJwt(tokens.id_token!).sub!;
    const res = await fetch(`${t.issuer}/oidc/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(res.headers.get('content-type')).toMatch(/^application\/jwt/);
    const jwt = await res.text();
    expect(decodeProtectedHeader(jwt).alg).toBe('ES256');
    expect(decodeJwt(jwt)).toMatchObject({ sub, aud: 'es-rp', iss: t.issuer, email: 'alice@example.test' });
    const info = await oidc.fetchUserInfo(config, tokens.access_token, sub);
    expect(info).toMatchObject({ sub, email: 'alice@example.test' });
  });

  test('a relying party registered for RS256 refuses the ES256 ID token (the setting is what it says)', async () => {
    const config = await rp('es-rp', { id_token_signed_response_alg: 'RS256' });
    await expect(codeFlow(config, new UserAgent(), t.issuer, USER, { scope: 'openid', prompt: 'login' })).rejects.toMatchObject({ cause: { message: expect.stringMatching(/"alg"/) } });
  });

  test('userinfo_signed_response_alg RS256; clients without it get plain JSON', async () => {
    const config = await rp('rs-userinfo', { userinfo_signed_response_alg: 'RS256' });
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, USER, { scope: 'openid', prompt: 'login' });
    const sub = decodeJwt(tokens.id_token!).sub!;
    expect(decodeProtectedHeader(tokens.id_token!).alg).toBe('RS256');
    expect(await oidc.fetchUserInfo(config, tokens.access_token, sub)).toMatchObject({ sub });
    const plain = await codeFlow(await rp('timed'), new UserAgent(), t.issuer, USER, { scope: 'openid', prompt: 'login' });
    const res = await fetch(`${t.issuer}/oidc/me`, { headers: { authorization: `Bearer ${plain.tokens.access_token}` } });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  });

  test('discovery publishes the UserInfo signing algorithms', async () => {
    const doc = await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(doc.userinfo_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS256', 'ES256']));
    expect(doc.id_token_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS256', 'ES256']));
  });
});

describe('logo, privacy policy and terms on the consent page', () => {
  test('shown to the user, with the logo origin allowed by the page CSP', async () => {
    const config = await rp('branded');
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid email',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const agent = new UserAgent();
    let { res, url: at } = await agent.follow(await agent.get(url), url.href);
    const login = await res.text();
    const action = new URL(login.match(/action="([^"]*\/login)"/)![1]!, t.issuer);
    ({ res, url: at } = await agent.follow(await agent.post(action, USER), action.href));
    expect(at).toMatch(/\/interaction\//);
    const html = await res.text();
    expect(html).toContain('<img class="client-logo" src="https://cdn.example.test/logo.png" alt="Logo of Branded App"');
    expect(html).toContain('href="https://branded.example.test/privacy" target="_blank" rel="noopener noreferrer">Privacy policy</a>');
    expect(html).toContain('href="https://branded.example.test/terms" target="_blank" rel="noopener noreferrer">Terms of service</a>');
    expect(res.headers.get('content-security-policy')).toContain("img-src 'self' data: https://cdn.example.test");
  });

  test('a client without them shows none, and the CSP stays as it was', async () => {
    const config = await rp('web');
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid profile', prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const agent = new UserAgent();
    let { res } = await agent.follow(await agent.get(url), url.href);
    const action = new URL((await res.text()).match(/action="([^"]*\/login)"/)![1]!, t.issuer);
    ({ res } = await agent.follow(await agent.post(action, USER), action.href));
    const html = await res.text();
    expect(html).toContain('/confirm');
    expect(html).not.toContain('client-logo');
    expect(html).not.toContain('client-links');
    expect(res.headers.get('content-security-policy')).toContain("img-src 'self' data:;");
  });
});

describe('default_max_age and require_auth_time', () => {
  test('require_auth_time: every ID token carries auth_time', async () => {
    const config = await rp('timed');
    const agent = new UserAgent();
    const { tokens } = await codeFlow(config, agent, t.issuer, USER, { scope: 'openid', prompt: '' });
    expect(typeof decodeJwt(tokens.id_token!).auth_time).toBe('number');
  });

  test('default_max_age: an older sign-in asks for the password again; the ID token carries auth_time', async () => {
    const config = await rp('fresh');
    const agent = new UserAgent();
    const first = await codeFlow(config, agent, t.issuer, USER, { scope: 'openid', prompt: '' }, { maxAge: 1 });
    const authTime = decodeJwt(first.tokens.id_token!).auth_time as number;
    expect(typeof authTime).toBe('number');
    await sleep(2100);
    // Same browser, same session: without default_max_age no page would be shown.
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const { res } = await agent.follow(await agent.get(url), url.href);
    expect(await res.text()).toContain('autocomplete="current-password"');
  });
});

describe('admin API', () => {
  test('the fields are read and written; bad values are 400 naming the field', async () => {
    const api = adminApi(t.issuer);
    const token = await machineToken(t.issuer, 'ops-bot');
    const created = await api('POST', '/clients', {
      token, body: {
        client_id: 'meta-rp', redirect_uris: [REDIRECT], id_token_signed_response_alg: 'ES256', userinfo_signed_response_alg: 'RS256',
        logo_uri: 'https://cdn.example.test/l.png', policy_uri: 'https://x.example.test/p', tos_uri: 'https://x.example.test/t',
        default_max_age: 3600, require_auth_time: true,
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id_token_signed_response_alg: 'ES256', userinfo_signed_response_alg: 'RS256', logo_uri: 'https://cdn.example.test/l.png',
      policy_uri: 'https://x.example.test/p', tos_uri: 'https://x.example.test/t', default_max_age: 3600, require_auth_time: true,
    });
    const bad = await api('POST', '/clients', {
      token, body: { client_id: 'meta-bad', redirect_uris: [REDIRECT], id_token_signed_response_alg: 'HS256', logo_uri: 'javascript:alert(1)', default_max_age: -1 },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.fields).toEqual({ id_token_signed_response_alg: 'invalid', logo_uri: 'invalid', default_max_age: 'too_small' });
  });
});
