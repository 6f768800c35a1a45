import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { request } from 'undici';
import { freePort, startTestApp } from '../helpers/app.js';
import type { TestApp } from '../helpers/app.js';
import { UserAgent, formAction, hiddenField } from '../helpers/agent.js';
import { signInThrough } from '../helpers/flows.js';
import { USER } from '../fixtures.js';
import { startApache } from './apache.js';
import type { Apache } from './apache.js';

/**
 * Apache httpd with Debian's mod_auth_openidc as a relying party of Tessera,
 * configured as docs/relying-parties.md says: sign-in (PKCE S256, or the
 * nonce-only opt-out), claims, refresh, logout.
 */

const SECRET = 'apache-client-secret-0123456789-abcdefghij';
let t: TestApp;
let apache: Apache;
let legacy: Apache;

/** The recipe from docs/relying-parties.md, with this test's addresses. */
const recipe = (issuer: string, clientId: string, extra: string) => (port: number) => `
OIDCProviderMetadataURL ${issuer}/.well-known/openid-configuration
OIDCClientID ${clientId}
OIDCClientSecret ${SECRET}
OIDCRedirectURI http://localhost:${port}/protected/redirect_uri
OIDCCryptoPassphrase apache-test-passphrase-0123456789
OIDCScope "openid profile email offline_access"
OIDCAuthRequestParams prompt=consent
OIDCRemoteUserClaim preferred_username
OIDCInfoHook iat access_token access_token_expires id_token userinfo refresh_token session
${extra}
<Location /protected>
  AuthType openid-connect
  Require valid-user
</Location>`;

beforeAll(async () => {
  // The RPs' ports must be known to register their redirect URIs: reserve them first.
  const [p1, p2] = [await freePort(), await freePort()];
  const client = (id: string, port: number, extra: Record<string, unknown> = {}) => ({
    client_id: id, client_name: `Apache ${id}`, client_secret: SECRET,
    grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: [`http://localhost:${port}/protected/redirect_uri`],
    post_logout_redirect_uris: [`http://localhost:${port}/public/`],
    ...extra,
  });
  t = await startTestApp({
    config: {
      clients: [client('apache', p1), client('apache-nopkce', p2, { require_pkce: false })],
      users: [{ ...USER, email: 'alice@example.test', email_verified: true, given_name: 'Alice', family_name: 'Liddell' }],
    },
  });
  apache = await startApache((port) => recipe(t.issuer, 'apache', 'OIDCPKCEMethod S256')(port), p1);
  legacy = await startApache((port) => recipe(t.issuer, 'apache-nopkce', '')(port), p2);
});
afterAll(async () => {
  await apache?.stop();
  await legacy?.stop();
  await t?.close();
});

/**
 * A browser's top-level navigation, as mod_auth_openidc tells it from a
 * script's call (which gets 401 instead of a redirect). Node's fetch sends
 * `Sec-Fetch-Mode: cors` unless told otherwise.
 */
const browserAgent = () => new UserAgent({ accept: 'text/html,application/xhtml+xml', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }, navigate);

/** Node's fetch always sends `Sec-Fetch-Mode: cors`; undici's plain request sends the headers it is given. */
async function navigate(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const res = await request(String(input), {
    method: (init.method ?? 'GET') as 'GET',
    headers: init.headers as Record<string, string>,
    body: init.body as string | undefined,
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined) headers.append(name, v);
  }
  const body = await res.body.arrayBuffer();
  return new Response([101, 204, 205, 304].includes(res.statusCode) ? null : body, { status: res.statusCode, headers });
}

