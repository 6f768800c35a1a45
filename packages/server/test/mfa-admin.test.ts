/**
 * Admin reset of a user's MFA: POST /api/admin/v1/users/{id}/mfa/reset with a
 * bearer JWT for the admin API (`identity.admin`), from an administrator of
 * the user's tenant who signed in with MFA recently (RFC 9470 step-up).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, ADMIN_PASSWORD } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import type { MfaHandler } from './helpers/flows.js';
import { signedInBrowser } from './helpers/account.js';
import { enrollHandler, enrollTotp, totpHandler } from './helpers/mfa.js';
import type { Authenticator } from './helpers/mfa.js';
import { CONF_SECRET, REDIRECT, USER, baseConfig } from './fixtures.js';
import { MACHINE_SECRET, machineToken } from './helpers/admin.js';
import { createAuditRepository } from '../src/audit/repository.js';
import { createUserRepository } from '../src/identity/repository.js';
import { ACR_MFA, ACR_PASSWORD } from '../src/oidc/acr.js';

const PASSWORD = 'a long enough test password';
const SLOW = 75_000;
const person = (username: string, extra: Record<string, unknown> = {}) => ({ username, password: PASSWORD, email: `${username}@example.test`, email_verified: true, ...extra });
const console_ = (client_id: string, extra: Record<string, unknown> = {}) => ({
  client_id, client_secret: CONF_SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code'],
  token_endpoint_auth_method: 'client_secret_basic', first_party: true, scope: 'openid identity.admin', ...extra,
});

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      clients: [...baseConfig.clients, console_('console'), console_('acme-console', { tenant: 'acme', mfa: 'required' }),
        { client_id: 'reset-bot', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], admin_scopes: ['identity.admin'] }],
      users: [...baseConfig.users, person('tia'), person('uli'), person('ada', { tenant: 'acme', roles: ['admin'] })],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

const ADMIN = { username: 'admin', password: ADMIN_PASSWORD };
const adminApi = () => `${t.issuer}/api/admin`;
const resetUrl = (id: string) => `${t.issuer}/api/admin/v1/users/${id}/mfa/reset`;
const user = async (username: string, tenant = 'default') => (await createUserRepository(t.app.store.db).findByUsername(tenant, username))!;
const CLAIMS = JSON.stringify({ id_token: { acr: null, amr: null } });

/** An access token for the admin API, from a code flow through the hosted pages. */
async function adminToken(creds: { username: string; password: string }, opts: { client?: string; scope?: string; mfa?: MfaHandler } = {}): Promise<string> {
  const config = await discover(t.issuer, { clientId: opts.client ?? 'console', clientSecret: CONF_SECRET, auth: 'basic' });
  const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, creds, {
    scope: opts.scope ?? 'openid identity.admin', resource: adminApi(), prompt: 'login',
  }, { mfa: opts.mfa });
  return tokens.access_token;
}

const reset = (id: string, token?: string) => fetch(resetUrl(id), { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });

