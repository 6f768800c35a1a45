import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { freePort, startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, formAction, hiddenField } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { baseConfig, CONF_SECRET, REDIRECT, USER } from './fixtures.js';

let t: TestApp;
let rpServer: Server;
let rpPort: number;
const received: string[] = [];

beforeAll(async () => {
  // A relying party's back-channel endpoint: records the logout tokens it receives.
  rpPort = await freePort();
  rpServer = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push(body);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => rpServer.listen(rpPort, '127.0.0.1', r));
  t = await startTestApp({
    env: { TESSERA_OUTBOUND_PRIVATE_HOSTS: '127.0.0.1' },
    config: {
      ...baseConfig,
      clients: [
        ...baseConfig.clients,
        {
          client_id: 'bcl', client_secret: CONF_SECRET, redirect_uris: [REDIRECT], first_party: true,
          post_logout_redirect_uris: ['http://127.0.0.1:9/bye'],
          backchannel_logout_uri: `http://127.0.0.1:${rpPort}/backchannel`, backchannel_logout_session_required: true,
        },
      ],
    },
  });
});
afterAll(async () => {
  await t?.close();
  await new Promise((r) => rpServer?.close(r));
});

/**
 * Follows an end-session URL through the page the platform shows: the
 * confirmation, the self-submitting sign-out of a valid id_token_hint
 * (rp-compat.ts), or the engine's self-submitting form when there is no session.
 */
async function logout(agent: UserAgent, url: URL, expectPage: 'confirm' | 'auto' | 'none' = 'auto'): Promise<Response> {
  const page = await agent.get(url);
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html.includes('Sign out?')).toBe(expectPage === 'confirm');
  expect(html.includes('Signing you out')).toBe(expectPage === 'auto');
  const action = new URL(formAction(html, '/session/end'), t.issuer);
  return agent.post(action, { xsrf: hiddenField(html, 'xsrf')!, logout: 'yes' });
}

describe('RP-initiated logout', () => {
  test('redirects to the registered post_logout_redirect_uri with state, and ends the session', async () => {
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const agent = new UserAgent();
    const { tokens } = await codeFlow(config, agent, t.issuer, USER);
    const url = oidc.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://127.0.0.1:9/after-logout', state: 'bye-state',
    });
    const res = await logout(agent, url);
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!, t.issuer);
    expect(location.origin + location.pathname).toBe('http://127.0.0.1:9/after-logout');
    expect(location.searchParams.get('state')).toBe('bye-state');

    // The session is gone: prompt=none now answers login_required.
    const again = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid', prompt: 'none',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const { url: landed } = await agent.follow(await agent.get(again), again.href);
    expect(new URL(landed).searchParams.get('error')).toBe('login_required');
  });

  test('an unregistered post_logout_redirect_uri gets an error page, not a redirect', async () => {
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const agent = new UserAgent();
    const { tokens } = await codeFlow(config, agent, t.issuer, USER);
    const url = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://evil.example/steal', state: 'x' });
    const res = await agent.get(url);
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('post_logout_redirect_uri');
  });

  test('without a session or a redirect URI, logout ends on the signed-out page', async () => {
    const agent = new UserAgent();
    const res = await logout(agent, new URL(`${t.issuer}/oidc/session/end`), 'none');
    const { res: final } = await agent.follow(res, `${t.issuer}/oidc/session/end`);
    expect(final.status).toBe(200);
    expect(await final.text()).toContain('You are signed out');
  });
});

describe('back-channel logout', () => {
  test('the client registered for it receives a signed logout token', async () => {
    received.length = 0;
    const config = await discover(t.issuer, { clientId: 'bcl', clientSecret: CONF_SECRET, auth: 'basic' });
    const agent = new UserAgent();
    const { tokens } = await codeFlow(config, agent, t.issuer, USER);
    const idClaims = tokens.claims()!;
    const res = await logout(agent, oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://127.0.0.1:9/bye' }));
    expect(res.status).toBe(303);
    for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(received).toHaveLength(1);
    const logoutToken = new URLSearchParams(received[0]).get('logout_token')!;
    const { payload } = await jwtVerify(logoutToken, createRemoteJWKSet(new URL(`${t.issuer}/oidc/jwks`)), { issuer: t.issuer, audience: 'bcl' });
    expect(payload.sub).toBe(idClaims.sub);
    expect(payload.sid).toBe(idClaims.sid);
    expect(payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
    expect(payload.nonce).toBeUndefined();
  });
});
