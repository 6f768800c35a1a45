import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockProviders, type MockProviders } from '../src/index.js';
import { Browser } from './helpers.js';

let mock: MockProviders;
let receiver: Server;
let backchannelUri: string;
const received: string[] = [];

beforeAll(async () => {
  mock = await startMockProviders({ port: 0, ldap: false, saml: false });
  // The client's back-channel logout endpoint: a plain HTTP server that records what it is sent.
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      received.push(body);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  backchannelUri = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/backchannel-logout`;
});
afterAll(async () => {
  await mock?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

describe('logout at the OIDC mocks', () => {
  it('RP-initiated logout asks, ends the session, sends a signed back-channel logout token and returns to the client', async () => {
    const name = 'keycloak';
    const redirect = 'http://app.example/cb';
    const bye = 'http://app.example/bye';
    mock.registerClient(name, {
      client_id: 'bcl-app', client_secret: 'bcl-secret-1', redirect_uris: [redirect], post_logout_redirect_uris: [bye], backchannel_logout_uri: backchannelUri,
    });
    const config = await oidc.discovery(new URL(mock.providers[name].issuer), 'bcl-app', 'bcl-secret-1', undefined, { execute: [oidc.allowInsecureRequests] });
    expect(config.serverMetadata().backchannel_logout_supported).toBe(true);
    const browser = new Browser();
    const out = await browser.run(oidc.buildAuthorizationUrl(config, { redirect_uri: redirect, scope: 'openid', login_hint: 'alice', state: 's', nonce: 'n' }), redirect);
    const tokens = await oidc.authorizationCodeGrant(config, out.callback!, { expectedState: 's', expectedNonce: 'n' });
    const { sub, sid } = tokens.claims()!;
    expect(sid).toBeTruthy();

    const confirm = await browser.fetch(oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: bye }));
    expect(confirm.status).toBe(200);
    expect(confirm.headers.get('content-security-policy')).toContain(`form-action 'self' http://app.example`);
    const html = await confirm.text();
    const action = html.match(/<form[^>]*action="([^"]+)"/)![1]!;
    const xsrf = html.match(/name="xsrf" value="([^"]+)"/)![1]!;
    const done = await browser.fetch(new URL(action, mock.url), {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ xsrf, logout: 'yes' }),
    });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(bye);

    expect(received).toHaveLength(1);
    const logoutToken = new URLSearchParams(received[0]).get('logout_token')!;
    const { payload } = await jwtVerify(logoutToken, createRemoteJWKSet(new URL(mock.providers[name].jwksUri!)), {
      issuer: mock.providers[name].issuer, audience: 'bcl-app', typ: 'logout+jwt',
    });
    expect(payload).toMatchObject({ sub, sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
  });
});
