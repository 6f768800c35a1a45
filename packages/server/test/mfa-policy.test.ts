/**
 * MFA policy: per tenant (`policy.mfa.mode`), per role (`policy.mfa.required_roles`)
 * and per client (`mfa` metadata). Users who must use MFA but have no factor
 * enroll inside the sign-in; the last factor cannot be removed while required.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { signedInBrowser, text } from './helpers/account.js';
import { hiddenInputs } from './helpers/forms.js';
import { enrollHandler, enrollTotp, signInToAccount, totpHandler } from './helpers/mfa.js';
import type { Authenticator } from './helpers/mfa.js';
import { REDIRECT, USER, baseConfig } from './fixtures.js';
import { createUserRepository } from '../src/identity/repository.js';
import { ACR_MFA, ACR_PASSWORD } from '../src/oidc/acr.js';

const PASSWORD = 'a long enough test password';
const SLOW = 75_000;
const person = (username: string, extra: Record<string, unknown> = {}) => ({ username, password: PASSWORD, email: `${username}@example.test`, email_verified: true, ...extra });
const app = (client_id: string, extra: Record<string, unknown> = {}) => ({
  client_id, client_name: client_id, token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], first_party: true, ...extra,
});

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      tenants: [
        { id: 'default', name: 'Default', policy: { mfa: { mode: 'optional', required_roles: ['ops'] } } },
        { id: 'strict', name: 'Strict', policy: { mfa: { mode: 'required' } } },
        { id: 'quiet', name: 'Quiet', policy: { mfa: { mode: 'off' } } },
        ...baseConfig.tenants,
      ],
      roles: [...baseConfig.roles, { name: 'ops', tenant: 'default' }],
      clients: [
        ...baseConfig.clients,
        app('secure', { mfa: 'required' }),
        app('lax', { mfa: 'off' }),
        app('strict-app', { tenant: 'strict' }),
        app('strict-lax', { tenant: 'strict', mfa: 'off' }),
      ],
      users: [
        ...baseConfig.users,
        person('cid'), person('dee'), person('olly', { roles: ['ops'] }), person('pat'),
        person('sue', { tenant: 'strict' }),
      ],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

const creds = (username: string) => ({ username, password: PASSWORD });
const CLAIMS = { claims: JSON.stringify({ id_token: { acr: null, amr: null } }) };
const client = (clientId: string) => discover(t.issuer, { clientId, auth: 'none' });
const hasFactor = async (username: string, tenant = 'default') =>
  t.app.platform.mfa.hasSecondFactor((await createUserRepository(t.app.store.db).findByUsername(tenant, username))!.id);

describe('defaults', () => {
  test('tenant optional: a user without factors signs in with the password only (acr pwd)', async () => {
    const { tokens } = await codeFlow(await client('spa'), new UserAgent(), t.issuer, creds('pat'), CLAIMS);
    expect(tokens.claims()!.acr).toBe(ACR_PASSWORD);
    expect(tokens.claims()!.amr).toEqual(['pwd']);
  });

  test('the engine rejects an unknown mfa value in client metadata', async () => {
    await expect(t.app.provider().Client.validate({ client_id: 'x', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', mfa: 'sometimes' } as never))
      .rejects.toMatchObject({ error: 'invalid_client_metadata', error_description: 'mfa must be off, optional or required' });
  });
});

describe('per client', () => {
  test('client mfa: required takes a user without factors through enrollment (QR, secret, first code, recovery codes once), then finishes with acr MFA', async () => {
    const out: { authenticator?: Authenticator; recoveryCodes?: string[]; setupHtml?: string } = {};
    const { tokens } = await codeFlow(await client('secure'), new UserAgent(), t.issuer, creds('cid'), CLAIMS, { mfa: enrollHandler(out) });
    expect(tokens.claims()!.acr).toBe(ACR_MFA);
    expect(tokens.claims()!.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));
    expect(text(out.setupHtml!)).toContain('This application requires two-step verification.');
    expect(out.setupHtml).toContain('data:image/svg+xml;base64,');
    expect(out.recoveryCodes).toHaveLength(10);
    expect(await hasFactor('cid')).toBe(true);

    // Next time, the factor is asked for (no enrollment).
    const again = await codeFlow(await client('secure'), new UserAgent(), t.issuer, creds('cid'), CLAIMS, { mfa: totpHandler(out.authenticator!) });
    expect(again.tokens.claims()!.acr).toBe(ACR_MFA);
  }, SLOW);

  test('client mfa: off skips the prompt for a user who has a factor (acr pwd); optional (tenant default) asks', async () => {
    const { agent } = await signedInBrowser(t.issuer, creds('dee'));
    const { authenticator } = await enrollTotp(agent, t.issuer);
    const lax = await codeFlow(await client('lax'), new UserAgent(), t.issuer, creds('dee'), CLAIMS);
    expect(lax.tokens.claims()!.acr).toBe(ACR_PASSWORD);
    const spa = await codeFlow(await client('spa'), new UserAgent(), t.issuer, creds('dee'), CLAIMS, { mfa: totpHandler(authenticator) });
    expect(spa.tokens.claims()!.acr).toBe(ACR_MFA);
  }, SLOW);

  test('the in-sign-in enrollment refuses a wrong first code and malformed input without enabling anything', async () => {
    const agent = new UserAgent();
    const url = (await import('openid-client')).buildAuthorizationUrl(await client('secure'), {
      redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', state: 's',
    });
    let { res, url: at } = await agent.follow(await agent.get(url), url.href);
    const login = new URL(formAction(await res.text(), '/login'), t.issuer);
    ({ res, url: at } = await agent.follow(await agent.post(login, creds('pat')), login.href));
    const setup = await res.text();
    expect(new URL(at).pathname).toMatch(/\/mfa$/);
    const action = new URL(formAction(setup, '/mfa/enroll'), t.issuer);
    for (const code of ['000000', '12x456', '']) {
      const r = await agent.post(action, { ...hiddenInputs(setup), label: 'Phone', code });
      expect(r.status).toBe(400);
      expect(text(await r.text())).toMatch(/The code is not valid|Enter the 6 digits|Enter the code/);
    }
    // A made-up enrollment id is not this sign-in's.
    const forged = await agent.post(action, { enrollment: '00000000-0000-4000-8000-000000000000', label: 'x', code: '123456' });
    expect(forged.status).toBe(400);
    expect(await hasFactor('pat')).toBe(false);
  });
});

describe('per tenant', () => {
  test('tenant mode required: enrollment before the sign-in completes; a client set to off cannot lower it', async () => {
    const out: { authenticator?: Authenticator; recoveryCodes?: string[] } = {};
    const { tokens } = await codeFlow(await client('strict-app'), new UserAgent(), t.issuer, creds('sue'), CLAIMS, { mfa: enrollHandler(out) });
    expect(tokens.claims()!.acr).toBe(ACR_MFA);
    expect(await hasFactor('sue', 'strict')).toBe(true);
    const lax = await codeFlow(await client('strict-lax'), new UserAgent(), t.issuer, creds('sue'), CLAIMS, { mfa: totpHandler(out.authenticator!) });
    expect(lax.tokens.claims()!.acr).toBe(ACR_MFA);
  }, SLOW);
});

describe('per role', () => {
  test('a user with a required role enrolls at sign-in; removing the last factor is refused while required; with a second one it works', async () => {
    // Signing in to the account pages asks for enrollment first (role ops).
    const out: { authenticator?: Authenticator; recoveryCodes?: string[] } = {};
    const agent = await signInToAccount(t.issuer, creds('olly'), enrollHandler(out));
    expect(out.recoveryCodes).toHaveLength(10);

    const security = await (await agent.get(`${t.issuer}/account/security`)).text();
    expect(text(security)).toContain('Two-step verification is required for your account.');
    const factorId = /name="id" value="([^"]+)"/.exec(security)![1]!;
    const refused = await agent.post(new URL(formAction(security, '/factors/remove'), t.issuer), { ...hiddenInputs(security), kind: 'totp', id: factorId });
    expect(refused.status).toBe(409);
    expect(text(await refused.text())).toContain('This is your last second factor');
    expect(await hasFactor('olly')).toBe(true);

    await enrollTotp(agent, t.issuer, 'Backup phone');
    const page = await (await agent.get(`${t.issuer}/account/security`)).text();
    const removed = await agent.post(new URL(formAction(page, '/factors/remove'), t.issuer), { ...hiddenInputs(page), kind: 'totp', id: factorId });
    expect(removed.status).toBe(303);
    const after = text(await (await agent.get(`${t.issuer}/account/security`)).text());
    expect(after).toContain('Backup phone');
    // Malformed or unknown factors: 404, nothing removed.
    const bad = await agent.post(new URL(formAction(page, '/factors/remove'), t.issuer), { ...hiddenInputs(page), kind: 'sms', id: 'x' });
    expect(bad.status).toBe(404);
    expect(await hasFactor('olly')).toBe(true);
  }, SLOW);

  test('without a required role or policy, the last factor can go, and the recovery codes with it', async () => {
    const { agent } = await signedInBrowser(t.issuer, USER);
    await enrollTotp(agent, t.issuer);
    const page = await (await agent.get(`${t.issuer}/account/security`)).text();
    const id = /name="id" value="([^"]+)"/.exec(page)![1]!;
    const removed = await agent.post(new URL(formAction(page, '/factors/remove'), t.issuer), { ...hiddenInputs(page), kind: 'totp', id });
    expect(removed.status).toBe(303);
    expect(await hasFactor('alice')).toBe(false);
    const user = (await createUserRepository(t.app.store.db).findByUsername('default', 'alice'))!;
    expect(await t.app.platform.mfa.forUser(user.id)).toEqual([]);
  }, SLOW);
});
