import * as oidc from 'openid-client';
import { expect } from 'vitest';
import { UserAgent, formAction } from '../helpers/agent.js';
import { discover, signInThrough } from '../helpers/flows.js';
import { enrollHandler } from '../helpers/mfa.js';
import type { Authenticator } from '../helpers/mfa.js';
import { basic, sleep } from '../fault/harness.js';

/**
 * What must behave on several processes (instances behind a balancer, or the
 * workers of one `--workers` server) exactly as on one: each check talks only
 * HTTP to the issuer, and optionally to each process directly.
 */
export const SCALE_SECRET = 'scale-machine-secret-0123456789-abcdefgh';
export const WEB_SECRET = 'scale-web-secret-0123456789-abcdefghijkl';
export const PASSWORD = 'a long enough scale-test password';
export const REDIRECT = 'http://127.0.0.1:9/cb';
export const FAILURES_PER_MINUTE = 10;

export const SCALE_CONFIG = {
  roles: [{ name: 'editor', tenant: 'default' }],
  clients: [
    { client_id: 'loader', client_secret: SCALE_SECRET, grant_types: ['client_credentials'], admin_scopes: ['identity.admin', 'auth.admin'] },
    { client_id: 'reports', client_secret: SCALE_SECRET, grant_types: ['client_credentials'], access_token_ttl: 120 },
    // A third-party web app (consent asked) that requires MFA and keeps a refresh token.
    {
      client_id: 'web', client_secret: WEB_SECRET, redirect_uris: [REDIRECT], post_logout_redirect_uris: ['http://127.0.0.1:9/bye'],
      grant_types: ['authorization_code', 'refresh_token'], scope: 'openid profile email offline_access', mfa: 'required',
    },
  ],
  users: ['mia', 'lou', 'kim'].map((username) => ({ username, password: PASSWORD, email: `${username}@scale.test`, email_verified: true })),
};

/** `Connection: close` on every request of these checks (see closeEachConnection). */
let connectionHeaders: Record<string, string> = {};

/**
 * Whether each request opens a new connection. A `--workers` server's primary
 * hands each new connection to the next worker, so closing them spreads the
 * checks' requests over the workers (keep-alive would pin them to one).
 */
export function closeEachConnection(on: boolean): void {
  connectionHeaders = on ? { connection: 'close' } : {};
}

/** An agent that remembers which instance (haproxy's `X-Served-By`) answered each request. */
export function trackingAgent(headers: Record<string, string> = {}): { agent: UserAgent; servedBy: Set<string> } {
  const servedBy = new Set<string>();
  const agent = new UserAgent({ ...connectionHeaders, ...headers }, async (input, init) => {
    const res = await fetch(input, init);
    const by = res.headers.get('x-served-by');
    if (by) servedBy.add(by);
    return res;
  });
  return { agent, servedBy };
}

/** The authorization URL of the `web` client, with its PKCE verifier. */
async function authorizeUrl(config: oidc.Configuration, extra: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: 'openid profile email offline_access', prompt: 'consent', state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
  });
  return { url, verifier, state };
}

/**
 * A person's whole session through `issuer`: sign-in, enrolment of an
 * authenticator app (the client requires MFA), consent, tokens, three refresh
 * rotations (the old refresh token refused after each), RP-initiated logout
 * (the session ends: prompt=none answers login_required). Returns the
 * authenticator and which instances answered the browser.
 */
export async function fullSession(issuer: string, username: string, agentHeaders: Record<string, string> = {}): Promise<{ servedBy: Set<string>; authenticator: Authenticator }> {
  const config = await discover(issuer, { clientId: 'web', clientSecret: WEB_SECRET });
  const { agent, servedBy } = trackingAgent(agentHeaders);
  const { url, verifier, state } = await authorizeUrl(config);
  const enrolled: { authenticator?: Authenticator } = {};
  const callback = await signInThrough(agent, url, issuer, { username, password: PASSWORD }, { mfa: enrollHandler(enrolled) });
  expect(enrolled.authenticator, 'the MFA enrolment ran').toBeDefined();
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, idTokenExpected: true });

  let refresh = tokens.refresh_token!;
  for (let i = 0; i < 3; i++) {
    const next = await oidc.refreshTokenGrant(config, refresh);
    expect(next.refresh_token).toBeDefined();
    expect(next.refresh_token).not.toBe(refresh);
    refresh = next.refresh_token!;
  }
  const info = await oidc.fetchUserInfo(config, (await oidc.refreshTokenGrant(config, refresh)).access_token, tokens.claims()!.sub);
  expect(info.preferred_username).toBe(username);

  // RP-initiated logout: the engine's self-submitting page, then the redirect back.
  const end = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://127.0.0.1:9/bye' });
  const page = await agent.get(end);
  expect(page.status).toBe(200);
  const html = await page.text();
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  const bye = await agent.post(new URL(formAction(html, '/session/end'), issuer), { xsrf: xsrf!, logout: 'yes' });
  expect(bye.status).toBe(303);
  expect(new URL(bye.headers.get('location')!).pathname).toBe('/bye');
  const again = await authorizeUrl(config, { prompt: 'none' });
  const { url: landed } = await agent.follow(await agent.get(again.url), again.url.href);
  expect(new URL(landed).searchParams.get('error')).toBe('login_required');
  return { servedBy, authenticator: enrolled.authenticator! };
}