describe('admin MFA reset', () => {
  let adminAuth: Authenticator;
  beforeAll(async () => {
    await enrollTotp((await signedInBrowser(t.issuer, creds('tia'))).agent, t.issuer);
    ({ authenticator: adminAuth } = await enrollTotp((await signedInBrowser(t.issuer, ADMIN)).agent, t.issuer));
  }, SLOW);

  test('the admin API is declared at start-up as a resource with the admin scopes', async () => {
    const api = await t.app.platform.apis.find(adminApi());
    expect(api?.scopes).toEqual(expect.arrayContaining(['identity.admin']));
  });

  test('no token: 401 with a bearer challenge; a garbage token: 401 invalid_token', async () => {
    const tia = await user('tia');
    const none = await reset(tia.id);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
    const garbage = await reset(tia.id, 'not.a.jwt');
    expect(garbage.status).toBe(401);
    expect((await garbage.json() as { error: string }).error).toBe('invalid_token');
    expect(await t.app.platform.mfa.hasSecondFactor(tia.id)).toBe(true);
  });

  test('a user who is not an administrator: 403 access_denied; a token without identity.admin: 403 insufficient_scope', async () => {
    const tia = await user('tia');
    const notAdmin = await reset(tia.id, await adminToken(USER));
    expect(notAdmin.status).toBe(403);
    expect((await notAdmin.json() as { error: string }).error).toBe('access_denied');
    const noScope = await reset(tia.id, await adminToken(ADMIN, { scope: 'openid', mfa: totpHandler(adminAuth) }));
    expect(noScope.status).toBe(403);
    expect((await noScope.json() as { error: string }).error).toBe('insufficient_scope');
    expect(await t.app.platform.mfa.hasSecondFactor(tia.id)).toBe(true);
  }, SLOW);

  test('an administrator signed in with the password only: 401 insufficient_user_authentication with acr_values (RFC 9470)', async () => {
    // The console client: MFA is optional and uli (an admin too) has no factor, so the sign-in is password-only.
    await t.app.platform.users.setRoles((await user('uli')).id, 'default', ['admin']);
    const token = await adminToken(creds('uli'));
    const res = await reset((await user('tia')).id, token);
    expect(res.status).toBe(401);
    expect((await res.json() as { error: string }).error).toBe('insufficient_user_authentication');
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).toContain('error="insufficient_user_authentication"');
    expect(challenge).toContain(`acr_values="${ACR_MFA}"`);
    expect(challenge).toContain('max_age=600');
    expect(await t.app.platform.mfa.hasSecondFactor((await user('tia')).id)).toBe(true);
  }, SLOW);

  test('an administrator of another tenant: 404 (the user is not theirs to see)', async () => {
    const out: { authenticator?: Authenticator } = {};
    const token = await adminToken({ username: 'ada', password: PASSWORD }, { client: 'acme-console', mfa: enrollHandler(out) });
    const res = await reset((await user('tia')).id, token);
    expect(res.status).toBe(404);
  }, SLOW);

  test('success: every factor goes, audited with the actor; the user then signs in without MFA', async () => {
    const tia = await user('tia');
    const admin = await user('admin');
    const token = await adminToken(ADMIN, { mfa: totpHandler(adminAuth) });
    const res = await reset(tia.id, token);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ user_id: tia.id, removed: 2 }); // the authenticator app and the recovery codes
    expect(await t.app.platform.mfa.forUser(tia.id)).toEqual([]);

    const [entry] = await createAuditRepository(t.app.store.db).query({ subjectId: tia.id, action: 'mfa.reset' });
    // Like every admin write: who acted, of which kind, through which channel (docs/admin.md).
    expect(entry).toMatchObject({ actorId: admin.id, subjectId: tia.id, details: { removed: 2, actor_type: 'user', via: 'admin_api' } });

    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, creds('tia'), { claims: CLAIMS });
    expect(tokens.claims()!.acr).toBe(ACR_PASSWORD);

    // Unknown and malformed ids: 404.
    expect((await reset('00000000-0000-4000-8000-000000000000', token)).status).toBe(404);
    expect((await reset('..%2F..', token)).status).toBe(404);
  }, SLOW);
});

test('a machine client\'s reset is audited with actor_type client', async () => {
  const uli = await user('uli');
  const res = await reset(uli.id, await machineToken(t.issuer, 'reset-bot', 'identity.admin'));
  expect(res.status).toBe(200);
  const [entry] = await createAuditRepository(t.app.store.db).query({ subjectId: uli.id, action: 'mfa.reset' });
  expect(entry).toMatchObject({ actorId: 'reset-bot', subjectId: uli.id, details: { removed: 0, actor_type: 'client', via: 'admin_api' } });
});

function creds(username: string) {
  return { username, password: PASSWORD };
}
