/**
 * The lockout per account and source, and the per-IP throttle that spares
 * known devices and authenticated machine clients (#17 item 7;
 * docs/security.md#lockout-and-throttling). Attackers and owners send from
 * different loopback addresses (Linux routes all of 127/8 to `lo`), through
 * real HTTP; SQLite, or PostgreSQL with TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { discover } from './helpers/flows.js';
import { API, REDIRECT, SERVICE_SECRET, baseConfig } from './fixtures.js';
import { createAuditRepository } from '../src/audit/repository.js';
import { signedInBrowser } from './helpers/account.js';
import { Authenticator, enrollTotp } from './helpers/mfa.js';

const PASSWORD = 'a long enough test password';
const MAX_FAILURES = 3;
const IP_LIMIT = 6;
const LEGACY_SECRET = 'legacy-secret-0123456789-abcdefghijklmnopq';
const ADDRESSES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'] as const;
type Address = (typeof ADDRESSES)[number];
// undici 7 takes `localAddress` as a top-level option.
const dispatchers = new Map(ADDRESSES.map((a) => [a, new Agent({ localAddress: a })]));
const from = (address: Address): typeof fetch =>
  ((url: string | URL, init?: RequestInit) => undiciFetch(url, { ...(init as object), dispatcher: dispatchers.get(address) })) as unknown as typeof fetch;
const browser = (address: Address) => new UserAgent({ 'user-agent': 'LockoutSourcesTest/1.0' }, from(address));

const USERS = ['olga', 'pia', 'quinn', 'rosa', 'sven'];
const config = {
  ...baseConfig,
  tenants: [
    { id: 'default', name: 'Default', policy: { lockout: { max_failures: MAX_FAILURES, window_seconds: 600, duration_seconds: 600 } } },
    ...baseConfig.tenants,
  ],
  users: [...baseConfig.users, ...USERS.map((username) => ({ username, password: PASSWORD, email: `${username}@example.test`, email_verified: true }))],
  clients: [
    ...baseConfig.clients,
    // A legacy client with the password grant (docs/protocol.md#legacy-password-grant).
    { client_id: 'legacy', client_secret: LEGACY_SECRET, token_endpoint_auth_method: 'client_secret_basic', grant_types: ['password'], scope: 'openid' },
  ],
};

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ config, env: { TESSERA_AUTH_FAILURES_PER_MINUTE: String(IP_LIMIT) } });
});
afterAll(async () => {
  await t?.close();
  await Promise.all([...dispatchers.values()].map((d) => d.close()));
});

/** One sign-in attempt on the hosted page from a fresh authorization request; 303 = signed in. */
async function attempt(agent: UserAgent, username: string, password: string): Promise<number> {
  const posted = await passwordStep(agent, username, password);
  await posted.arrayBuffer();
  return posted.status;
}

async function passwordStep(agent: UserAgent, username: string, password: string, extra: Record<string, string> = {}): Promise<Response> {
  const url = oidc.buildAuthorizationUrl(await discover(t.issuer, { clientId: 'spa' }), {
    redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256', state: 'st', ...extra,
  });
  const { res } = await agent.follow(await agent.get(url), url.href);
  const action = new URL(formAction(await res.text(), '/login'), t.issuer);
  return agent.post(action, { username, password });
}

const userId = async (username: string) => (await t.app.platform.users.findByUsername('default', username))!.id;
const audit = async (username: string, action: string) => createAuditRepository(t.app.store.db).query({ subjectId: await userId(username), action });

test('failures from elsewhere lock the account for unknown sources only: the owner signs in from a known device and a known address', async () => {
  // The owner's laptop: it moves between networks (its address is switched below).
  let at: Address = '127.0.0.1';
  const owner = new UserAgent({ 'user-agent': 'LockoutSourcesTest/1.0' }, ((url: string | URL, init?: RequestInit) => from(at)(url, init)) as typeof fetch);
  expect(await attempt(owner, 'olga', PASSWORD)).toBe(303);

  // The attacker knows the username; its guesses come from 127.0.0.2.
  for (let i = 0; i < MAX_FAILURES; i++) expect(await attempt(browser('127.0.0.2'), 'olga', `guess ${i}`)).toBe(401);
  // Brute force stays out: now even the right password from there is refused, with the same answer.
  expect(await attempt(browser('127.0.0.2'), 'olga', PASSWORD)).toBe(401);
  // ... and from any other source this account never signed in from.
  expect(await attempt(browser('127.0.0.3'), 'olga', PASSWORD)).toBe(401);
  const [locked] = await audit('olga', 'user.locked');
  expect(locked).toMatchObject({ ip: '127.0.0.2', details: { reason: 'failed_logins', scope: 'unknown_sources', failures: MAX_FAILURES } });

  // The owner's browser (device cookie from its earlier sign-in) gets in with the right password,
  // also from an address the account never used (the cookie alone makes it known).
  expect(await attempt(owner, 'olga', PASSWORD)).toBe(303);
  // Without the cookie, 127.0.0.4 is an unknown source: locked. With it: signed in (and the address is known from then on).
  expect(await attempt(browser('127.0.0.4'), 'olga', PASSWORD)).toBe(401);
  at = '127.0.0.4';
  expect(await attempt(owner, 'olga', PASSWORD)).toBe(303);
  expect(await attempt(browser('127.0.0.4'), 'olga', PASSWORD)).toBe(303);
  // So does another browser at the address the owner signed in from before.
  expect(await attempt(browser('127.0.0.1'), 'olga', PASSWORD)).toBe(303);
  // The owner's sign-ins did not reset the attacker's lock.
  expect(await attempt(browser('127.0.0.2'), 'olga', PASSWORD)).toBe(401);
});

