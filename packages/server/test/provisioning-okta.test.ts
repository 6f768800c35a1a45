import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Client } from '@okta/okta-sdk-nodejs';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { firstLink, startSmtp } from './helpers/smtp.js';
import { UserAgent } from './helpers/agent.js';
import { submitForm } from './helpers/forms.js';
import type { TestSmtp } from './helpers/smtp.js';
import { MACHINE_SECRET, machineToken } from './helpers/admin.js';

/**
 * The Okta-compatible Users API driven by Okta's own Node.js SDK
 * (@okta/okta-sdk-nodejs 8), unchanged, with an SSWS API token
 * (docs/provisioning.md#okta).
 */

let t: TestApp;
let smtp: TestSmtp;
let token: string;
let otherTenantToken: string;
let okta: Client;

async function createToken(tenant: string, scopes: string[]): Promise<string> {
  // An operator's machine client with the admin API's identity scope (clients need no step-up).
  const admin = await machineToken(t.issuer, 'ops', 'identity.admin');
  const res = await fetch(`${t.issuer}/api/admin/v1/api-tokens`, {
    method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `test ${tenant}`, tenant, scopes }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

// `testing.disableHttpsCheck`: the SDK refuses plain-http org URLs otherwise (the test platform is on loopback http).
const client = (apiToken: string) => new Client({ orgUrl: `${t.issuer}/compat/okta`, token: apiToken, testing: { disableHttpsCheck: true } } as ConstructorParameters<typeof Client>[0]);

beforeAll(async () => {
  smtp = await startSmtp();
  t = await startTestApp({
    env: { SMTP_URL: smtp.url },
    config: {
      tenants: [{ id: 'acme', name: 'Acme' }, { id: 'globex', name: 'Globex' }],
      roles: [{ name: 'sales', tenant: 'acme' }],
      attributes: [{ tenant: 'acme', name: 'employee_number', type: 'string' }],
      users: [{ username: 'existing', email: 'existing@acme.test', tenant: 'acme', password: 'existing-password-1' }],
      clients: [{ client_id: 'ops', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], admin_scopes: ['identity.admin'] }],
    },
  });
  token = await createToken('acme', ['users.read', 'users.manage', 'groups.manage']);
  otherTenantToken = await createToken('globex', ['users.read', 'users.manage']);
  okta = client(token);
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

describe('the seed\'s sequence with the Okta SDK', () => {
  test('look up by email (404), create with activate (mail), look up, update, activate, deactivate, delete', async () => {
    // Not there yet: the SDK's own error for a 404.
    const missing = await okta.userApi.getUser({ userId: 'ada@acme.test' }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 404, errorCode: 'E0000007' });

    const created = await okta.userApi.createUser({
      activate: true,
      body: { profile: { login: 'ada@acme.test', email: 'ada@acme.test', firstName: 'Ada', lastName: 'Byron', employeeNumber: 'E-17' } },
    });
    expect(created.status).toBe('PROVISIONED');
    expect(created.profile).toMatchObject({ login: 'ada@acme.test', email: 'ada@acme.test', firstName: 'Ada', lastName: 'Byron', employeeNumber: 'E-17' });
    const mail = await smtp.waitFor((m) => m.to === 'ada@acme.test');
    expect(mail.text).toContain('/activate?token=');

    const found = await okta.userApi.getUser({ userId: 'ada@acme.test' });
    expect(found.id).toBe(created.id);

    const updated = await okta.userApi.updateUser({ userId: created.id!, user: { profile: { lastName: 'Lovelace' } } });
    expect(updated.profile).toMatchObject({ firstName: 'Ada', lastName: 'Lovelace', email: 'ada@acme.test' });

    // Activating a PROVISIONED user sends the activation mail again.
    await okta.userApi.activateUser({ userId: created.id!, sendEmail: true });

    // The person follows the (latest) link and sets a password: Okta's status follows.
    const second = await smtp.waitFor((m) => m.to === 'ada@acme.test' && m !== mail);
    const link = firstLink(second.text, '/activate');
    const agent = new UserAgent();
    await agent.get(link);
    const done = await submitForm(agent, t.issuer, link.slice(t.issuer.length), { password: 'ada chooses a long password', password_confirm: 'ada chooses a long password' }, '/activate');
    expect(done.status).toBe(200);
    expect((await okta.userApi.getUser({ userId: 'ada@acme.test' })).status).toBe('ACTIVE');

    await okta.userApi.deactivateUser({ userId: created.id! });
    expect((await okta.userApi.getUser({ userId: created.id! })).status).toBe('DEPROVISIONED');
    // Okta's delete: a deactivated user is deleted.
    await okta.userApi.deleteUser({ userId: created.id! });
    const gone = await okta.userApi.getUser({ userId: created.id! }).catch((e: unknown) => e);
    expect(gone).toMatchObject({ status: 404, errorCode: 'E0000007' });
  });

  test('list with a filter, a search and pagination (Link headers)', async () => {
    for (let i = 0; i < 5; i++) {
      await okta.userApi.createUser({
        activate: true,
        body: { profile: { login: `page${i}`, email: `page${i}@acme.test`, firstName: 'Page', lastName: `Number${i}` }, credentials: { password: { value: `long enough password ${i}` } } },
      });
    }
    const seen: string[] = [];
    const collection = await okta.userApi.listUsers({ search: 'profile.lastName sw "Number"', limit: 2 });
    for await (const u of collection) seen.push(u!.profile!.login!);
    expect(seen.sort()).toEqual(['page0', 'page1', 'page2', 'page3', 'page4']);

    const active = await okta.userApi.listUsers({ filter: 'status eq "ACTIVE" and profile.login eq "page3"' });
    const list: string[] = [];
    for await (const u of active) list.push(u!.profile!.login!);
    expect(list).toEqual(['page3']);

    // Raw: the Link header names the next page.
    const raw = await fetch(`${t.issuer}/compat/okta/api/v1/users?limit=2&search=${encodeURIComponent('profile.firstName eq "Page"')}`, { headers: { authorization: `SSWS ${token}` } });
    expect(raw.headers.get('link')).toMatch(/<[^>]+after=[^>]+>; rel="next"/);
    expect(raw.headers.get('x-rate-limit-limit')).toBe('600');
    expect(Number(raw.headers.get('x-rate-limit-remaining'))).toBeLessThan(600);
  });

  test('create ACTIVE with a password; the user signs in with it; lifecycle suspend / unsuspend / reset_password', async () => {
    const u = await okta.userApi.createUser({
      activate: true,
      body: { profile: { login: 'grace', email: 'grace@acme.test', firstName: 'Grace', lastName: 'Hopper' }, credentials: { password: { value: 'a long enough password 9' } } },
    });
    expect(u.status).toBe('ACTIVE');
    expect((await t.app.identity.verifyLogin('acme', 'grace', 'a long enough password 9', {})).ok).toBe(true);
    await okta.userApi.suspendUser({ userId: u.id! });
    expect((await okta.userApi.getUser({ userId: 'grace' })).status).toBe('SUSPENDED');
    expect((await t.app.identity.verifyLogin('acme', 'grace', 'a long enough password 9', {})).ok).toBe(false);
    await okta.userApi.unsuspendUser({ userId: u.id! });
    expect((await okta.userApi.getUser({ userId: 'grace' })).status).toBe('ACTIVE');
    const reset = await okta.userApi.generateResetPasswordToken({ userId: u.id!, sendEmail: false });
    expect(reset.resetPasswordUrl).toMatch(/\/password\/reset\?token=/);
    expect((await okta.userApi.getUser({ userId: 'grace' })).status).toBe('RECOVERY');
  });
});

describe('errors in Okta\'s shape', () => {
  const call = (path: string, init: RequestInit & { token?: string } = {}) => fetch(`${t.issuer}/compat/okta/api/v1${path}`, {
    ...init, headers: { authorization: `SSWS ${init.token ?? token}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
  });

  test('validation: E0000001 with causes; a duplicate login; a malformed body; an unknown profile key', async () => {
    const noLogin = await call('/users', { method: 'POST', body: JSON.stringify({ profile: { email: 'x@acme.test' } }) });
    expect(noLogin.status).toBe(400);
    expect(await noLogin.json()).toMatchObject({ errorCode: 'E0000001', errorCauses: [{ errorSummary: expect.stringContaining('login') }] });
    const dup = await call('/users', { method: 'POST', body: JSON.stringify({ profile: { login: 'existing', email: 'other@acme.test' } }) });
    expect(dup.status).toBe(400);
    expect(await dup.json()).toMatchObject({ errorCode: 'E0000001', errorCauses: [{ errorSummary: 'login: An object with this field already exists in the current organization' }] });
    const bad = await call('/users', { method: 'POST', body: '{not json' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ errorCode: 'E0000003' });
    const unknown = await call('/users', { method: 'POST', body: JSON.stringify({ profile: { login: 'zed', email: 'zed@acme.test', favouriteColour: 'blue' } }) });
    expect(unknown.status).toBe(400);
    expect(await call('/users/zed')).toHaveProperty('status', 404);
  });

  test('E0000011 for a bad, revoked or missing token; E0000006 without the scope; another tenant\'s users are not found', async () => {
    expect((await call('/users/existing', { token: 'tsr_nope' })).status).toBe(401);
    const noAuth = await fetch(`${t.issuer}/compat/okta/api/v1/users/existing`);
    expect(noAuth.status).toBe(401);
    expect(await noAuth.json()).toMatchObject({ errorCode: 'E0000011' });
    const readOnly = await createToken('acme', ['users.read']);
    const refused = await call('/users', { method: 'POST', token: readOnly, body: JSON.stringify({ profile: { login: 'r', email: 'r@acme.test' } }) });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ errorCode: 'E0000006' });
    expect((await call('/users/existing', { token: readOnly })).status).toBe(200);
    // Tenant isolation: globex's token does not see acme's user (404, as if it did not exist).
    expect((await call('/users/existing', { token: otherTenantToken })).status).toBe(404);
    const globexList = await (await call('/users', { token: otherTenantToken })).json() as unknown[];
    expect(globexList).toEqual([]);
  });

  test('an invalid filter is E0000031; logins in paths are not logged', async () => {
    const res = await call(`/users?filter=${encodeURIComponent('status eq')}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errorCode: 'E0000031' });
    await call('/users/existing@acme.test');
    expect(t.logs.some((l) => l.includes('existing@acme.test'))).toBe(false);
    expect(t.logs.some((l) => l.includes('/compat/okta/api/v1/users/:idOrLogin'))).toBe(true);
  });
});

describe('groups (Tessera roles)', () => {
  test('create, add a member, list members and the user\'s groups, remove; admin is neither listed nor grantable', async () => {
    const g = await okta.groupApi.createGroup({ group: { profile: { name: 'support', description: 'Support desk' } } });
    expect(g.id).toBe('support');
    const existing = await okta.userApi.getUser({ userId: 'existing' });
    await okta.groupApi.assignUserToGroup({ groupId: 'support', userId: existing.id! });
    const members: string[] = [];
    for await (const u of await okta.groupApi.listGroupUsers({ groupId: 'support' })) members.push(u!.profile!.login!);
    expect(members).toEqual(['existing']);
    const names: string[] = [];
    for await (const gr of await okta.groupApi.listGroups()) names.push(gr!.profile!.name!);
    expect(names.sort()).toEqual(['sales', 'support']);
    const admin = await fetch(`${t.issuer}/compat/okta/api/v1/groups/admin/users/${existing.id}`, { method: 'PUT', headers: { authorization: `SSWS ${token}` } });
    expect(admin.status).toBe(404);
    await okta.groupApi.unassignUserFromGroup({ groupId: 'support', userId: existing.id! });
    const after: string[] = [];
    for await (const u of await okta.groupApi.listGroupUsers({ groupId: 'support' })) after.push(u!.id!);
    expect(after).toEqual([]);
  });
});
