/**
 * Identity admin API, users: access rules (tokens, scopes, roles, clients'
 * admin_scopes, tenants), search and pagination, create/read/update with
 * ETags, disable/enable/unlock/delete, roles, memberships, sessions, and the
 * RFC 9470 step-up for sensitive operations. Tokens are obtained as real
 * callers get them: a code flow through the hosted pages (with TOTP for the
 * MFA level) for people, client_credentials for machines.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import {
  ACME_ADMIN, GLOBEX_ADMIN, OPAL, PASSWORD, PLATFORM_ADMIN, adminApi, adminConfig, enrollingToken, machineToken, person, personToken, steppedUpToken,
  withAuthenticator,
} from './helpers/admin.js';
import { API, CONF_SECRET, USER } from './fixtures.js';
import { createAuditRepository } from '../src/audit/repository.js';
import { ACR_MFA } from '../src/oidc/acr.js';

const SLOW = 90_000;
type UserBody = { id: string; username: string | null; email: string | null; status: string; roles: string[]; email_verified: boolean; locked: boolean; tenant: string };
type Page = { items: UserBody[]; next_cursor: string | null };

let t: TestApp;
let api: ReturnType<typeof adminApi>;
const tokens: Record<'bot' | 'acmeBot' | 'admin' | 'adminMfa' | 'ada' | 'adaMfa' | 'alice', string> = {} as never;

beforeAll(async () => {
  t = await startTestApp({
    config: adminConfig({
      users: [
        person('bob', { given_name: 'Bob', family_name: 'Müller' }), person('carol', { given_name: 'Carol', family_name: 'Mueller' }),
        person('dave'), person('sam'), person('erin', { tenant: 'acme', given_name: 'Erin', family_name: 'Acme' }),
        person('gina', { tenant: 'globex' }),
      ],
    }),
  });
  api = adminApi(t.issuer);
  Object.assign(tokens, {
    bot: await machineToken(t.issuer, 'ops-bot'),
    acmeBot: await machineToken(t.issuer, 'acme-bot'),
    // opal never enrolls a factor: her sign-ins stay at the password level.
    admin: await personToken(t.issuer, OPAL),
    // Before ada enrolls (afterwards, every sign-in of hers asks for the second factor).
    ada: await personToken(t.issuer, ACME_ADMIN, { client: 'acme-console' }),
    alice: await personToken(t.issuer, USER),
  });
  tokens.adminMfa = await steppedUpToken(t.issuer, PLATFORM_ADMIN, await withAuthenticator(t.issuer, PLATFORM_ADMIN));
  tokens.adaMfa = (await enrollingToken(t.issuer, ACME_ADMIN, 'acme-console-mfa')).token;
}, 150_000);
afterAll(async () => {
  await t?.close();
});

const byUsername = async (username: string, tenant = 'default') =>
  (await api<Page>('GET', `/users?tenant=${tenant}&username=${username}`, { token: tokens.bot })).body.items[0]!;
const audit = () => createAuditRepository(t.app.store.db);

describe('who may call', () => {
  test('no token: 401 with a bare Bearer challenge; garbage: 401 invalid_token', async () => {
    const none = await api('GET', '/users');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="tessera-admin"');
    const garbage = await api('GET', '/users', { token: 'a.b.c' });
    expect(garbage.status).toBe(401);
    expect(garbage.body.error).toBe('invalid_token');
    expect(garbage.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  test('a token for another API (aud) is refused', async () => {
    const res = await fetch(`${t.issuer}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('ops-bot:machine-secret-0123456789-abcdefghijklmn').toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: 'read' }).toString(),
    });
    const { access_token: other } = await res.json() as { access_token: string };
    const answer = await api('GET', '/users', { token: other });
    expect(answer.status).toBe(401);
    expect(answer.body.error).toBe('invalid_token');
  });

  test('a user without the admin role: 403 access_denied; a client without admin_scopes gets no admin token (invalid_scope)', async () => {
    const alice = await api('GET', '/users', { token: tokens.alice });
    expect(alice.status).toBe(403);
    expect(alice.body.error).toBe('access_denied');
    // Client grants (oidc/client-grants.ts): the token endpoint refuses before the admin API would.
    await expect(machineToken(t.issuer, 'plain-bot')).rejects.toThrow(/"error":"invalid_scope".*"scope":"identity.admin"/);
  });

  test('an administrator\'s token issued to a third-party client (after consent) is refused', async () => {
    const config = await discover(t.issuer, { clientId: 'third-party', clientSecret: CONF_SECRET, auth: 'basic' });
    const { tokens: issued } = await codeFlow(config, new UserAgent(), t.issuer, OPAL, { scope: 'openid identity.admin', resource: `${t.issuer}/api/admin` });
    const res = await api('GET', '/users', { token: issued.access_token });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('access_denied');
  }, SLOW);

  test('a token without identity.admin: 403 insufficient_scope naming the scope', async () => {
    const token = await personToken(t.issuer, OPAL, { scope: 'openid auth.admin' });
    const res = await api('GET', '/users', { token });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('insufficient_scope');
    expect(res.headers.get('www-authenticate')).toContain('scope="identity.admin"');
    // The same token does reach the authorization-server admin API.
    expect((await api('GET', '/clients', { token })).status).toBe(200);
  }, SLOW);

  test('an administrator disabled after the token was issued is refused at once', async () => {
    const gusToken = await personToken(t.issuer, GLOBEX_ADMIN, { client: 'globex-console' });
    expect((await api('GET', '/users', { token: gusToken })).status).toBe(200);
    const gus = await byUsername('gus', 'globex');
    expect((await api('POST', `/users/${gus.id}/disable`, { token: tokens.bot })).status).toBe(200);
    const after = await api('GET', '/users', { token: gusToken });
    expect(after.status).toBe(401);
    expect(after.body.error).toBe('invalid_token');
    expect((await api('POST', `/users/${gus.id}/enable`, { token: tokens.bot })).status).toBe(200);
  }, SLOW);
});

describe('create, read, search', () => {
  test('create: 201 with Location and ETag; GET answers the same ETag', async () => {
    const res = await api<UserBody>('POST', '/users', {
      token: tokens.admin,
      body: { username: 'newton', email: 'Newton@Example.test', given_name: 'Isaac', family_name: 'Newton', password: PASSWORD, roles: ['editor'] },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ username: 'newton', email: 'Newton@Example.test', tenant: 'default', status: 'active', roles: ['editor'] });
    expect(res.body).not.toHaveProperty('password_hash');
    expect(res.headers.get('location')).toBe(`/api/admin/v1/users/${res.body.id}`);
    const read = await api('GET', `/users/${res.body.id}`, { token: tokens.admin });
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe(res.headers.get('etag'));
    expect(read.headers.get('cache-control')).toBe('no-store');
    const [entry] = await audit().query({ subjectId: res.body.id, action: 'user.created' });
    expect(entry).toMatchObject({ actorId: (await byUsername('opal')).id, tenantId: 'default', details: { actor_type: 'user', via: 'admin_api' } });
  });

  test('invalid payloads: field-level 400s', async () => {
    const bad = await api('POST', '/users', {
      token: tokens.admin, body: { username: 'has space', email: 'not-an-address', phone_number: '0301234', colour: 'blue', roles: ['ghost'] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({
      error: 'validation_failed',
      fields: { username: 'invalid_username', email: 'invalid_email', phone_number: 'invalid_phone', colour: 'unknown_field' },
    });
    const neither = await api('POST', '/users', { token: tokens.admin, body: { given_name: 'Nobody' } });
    expect(neither.body.fields).toMatchObject({ username: 'required' });
    const weak = await api('POST', '/users', { token: tokens.admin, body: { username: 'weak', password: 'short' } });
    expect(weak.body.fields).toEqual({ password: 'too_short' });
    const role = await api('POST', '/users', { token: tokens.admin, body: { username: 'roleless', roles: ['ghost'] } });
    expect(role.body.fields).toEqual({ 'roles.0': 'unknown_role' });
    const types = await api('POST', '/users', { token: tokens.admin, body: { username: 42, email_verified: 'yes' } });
    expect(types.body.fields).toEqual({ username: 'invalid', email_verified: 'invalid' });
    const form = await fetch(`${t.issuer}/api/admin/v1/users`, {
      method: 'POST', headers: { authorization: `Bearer ${tokens.admin}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=x',
    });
    expect(form.status).toBe(415);
  });

  test('duplicates: 409 naming the field (email compared case-insensitively)', async () => {
    const email = await api('POST', '/users', { token: tokens.admin, body: { username: 'other', email: 'ALICE@example.test' } });
    expect(email.status).toBe(409);
    expect(email.body).toMatchObject({ error: 'conflict', fields: { email: 'taken' } });
    const name = await api('POST', '/users', { token: tokens.admin, body: { username: 'Alice' } });
    expect(name.body).toMatchObject({ error: 'conflict', fields: { username: 'taken' } });
    // Unique per tenant: the same address is free in acme.
    expect((await api('POST', '/users', { token: tokens.admin, body: { tenant: 'acme', email: 'alice@example.test' } })).status).toBe(201);
  });

  test('unknown and malformed ids: 404', async () => {
    expect((await api('GET', '/users/00000000-0000-4000-8000-000000000000', { token: tokens.admin })).status).toBe(404);
    expect((await api('GET', '/users/%00', { token: tokens.admin })).status).toBe(404);
    expect((await api('GET', `/users/${'x'.repeat(150)}`, { token: tokens.admin })).status).toBe(404);
    // Longer than any id: refused while routing, as everywhere in Tessera.
    expect((await api('GET', `/users/${'x'.repeat(600)}`, { token: tokens.admin })).status).toBe(414);
  });

  test('search: exact email and username (case-insensitive), name prefix of either name, status', async () => {
    const find = async (q: string) => (await api<Page>('GET', `/users?${q}`, { token: tokens.admin })).body.items.map((u) => u.username).sort();
    expect(await find('email=BOB%40example.test')).toEqual(['bob']);
    expect(await find('username=CAROL')).toEqual(['carol']);
    expect(await find('name_prefix=m%C3%BC')).toEqual(['bob']); // "mü": Müller, not Mueller
    expect(await find('name_prefix=mu')).toEqual(['carol']);
    expect(await find('name_prefix=MÜLLER%20b')).toEqual(['bob']); // family-first
    expect(await find('name_prefix=bob%20m')).toEqual(['bob']); // given-first
    expect(await find('name_prefix=isa')).toEqual(['newton']);
    expect(await find('name_prefix=zzz')).toEqual([]);
    expect(await find('status=pending')).toEqual([]);
  });

  test('pagination: every user exactly once, in created order, across pages of 2', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 20; i++) {
      const page: { status: number; body: Page } = await api<Page>('GET', `/users?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: tokens.admin });
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((u) => u.id));
      cursor = page.body.next_cursor;
      if (!cursor) break;
    }
    const all = await api<Page>('GET', '/users?limit=200', { token: tokens.admin });
    expect(seen).toEqual(all.body.items.map((u) => u.id));
    expect(new Set(seen).size).toBe(seen.length);
    expect(all.body.items.every((u) => u.tenant === 'default')).toBe(true);
  });

  test('name-prefix pagination never repeats a user whose both names match', async () => {
    for (const [username, given, family] of [['mm1', 'Mia', 'Moss'], ['mm2', 'Max', 'Mint'], ['mm3', 'Mo', 'Mars']]) {
      expect((await api('POST', '/users', { token: tokens.admin, body: { username, given_name: given, family_name: family } })).status).toBe(201);
    }
    const seen: string[] = [];
    let cursor = '';
    do {
      const page = await api<Page>('GET', `/users?name_prefix=m&limit=1${cursor ? `&cursor=${cursor}` : ''}`, { token: tokens.admin });
      seen.push(...page.body.items.map((u) => u.username!));
      cursor = page.body.next_cursor ?? '';
    } while (cursor);
    expect(seen.filter((u) => u.startsWith('mm')).sort()).toEqual(['mm1', 'mm2', 'mm3']);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining(['bob', 'carol']));
  });

  test('bad query input: 400 with fields', async () => {
    expect((await api('GET', '/users?limit=0', { token: tokens.admin })).body.fields).toEqual({ limit: 'too_small' });
    expect((await api('GET', '/users?limit=many', { token: tokens.admin })).body.fields).toEqual({ limit: 'invalid' });
    expect((await api('GET', '/users?status=asleep', { token: tokens.admin })).body.fields).toEqual({ status: 'invalid' });
    expect((await api('GET', '/users?cursor=garbage', { token: tokens.admin })).body.fields).toEqual({ cursor: 'invalid' });
    expect((await api('GET', '/users?sort=name', { token: tokens.admin })).body.fields).toEqual({ sort: 'unknown_field' });
  });
});

describe('edits with ETag / If-Match', () => {
  test('PATCH needs If-Match (428); a stale one is 412; the current one applies the change', async () => {
    const dave = await api<UserBody>('GET', `/users/${(await byUsername('dave')).id}`, { token: tokens.admin });
    const etag = dave.headers.get('etag')!;
    const missing = await api('PATCH', `/users/${dave.body.id}`, { token: tokens.admin, body: { given_name: 'David' } });
    expect(missing.status).toBe(428);
    expect(missing.body.error).toBe('precondition_required');
    const ok = await api<UserBody>('PATCH', `/users/${dave.body.id}`, { token: tokens.admin, body: { given_name: 'David', email: 'david@example.test' }, headers: { 'if-match': etag } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ email: 'david@example.test', email_verified: false });
    expect(ok.headers.get('etag')).not.toBe(etag);
    const stale = await api('PATCH', `/users/${dave.body.id}`, { token: tokens.admin, body: { given_name: 'Dave' }, headers: { 'if-match': etag } });
    expect(stale.status).toBe(412);
    expect(stale.body.error).toBe('precondition_failed');
    const [entry] = await audit().query({ subjectId: dave.body.id, action: 'user.updated' });
    expect(entry!.details).toMatchObject({ fields: ['email', 'given_name'], actor_type: 'user' });
  });

  test('two concurrent edits from the same read: one wins, the other gets 412', async () => {
    const sam = await api<UserBody>('GET', `/users/${(await byUsername('sam')).id}`, { token: tokens.admin });
    const headers = { 'if-match': sam.headers.get('etag')! };
    const answers = await Promise.all(['Samuel', 'Samantha', 'Sammy'].map((given_name) =>
      api('PATCH', `/users/${sam.body.id}`, { token: tokens.admin, body: { given_name }, headers })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 412, 412]);
  });

  test('PATCH conflicts and invalid changes', async () => {
    const carol = await api<UserBody>('GET', `/users/${(await byUsername('carol')).id}`, { token: tokens.admin });
    const headers = { 'if-match': carol.headers.get('etag')! };
    const taken = await api('PATCH', `/users/${carol.body.id}`, { token: tokens.admin, body: { email: 'bob@example.test' }, headers });
    expect(taken.status).toBe(409);
    expect(taken.body.fields).toEqual({ email: 'taken' });
    const empty = await api('PATCH', `/users/${carol.body.id}`, { token: tokens.admin, body: { email: null, username: null }, headers });
    expect(empty.status).toBe(400);
    const status = await api('PATCH', `/users/${carol.body.id}`, { token: tokens.admin, body: { status: 'active' }, headers });
    expect(status.body.fields).toEqual({ status: 'unknown_field' });
    expect((await api('PATCH', '/users/00000000-0000-4000-8000-000000000000', { token: tokens.admin, body: {}, headers })).status).toBe(404);
  });
});

describe('step-up (RFC 9470) and account actions', () => {
  test('disable with a password-only sign-in: 401 insufficient_user_authentication, nothing changes', async () => {
    const bob = await byUsername('bob');
    const res = await api('POST', `/users/${bob.id}/disable`, { token: tokens.admin });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('insufficient_user_authentication');
    const challenge = res.headers.get('www-authenticate')!;
    expect(challenge).toMatch(/^Bearer error="insufficient_user_authentication"/);
    expect(challenge).toContain(`acr_values="${ACR_MFA}"`);
    expect(challenge).toContain('max_age=600');
    expect((await byUsername('bob')).status).toBe('active');
  });

  test('disable after MFA: the account and its sessions and tokens end; enable brings it back', async () => {
    const spa = await discover(t.issuer, { clientId: 'spa' });
    const { tokens: issued } = await codeFlow(spa, new UserAgent(), t.issuer, { username: 'bob', password: PASSWORD });
    const bob = await byUsername('bob');
    expect((await api<{ items: unknown[] }>('GET', `/users/${bob.id}/sessions`, { token: tokens.admin })).body.items).toHaveLength(1);

    const res = await api<UserBody>('POST', `/users/${bob.id}/disable`, { token: tokens.adminMfa });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('disabled');
    expect((await api<{ items: unknown[] }>('GET', `/users/${bob.id}/sessions`, { token: tokens.admin })).body.items).toEqual([]);
    await expect(oidc.refreshTokenGrant(spa, issued.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const [entry] = await audit().query({ subjectId: bob.id, action: 'user.disabled' });
    expect(entry).toMatchObject({ actorId: (await byUsername('admin')).id, details: { previous_status: 'active', actor_type: 'user' } });

    const enabled = await api<UserBody>('POST', `/users/${bob.id}/enable`, { token: tokens.admin });
    expect(enabled.body.status).toBe('active');
    expect((await api<UserBody>('POST', `/users/${bob.id}/enable`, { token: tokens.admin })).status).toBe(200); // idempotent
  }, SLOW);

  test('a machine caller (client credentials, granted admin_scopes) has no user to step up', async () => {
    const carol = await byUsername('carol');
    expect((await api<UserBody>('POST', `/users/${carol.id}/disable`, { token: tokens.bot })).body.status).toBe('disabled');
    const [entry] = await audit().query({ subjectId: carol.id, action: 'user.disabled' });
    expect(entry).toMatchObject({ actorId: 'ops-bot', details: { actor_type: 'client' } });
    expect((await api<UserBody>('POST', `/users/${carol.id}/enable`, { token: tokens.bot })).body.status).toBe('active');
  });

  test('unlock ends an administrator lock and a temporary lock; enable refuses a locked account', async () => {
    const dave = await byUsername('dave');
    await t.app.platform.users.lock(dave.id, null);
    expect((await api('POST', `/users/${dave.id}/enable`, { token: tokens.admin })).status).toBe(409);
    const unlocked = await api<UserBody>('POST', `/users/${dave.id}/unlock`, { token: tokens.admin });
    expect(unlocked.body).toMatchObject({ status: 'active', locked: false });
    await t.app.platform.users.lock(dave.id, Date.now() + 600_000);
    expect((await api<UserBody>('GET', `/users/${dave.id}`, { token: tokens.admin })).body).toMatchObject({ locked: true, status: 'locked' });
    expect((await api<UserBody>('POST', `/users/${dave.id}/unlock`, { token: tokens.admin })).body).toMatchObject({ locked: false, status: 'active' });
    expect((await audit().query({ subjectId: dave.id, action: 'user.unlocked' }))).toHaveLength(2);
  });

  test('delete: needs step-up; after MFA the user is gone (404) and the audit log keeps the trail', async () => {
    const created = await api<UserBody>('POST', '/users', { token: tokens.admin, body: { username: 'temp', email: 'temp@example.test' } });
    expect((await api('DELETE', `/users/${created.body.id}`, { token: tokens.admin })).status).toBe(401);
    expect((await api('DELETE', `/users/${created.body.id}`, { token: tokens.adminMfa, headers: { 'if-match': '"stale"' } })).status).toBe(412);
    expect((await api('DELETE', `/users/${created.body.id}`, { token: tokens.adminMfa })).status).toBe(204);
    expect((await api('GET', `/users/${created.body.id}`, { token: tokens.admin })).status).toBe(404);
    expect((await api('DELETE', `/users/${created.body.id}`, { token: tokens.adminMfa })).status).toBe(404);
    // The trail stays; personal data in it is erased (docs/webhooks.md#personal-data-that-can-be-erased).
    const entries = await audit().query({ subjectId: created.body.id });
    expect(entries.map((e) => e.action)).toEqual(expect.arrayContaining(['user.created', 'user.deleted']));
    expect(entries.every((e) => e.ip === null && e.userAgent === null)).toBe(true);
    expect(JSON.stringify(entries)).not.toMatch(/temp@example\.test|"username"/);
  });
});

describe('roles and memberships', () => {
  test('roles: a plain change needs no step-up; granting admin does', async () => {
    const sam = await byUsername('sam');
    expect((await api<UserBody>('PUT', `/users/${sam.id}/roles`, { token: tokens.admin, body: { roles: ['editor'] } })).body.roles).toEqual(['editor']);
    const elevate = await api('PUT', `/users/${sam.id}/roles`, { token: tokens.admin, body: { roles: ['editor', 'admin'] } });
    expect(elevate.status).toBe(401);
    expect(elevate.body.error).toBe('insufficient_user_authentication');
    const ok = await api<UserBody>('PUT', `/users/${sam.id}/roles`, { token: tokens.adminMfa, body: { roles: ['editor', 'admin'] } });
    expect(ok.body.roles).toEqual(['admin', 'editor']);
    // Taking admin away is no elevation.
    expect((await api<UserBody>('PUT', `/users/${sam.id}/roles`, { token: tokens.admin, body: { roles: [] } })).body.roles).toEqual([]);
    expect((await api('PUT', `/users/${sam.id}/roles`, { token: tokens.admin, body: { roles: ['ghost'] } })).body.fields).toEqual({ 'roles.0': 'unknown_role' });
    expect((await api('PUT', `/users/${sam.id}/roles`, { token: tokens.admin, body: { tenant: 'acme', roles: [] } })).body.fields).toEqual({ tenant: 'not_a_member' });
    const [entry] = await audit().query({ subjectId: sam.id, action: 'user.roles_changed' });
    expect(entry!.details).toMatchObject({ added: [], removed: ['admin', 'editor'] });
  });

  test('creating an administrator is a role elevation too', async () => {
    expect((await api('POST', '/users', { token: tokens.admin, body: { username: 'boss', roles: ['admin'] } })).status).toBe(401);
    expect((await api('POST', '/users', { token: tokens.adminMfa, body: { username: 'boss', roles: ['admin'] } })).status).toBe(201);
  });

  test('memberships: adding and removing need step-up; roles in the other tenant; the home membership stays', async () => {
    const dave = await byUsername('dave');
    expect((await api('PUT', `/users/${dave.id}/memberships/acme`, { token: tokens.admin })).status).toBe(401);
    const added = await api<{ items: { tenant: string; home: boolean; roles: string[] }[] }>('PUT', `/users/${dave.id}/memberships/acme`, { token: tokens.adminMfa });
    expect(added.body.items).toEqual([{ tenant: 'default', home: true, roles: [] }, { tenant: 'acme', home: false, roles: [] }]);
    expect((await api('PUT', `/users/${dave.id}/roles`, { token: tokens.admin, body: { tenant: 'acme', roles: ['auditor'] } })).status).toBe(200);
    const listed = await api<{ items: { tenant: string; roles: string[] }[] }>('GET', `/users/${dave.id}/memberships`, { token: tokens.admin });
    expect(listed.body.items[1]).toEqual({ tenant: 'acme', home: false, roles: ['auditor'] });
    expect((await api('PUT', `/users/${dave.id}/memberships/nowhere`, { token: tokens.adminMfa })).status).toBe(404);
    expect((await api('DELETE', `/users/${dave.id}/memberships/default`, { token: tokens.adminMfa })).status).toBe(409);
    expect((await api('DELETE', `/users/${dave.id}/memberships/acme`, { token: tokens.admin })).status).toBe(401);
    expect((await api('DELETE', `/users/${dave.id}/memberships/acme`, { token: tokens.adminMfa })).status).toBe(204);
    expect((await api('DELETE', `/users/${dave.id}/memberships/acme`, { token: tokens.adminMfa })).status).toBe(404);
    const actions = (await audit().query({ subjectId: dave.id })).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['membership.added', 'membership.removed']));
  });
});

describe('sessions', () => {
  test('list, sign out of one (unknown: 404), sign out everywhere', async () => {
    const spa = await discover(t.issuer, { clientId: 'spa' });
    for (let i = 0; i < 2; i++) await codeFlow(spa, new UserAgent(), t.issuer, { username: 'sam', password: PASSWORD });
    const sam = await byUsername('sam');
    const list = await api<{ items: { id: string; applications: string[]; ip: string }[] }>('GET', `/users/${sam.id}/sessions`, { token: tokens.admin });
    expect(list.body.items).toHaveLength(2);
    expect(list.body.items[0]).toMatchObject({ applications: ['Example SPA'], ip: '127.0.0.1' });
    expect((await api('DELETE', `/users/${sam.id}/sessions/${list.body.items[0]!.id}`, { token: tokens.admin })).status).toBe(204);
    expect((await api('DELETE', `/users/${sam.id}/sessions/nope`, { token: tokens.admin })).status).toBe(404);
    expect((await api<{ revoked: number }>('DELETE', `/users/${sam.id}/sessions`, { token: tokens.admin })).body).toEqual({ revoked: 1 });
    const [entry] = await audit().query({ subjectId: sam.id, action: 'session.revoked' });
    expect(entry!.actorId).toBe((await byUsername('opal')).id);
  }, SLOW);
});

describe('tenant boundaries', () => {
  test('a tenant administrator sees only their tenant\'s users', async () => {
    const list = await api<Page>('GET', '/users', { token: tokens.ada });
    expect(list.status).toBe(200);
    expect(list.body.items.length).toBeGreaterThan(0);
    expect(list.body.items.every((u) => u.tenant === 'acme')).toBe(true);
    expect((await api('GET', '/users?tenant=default', { token: tokens.ada })).status).toBe(404);
    expect((await api('GET', '/users?tenant=globex', { token: tokens.acmeBot })).status).toBe(404);
    // The platform administrator may search any tenant.
    expect((await api<Page>('GET', '/users?tenant=acme', { token: tokens.admin })).body.items.map((u) => u.tenant)).toContain('acme');
  });

  test('another tenant\'s user is 404 for every operation, even with step-up and If-Match: *', async () => {
    const bob = await byUsername('bob');
    const headers = { 'if-match': '*' };
    for (const token of [tokens.ada, tokens.acmeBot]) {
      expect((await api('GET', `/users/${bob.id}`, { token })).status).toBe(404);
      expect((await api('PATCH', `/users/${bob.id}`, { token, body: { given_name: 'X' }, headers })).status).toBe(404);
      expect((await api('POST', `/users/${bob.id}/enable`, { token })).status).toBe(404);
      expect((await api('PUT', `/users/${bob.id}/roles`, { token, body: { roles: [] } })).status).toBe(404);
      expect((await api('GET', `/users/${bob.id}/sessions`, { token })).status).toBe(404);
      expect((await api('GET', `/users/${bob.id}/memberships`, { token })).status).toBe(404);
      expect((await api('DELETE', `/users/${bob.id}/sessions`, { token })).status).toBe(404);
    }
    expect((await api('POST', `/users/${bob.id}/disable`, { token: tokens.adaMfa })).status).toBe(404);
    expect((await api('DELETE', `/users/${bob.id}`, { token: tokens.adaMfa })).status).toBe(404);
    expect((await byUsername('bob')).status).toBe('active');
  });

  test('a tenant administrator creates users in their tenant only, and cannot add memberships elsewhere', async () => {
    const own = await api<UserBody>('POST', '/users', { token: tokens.ada, body: { username: 'acme-new' } });
    expect(own.body.tenant).toBe('acme');
    expect((await api('POST', '/users', { token: tokens.ada, body: { username: 'sneak', tenant: 'default' } })).body.fields).toEqual({ tenant: 'unknown_tenant' });
    expect((await api('PUT', `/users/${own.body.id}/memberships/globex`, { token: tokens.adaMfa })).status).toBe(404);
    // Within acme, with step-up, a tenant administrator may make another administrator.
    const erin = await byUsername('erin', 'acme');
    expect((await api<UserBody>('PUT', `/users/${erin.id}/roles`, { token: tokens.adaMfa, body: { roles: ['admin'] } })).body.roles).toEqual(['admin']);
  });
});