/** A browser visiting the protected page: redirected to Tessera, signs in and consents, back at Apache. */
async function signIn(rp: Apache): Promise<UserAgent> {
  const agent = browserAgent();
  const first = await agent.get(`${rp.url}/protected/`);
  expect(first.status, `${await first.clone().text()}\n${rp.errorLog()}`).toBe(302);
  const auth = new URL(first.headers.get('location')!);
  expect(auth.origin).toBe(t.issuer);
  const callback = await signInThrough(agent, auth, t.issuer, USER, { consent: true });
  const back = await agent.get(callback);
  expect(back.status).toBe(302);
  const page = await agent.get(new URL(back.headers.get('location')!, rp.url));
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('protected page');
  return agent;
}

interface Info {
  iat?: number;
  access_token?: string;
  id_token?: Record<string, unknown>;
  userinfo?: Record<string, unknown>;
  refresh_token?: string;
}

async function info(rp: Apache, agent: UserAgent, query = ''): Promise<Info> {
  const res = await agent.get(`${rp.url}/protected/redirect_uri?info=json${query}`);
  expect(res.status, rp.errorLog()).toBe(200);
  return await res.json() as Info;
}

describe('Apache mod_auth_openidc', () => {
  test('signs in with PKCE S256 and reads the claims from the ID token and UserInfo', async () => {
    const agent = await signIn(apache);
    const i = await info(apache, agent);
    expect(i.id_token).toMatchObject({ iss: t.issuer, aud: 'apache' });
    expect(i.userinfo).toMatchObject({ email: 'alice@example.test', preferred_username: 'alice', name: 'Alice Liddell' });
    expect(i.refresh_token).toMatch(/.+/);
  });

  test('refreshes the access token with its refresh token', async () => {
    const agent = await signIn(apache);
    const before = await info(apache, agent);
    await new Promise((r) => setTimeout(r, 1100));
    const after = await info(apache, agent, '&access_token_refresh_interval=1');
    expect(after.access_token).toMatch(/.+/);
    expect(after.access_token).not.toBe(before.access_token);
    // Rotation: the refresh token changed too (issue 21's default for confidential clients, if present).
    expect(after.refresh_token).toMatch(/.+/);
  });

  test('logs out at Tessera without a confirmation question (valid id_token_hint) and lands on the public page', async () => {
    const agent = await signIn(apache);
    const out = await agent.get(`${apache.url}/protected/redirect_uri?logout=${encodeURIComponent(`http://localhost:${apache.port}/public/`)}`);
    expect(out.status).toBe(302);
    const endSession = new URL(out.headers.get('location')!);
    expect(endSession.origin + endSession.pathname).toBe(`${t.issuer}/oidc/session/end`);
    expect(endSession.searchParams.get('id_token_hint')).toMatch(/.+/);
    const page = await agent.get(endSession);
    const html = await page.text();
    expect(html).toContain('Signing you out');
    // What the page's script does in a browser.
    const done = await agent.post(new URL(formAction(html, '/session/end'), t.issuer), { xsrf: hiddenField(html, 'xsrf')!, logout: 'yes' });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(`http://localhost:${apache.port}/public/`);
    // Signed out at Apache and at Tessera: the protected page sends the browser to Tessera's sign-in page again.
    const again = await agent.get(`${apache.url}/protected/`);
    expect(again.status).toBe(302);
    const { res } = await agent.follow(await agent.get(again.headers.get('location')!), again.headers.get('location')!);
    expect(await res.text()).toContain('name="password"');
  });

  test('without PKCE (mod_auth_openidc\'s default) signs in when the client opted out with require_pkce: false; the nonce binds the code', async () => {
    const agent = browserAgent();
    const first = await agent.get(`${legacy.url}/protected/`);
    const auth = new URL(first.headers.get('location')!);
    expect(auth.searchParams.get('code_challenge')).toBeNull();
    expect(auth.searchParams.get('nonce')).toMatch(/.+/);
    const callback = await signInThrough(agent, auth, t.issuer, USER, { consent: true });
    expect((await agent.get(callback)).status).toBe(302);
    const i = await info(legacy, agent);
    expect(i.id_token?.nonce).toBe(auth.searchParams.get('nonce'));
  });
});