test('a known device that fails itself is locked on its own; the account stays open to the owner elsewhere', async () => {
  const laptop = browser('127.0.0.3');
  const phone = browser('127.0.0.4');
  expect(await attempt(laptop, 'quinn', PASSWORD)).toBe(303);
  expect(await attempt(phone, 'quinn', PASSWORD)).toBe(303);
  // Someone at the laptop guesses: the laptop's own count locks the laptop.
  for (let i = 0; i < MAX_FAILURES; i++) expect(await attempt(laptop, 'quinn', `guess ${i}`)).toBe(401);
  expect(await attempt(laptop, 'quinn', PASSWORD)).toBe(401);
  const [locked] = await audit('quinn', 'user.locked');
  expect(locked!.details).toMatchObject({ scope: 'known_device' });
  // The phone, and unknown sources (no failures counted for them), are not affected.
  expect(await attempt(phone, 'quinn', PASSWORD)).toBe(303);
  expect(await attempt(browser('127.0.0.2'), 'quinn', PASSWORD)).toBe(303);
});

/** A token-endpoint request from `address` with the `service` client's credentials (or a wrong secret). */
async function clientCredentials(address: Address, secret = SERVICE_SECRET) {
  const res = await from(address)(`${t.issuer}/oidc/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`service:${secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', resource: API }).toString(),
  });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

test('a throttled address: sign-ins without a device cookie get 429; the owner\'s known device and authenticated machine clients do not', async () => {
  // Before the attack: the owner signed in from 127.0.0.5 with this browser.
  const owner = browser('127.0.0.5');
  expect(await attempt(owner, 'pia', PASSWORD)).toBe(303);
  // Failures from 127.0.0.5 (other accounts, no device cookie) use up the address's allowance.
  const used = await Promise.all(Array.from({ length: IP_LIMIT }, (_, i) => attempt(browser('127.0.0.5'), `nobody-${i}`, 'wrong')));
  expect(used.every((s) => s === 401)).toBe(true);
  expect(await attempt(browser('127.0.0.5'), 'rosa', PASSWORD)).toBe(429);

  // The owner's device is counted on its own: the right password still signs in.
  expect(await attempt(owner, 'pia', PASSWORD)).toBe(303);

  // A machine client with valid credentials still gets tokens from that address ...
  const ok = await clientCredentials('127.0.0.5');
  expect(ok.status).toBe(200);
  expect(ok.body.access_token).toEqual(expect.any(String));
  // ... a wrong secret (guessing) is throttled ...
  const wrong = await clientCredentials('127.0.0.5', 'not-the-secret-0123456789-abcdefghijklmnop');
  expect(wrong).toMatchObject({ status: 429, body: { error: 'invalid_request' } });
  // ... and so is a password grant, even with the right password (a sign-in by another name; the password is not checked).
  const grant = await from('127.0.0.5')(`${t.issuer}/oidc/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`legacy:${LEGACY_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'password', username: 'rosa', password: PASSWORD, scope: 'openid' }).toString(),
  });
  expect(grant.status).toBe(429);
  expect(await audit('rosa', 'login.succeeded')).toHaveLength(0);
  // From an address that is not throttled, the same grant works.
  const elsewhere = await from('127.0.0.3')(`${t.issuer}/oidc/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`legacy:${LEGACY_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'password', username: 'rosa', password: PASSWORD, scope: 'openid' }).toString(),
  });
  expect(elsewhere.status).toBe(200);
  // ... and other addresses are not affected at all.
  expect((await clientCredentials('127.0.0.3', 'not-the-secret-0123456789-abcdefghijklmnop')).status).toBe(401);
});

test('second factor: someone with the password but not the code locks unknown sources only; the owner\'s device finishes with its code', async () => {
  const { agent: owner } = await signedInBrowser(t.issuer, { username: 'sven', password: PASSWORD });
  const { authenticator } = await enrollTotp(owner, t.issuer);
  const wrong = () => String((Number(authenticator.codeAt(Authenticator.currentStep())) + 500_000) % 1_000_000).padStart(6, '0');

  // The attacker has the password (from a leak): it gets to the code form, from 127.0.0.6 ...
  const attacker = browser('127.0.0.6');
  const { res: form } = await attacker.follow(await passwordStep(attacker, 'sven', PASSWORD), t.issuer);
  const html = await form.text();
  expect(form.status).toBe(200);
  expect(html).toContain('/mfa/totp');
  for (let i = 0; i < MAX_FAILURES; i++) {
    expect((await attacker.post(new URL(formAction(html, '/mfa/totp'), t.issuer), { code: wrong() })).status).toBe(401);
  }
  // ... and is locked out: not even the password passes now.
  expect(await attempt(browser('127.0.0.6'), 'sven', PASSWORD)).toBe(401);
  const [locked] = await audit('sven', 'user.locked');
  expect(locked!.details).toMatchObject({ reason: 'failed_mfa', scope: 'unknown_sources' });

  // The owner's browser signs in with password and code.
  // (It has a session from the enrollment: prompt=login asks for the password again.)
  const { res: mine } = await owner.follow(await passwordStep(owner, 'sven', PASSWORD, { prompt: 'login' }), t.issuer);
  expect(mine.status).toBe(200);
  const done = await owner.post(new URL(formAction(await mine.text(), '/mfa/totp'), t.issuer), { code: await authenticator.nextCode() });
  expect(done.status).toBe(303);
  expect(done.headers.get('location')).toContain('/oidc/auth/');
});