/** A client_credentials request for `client` at `base` (an instance or the balancer), from `ip` (X-Forwarded-For). */
export async function clientCredentials(base: string, client: string, secret: string, ip?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}/oidc/token`, {
    method: 'POST',
    headers: { ...connectionHeaders, 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client, secret), ...(ip ? { 'x-forwarded-for': ip } : {}) },
    body: 'grant_type=client_credentials',
  });
  return { status: res.status, body: await res.json().catch(() => ({})) as Record<string, unknown> };
}

/**
 * The per-IP failed-credential throttle counts across processes: the
 * failures sent through `issuer` (spread over the processes) add up, and within
 * about a second every process in `direct` refuses that address with 429.
 */
export async function throttleAcrossProcesses(issuer: string, direct: string[], ip: string): Promise<void> {
  for (let i = 0; i < FAILURES_PER_MINUTE; i++) {
    const r = await clientCredentials(issuer, 'reports', 'a wrong secret', ip);
    expect(r.status, `failure ${i + 1}`).toBe(401);
  }
  for (const base of direct) {
    let status = 0;
    for (const started = Date.now(); Date.now() - started < 5_000; await sleep(200)) {
      status = (await clientCredentials(base, 'reports', 'a wrong secret', ip)).status;
      if (status === 429) break;
    }
    expect(status, `${base} refuses ${ip}`).toBe(429);
  }
  // Another address is not affected.
  expect((await clientCredentials(issuer, 'reports', SCALE_SECRET, '10.77.0.1')).status).toBe(200);
}

/** The hosted sign-in form of a fresh authorization request: the agent and the form's action. */
async function signInForm(issuer: string, ip: string): Promise<{ agent: UserAgent; action: URL; config: oidc.Configuration }> {
  const config = await discover(issuer, { clientId: 'web', clientSecret: WEB_SECRET });
  const agent = new UserAgent({ ...connectionHeaders, 'x-forwarded-for': ip });
  const { url } = await authorizeUrl(config);
  const { res } = await agent.follow(await agent.get(url), url.href);
  return { agent, action: new URL(formAction(await res.text(), '/login'), issuer), config };
}

/**
 * Lockout counts across processes: five wrong passwords for one account, each
 * sent through `issuer` (landing on different processes), lock it; the right
 * password then gets the same answer as a wrong one instead of a sign-in.
 */
export async function lockoutAcrossProcesses(issuer: string, username: string, ip: string): Promise<void> {
  const { agent, action } = await signInForm(issuer, ip);
  let failed: { status: number; text: string } | undefined;
  for (let i = 0; i < 5; i++) {
    const res = await agent.post(action, { username, password: `wrong password ${i}` });
    failed = { status: res.status, text: await res.text() };
    expect(failed.status).not.toBe(303);
  }
  const right = await agent.post(action, { username, password: PASSWORD });
  expect(right.status, 'a locked account does not sign in').toBe(failed!.status);
  expect(right.headers.get('location')).toBeNull();
}

/**
 * An admin change through one process is seen by every other within about a
 * second (the change notification; the read caches would take 5 s): the
 * `reports` client's token lifetime. Returns the milliseconds until the last
 * process issued tokens with the new lifetime.
 */
export async function adminChangeEverywhere(issuer: string, writer: string, readers: string[], rounds = 1): Promise<number> {
  const tokenRes = await fetch(`${writer}/oidc/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('loader', SCALE_SECRET) },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: `${issuer}/api/admin`, scope: 'auth.admin' }).toString(),
  });
  const token = (await tokenRes.json() as { access_token: string }).access_token;
  // Each reader uses the client first, so its cache holds the old version.
  for (const base of readers) expect((await clientCredentials(base, 'reports', SCALE_SECRET)).body.expires_in).toBe(120);
  const path = `${writer}/api/admin/v1/clients/reports`;
  const etag = (await fetch(path, { headers: { authorization: `Bearer ${token}` } })).headers.get('etag')!;
  const patched = await fetch(path, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'if-match': etag },
    body: JSON.stringify({ access_token_ttl: 300 }),
  });
  expect(patched.status, await patched.clone().text()).toBe(200);
  const changedAt = Date.now();
  let slowest = 0;
  for (const base of readers) {
    // `rounds` requests in a row must all see it (a --workers port spreads them over its workers).
    for (let seen = 0; seen < rounds;) {
      const r = await clientCredentials(base, 'reports', SCALE_SECRET);
      if (r.body.expires_in === 300) seen++;
      else {
        seen = 0;
        expect(Date.now() - changedAt, `${base} still issues the old lifetime`).toBeLessThan(4_000);
        await sleep(50);
      }
    }
    slowest = Math.max(slowest, Date.now() - changedAt);
  }
  return slowest;
}
