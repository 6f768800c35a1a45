/**
 * App assignment (issue 16, item 3; docs/b2b.md#app-assignment): a client's
 * allowed_users / allowed_roles are checked at interactive sign-in (the
 * sign-in pipeline), for a live session (SSO), at the password grant and on
 * refresh. openid-client is the relying party.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover, signInThrough } from './helpers/flows.js';
import { API, REDIRECT, USER, baseConfig } from './fixtures.js';
import { createUserRepository } from '../src/identity/repository.js';
import { parseDeclarative } from '../src/config/load.js';

const SECRET = 'assignment-secret-0123456789-abcdefghijkl';
const PASSWORD = 'a long enough test password';
const BOB = { username: 'bob', password: PASSWORD };
const CARL = { username: 'carl', password: PASSWORD };

const config = {
  ...baseConfig,
  clients: [
    ...baseConfig.clients,
    // A legacy integration bound to its one user.
    { client_id: 'bound-pw', client_secret: SECRET, grant_types: ['password', 'refresh_token'], scope: 'offline_access read', allowed_users: ['bob'] },
    // Editors only (alice is an editor in the fixture).
    {
      client_id: 'editors-app', client_secret: SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
      first_party: true, scope: 'openid profile email offline_access read', allowed_roles: ['editor'],
    },
  ],
  users: [
    ...baseConfig.users,
    { ...BOB, email: 'bob@example.test', email_verified: true },
    { ...CARL, email: 'carl@example.test', email_verified: true },
  ],
};

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ config });
});
afterAll(async () => {
  await t?.close();
});

async function token(clientId: string, form: Record<string, string>) {
  const res = await fetch(`${t.issuer}/oidc/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${SECRET}`).toString('base64')}` },
    body: new URLSearchParams(form),
  });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

const authorizeUrl = async (clientId: string, extra: Record<string, string> = {}) => oidc.buildAuthorizationUrl(
  await discover(t.issuer, { clientId, clientSecret: SECRET }),
  { redirect_uri: REDIRECT, scope: 'openid', state: 's', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256', ...extra },
);

describe('password grant', () => {
  test('the bound user gets tokens; another user, with the right password, gets invalid_grant and is not locked out', async () => {
    const ok = await token('bound-pw', { grant_type: 'password', ...BOB, scope: 'read', resource: API });
    expect(ok.status).toBe(200);
    const other = await token('bound-pw', { grant_type: 'password', username: 'carl', password: PASSWORD, scope: 'read', resource: API });
    const wrong = await token('bound-pw', { grant_type: 'password', username: 'carl', password: 'not the password', scope: 'read', resource: API });
    // The same answer as wrong credentials: the client cannot tell a right password from a wrong one.
    expect(other).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'the username or password is incorrect' } });
    expect(wrong).toEqual(other);
    for (let i = 0; i < 6; i++) await token('bound-pw', { grant_type: 'password', username: 'carl', password: 'guess', scope: 'read' });
    const carl = (await createUserRepository(t.app.store.db).findByUsername('default', 'carl'))!;
    expect(carl.failedLogins).toBe(0);
    expect(carl.lockedUntil).toBeNull();
  });
});

describe('interactive sign-in', () => {
  test('a user with an allowed role gets tokens; another goes back to the client with access_denied', async () => {
    const config = await discover(t.issuer, { clientId: 'editors-app', clientSecret: SECRET });
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, USER, { scope: 'openid', resource: API });
    expect(tokens.access_token).toBeTruthy();
    const callback = await signInThrough(new UserAgent(), await authorizeUrl('editors-app'), t.issuer, BOB);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('code')).toBeNull();
  });

  test('a live session of an unassigned user is asked to sign in again (prompt=none: login_required), never given a code', async () => {
    const agent = new UserAgent();
    // bob signs in to an app open to everyone.
    await signInThrough(agent, await authorizeUrl('spa'), t.issuer, BOB);
    const silent = await signInThrough(agent, await authorizeUrl('editors-app', { prompt: 'none' }), t.issuer);
    expect(silent.searchParams.get('error')).toBe('login_required');
    // Interactively, the sign-in page comes back; an editor may sign in there instead.
    const switched = await signInThrough(agent, await authorizeUrl('editors-app'), t.issuer, USER);
    expect(switched.searchParams.get('code')).toBeTruthy();
  });
});

describe('refresh', () => {
  test('a refresh token stops yielding tokens once its user is no longer assigned', async () => {
    const first = await token('bound-pw', { grant_type: 'password', ...BOB, scope: 'offline_access read', resource: API });
    const refreshToken = first.body.refresh_token as string;
    expect(refreshToken).toBeTruthy();
    // The running app's repository (its read cache forgets a client it writes), as the admin API changes it.
    const clients = t.app.platform.clients;
    const client = (await clients.find('bound-pw'))!;
    await clients.upsert({ ...client, metadata: { ...client.metadata, allowed_users: ['carl'] } });
    try {
      expect(await token('bound-pw', { grant_type: 'refresh_token', refresh_token: refreshToken }))
        .toMatchObject({ status: 400, body: { error: 'invalid_grant', error_description: 'the user is not assigned to this client' } });
    } finally {
      await clients.upsert(client);
    }
  });
});

test('the file checks the lists', () => {
  const bad = (c: Record<string, unknown>) => () => parseDeclarative(JSON.stringify({ clients: [{ client_id: 'x', client_secret: SECRET, grant_types: ['password'], ...c }] }));
  expect(bad({ allowed_users: [] })).toThrow(/clients\[0\]\.allowed_users: must list at least one user/);
  expect(bad({ allowed_roles: ['no spaces'] })).toThrow(/clients\[0\]\.allowed_roles\[0\]: must be a role name/);
});
