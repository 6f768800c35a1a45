/**
 * Identity admin API: tenants (platform administrators), role catalogues,
 * and the audit log query (by subject, actor, action, time range; cursor
 * pagination; tenant administrators see their tenant only).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import {
  ACME_ADMIN, OPAL, PLATFORM_ADMIN, adminApi, adminConfig, machineToken, personToken, steppedUpToken, withAuthenticator,
} from './helpers/admin.js';

type Tenant = { id: string; name: string; policy: Record<string, Record<string, unknown> | unknown> };
type Entry = { id: string; at: string; action: string; tenant: string | null; actor: string | null; subject: string | null; details: Record<string, unknown> };

let t: TestApp;
let api: ReturnType<typeof adminApi>;
const tokens: Record<'opal' | 'adminMfa' | 'ada' | 'acmeBot', string> = {} as never;

beforeAll(async () => {
  t = await startTestApp({ config: adminConfig() });
  api = adminApi(t.issuer);
  Object.assign(tokens, {
    opal: await personToken(t.issuer, OPAL),
    ada: await personToken(t.issuer, ACME_ADMIN, { client: 'acme-console' }),
    acmeBot: await machineToken(t.issuer, 'acme-bot'),
  });
  tokens.adminMfa = await steppedUpToken(t.issuer, PLATFORM_ADMIN, await withAuthenticator(t.issuer, PLATFORM_ADMIN));
}, 120_000);
afterAll(async () => {
  await t?.close();
});

describe('tenants', () => {
  test('a platform administrator lists every tenant; a tenant administrator only theirs', async () => {
    const all = await api<{ items: Tenant[] }>('GET', '/tenants', { token: tokens.opal });
    expect(all.body.items.map((x) => x.id)).toEqual(['acme', 'default', 'globex']);
    expect(all.body.items[0]!.policy).toMatchObject({ registration: 'closed', password: { min_length: 8 } });
    const own = await api<{ items: Tenant[] }>('GET', '/tenants', { token: tokens.ada });
    expect(own.body.items.map((x) => x.id)).toEqual(['acme']);
    expect((await api('GET', '/tenants/acme', { token: tokens.ada })).status).toBe(200);
    expect((await api('GET', '/tenants/default', { token: tokens.ada })).status).toBe(404);
    expect((await api('GET', '/tenants/nowhere', { token: tokens.opal })).status).toBe(404);
  });

  test('create: platform administrators only; 409 for a taken id; field errors', async () => {
    expect((await api('POST', '/tenants', { token: tokens.ada, body: { id: 'initech', name: 'Initech' } })).status).toBe(403);
    const created = await api<Tenant>('POST', '/tenants', { token: tokens.opal, body: { id: 'initech', name: 'Initech', policy: { registration: 'open' } } });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/api/admin/v1/tenants/initech');
    expect(created.body.policy).toMatchObject({ registration: 'open', require_email_verification: true });
    const roles = await api<{ items: { name: string }[] }>('GET', '/tenants/initech/roles', { token: tokens.opal });
    expect(roles.body.items.map((r) => r.name)).toEqual(['admin']);
    const dup = await api('POST', '/tenants', { token: tokens.opal, body: { id: 'initech', name: 'Again' } });
    expect(dup.status).toBe(409);
    expect(dup.body.fields).toEqual({ id: 'taken' });
    const bad = await api('POST', '/tenants', { token: tokens.opal, body: { id: '-bad id', name: '', policy: { password: { min_length: 3 } } } });
    expect(bad.status).toBe(400);
    expect(bad.body.fields).toEqual({ id: 'invalid', name: 'required', 'policy.password.min_length': 'too_small' });
  });

  test('PATCH: If-Match required; a rename needs no step-up, a policy change does; the policy is merged', async () => {
    const read = await api<Tenant>('GET', '/tenants/globex', { token: tokens.opal });
    const etag = read.headers.get('etag')!;
    expect((await api('PATCH', '/tenants/globex', { token: tokens.opal, body: { name: 'Globex Corp' } })).status).toBe(428);
    const renamed = await api<Tenant>('PATCH', '/tenants/globex', { token: tokens.opal, body: { name: 'Globex Corp' }, headers: { 'if-match': etag } });
    expect(renamed.status).toBe(200);
    const next = renamed.headers.get('etag')!;
    expect((await api('PATCH', '/tenants/globex', { token: tokens.opal, body: { name: 'Stale' }, headers: { 'if-match': etag } })).status).toBe(412);
    const policy = { registration: 'open', password: { min_length: 12 } };
    const unstepped = await api('PATCH', '/tenants/globex', { token: tokens.opal, body: { policy }, headers: { 'if-match': next } });
    expect(unstepped.status).toBe(401);
    expect(unstepped.body.error).toBe('insufficient_user_authentication');
    const changed = await api<Tenant>('PATCH', '/tenants/globex', { token: tokens.adminMfa, body: { policy }, headers: { 'if-match': next } });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ name: 'Globex Corp', policy: { registration: 'open', password: { min_length: 12, max_length: 128, forbid_common: true } } });
    expect((await t.app.platform.tenants.findById('globex'))!.policy.password.min_length).toBe(12);
    const invalid = await api('PATCH', '/tenants/globex', {
      token: tokens.adminMfa, body: { policy: { lockout: { max_failures: 0 }, colour: 'red' } }, headers: { 'if-match': changed.headers.get('etag')! },
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.fields).toEqual({ 'policy.lockout.max_failures': 'too_small', 'policy.colour': 'unknown_field' });
    // A tenant administrator may read their tenant but not change it.
    const acme = await api('GET', '/tenants/acme', { token: tokens.ada });
    expect((await api('PATCH', '/tenants/acme', { token: tokens.ada, body: { name: 'Mine' }, headers: { 'if-match': acme.headers.get('etag')! } })).status).toBe(403);
  });
});

describe('roles', () => {
  test('a tenant administrator manages their tenant\'s roles; admin cannot be deleted', async () => {
    const saved = await api('PUT', '/tenants/acme/roles/support', { token: tokens.ada, body: { description: 'Help desk' } });
    expect(saved.body).toEqual({ name: 'support', description: 'Help desk' });
    const list = await api<{ items: { name: string; description: string | null }[] }>('GET', '/tenants/acme/roles', { token: tokens.ada });
    expect(list.body.items.map((r) => r.name)).toEqual(['admin', 'auditor', 'support']);
    expect((await api('DELETE', '/tenants/acme/roles/admin', { token: tokens.ada })).status).toBe(409);
    expect((await api('DELETE', '/tenants/acme/roles/support', { token: tokens.ada })).status).toBe(204);
    expect((await api('DELETE', '/tenants/acme/roles/support', { token: tokens.ada })).status).toBe(404);
    expect((await api('PUT', '/tenants/default/roles/x', { token: tokens.ada, body: {} })).status).toBe(404);
    expect((await api('PUT', '/tenants/acme/roles/bad%20name', { token: tokens.ada, body: {} })).status).toBe(404);
  });

  test('deleting a role takes it from its holders', async () => {
    await api('PUT', '/tenants/acme/roles/temp', { token: tokens.ada, body: {} });
    const users = await api<{ items: { id: string; username: string }[] }>('GET', '/users?username=ada', { token: tokens.ada });
    const ada = users.body.items[0]!;
    expect((await api<{ roles: string[] }>('PUT', `/users/${ada.id}/roles`, { token: tokens.ada, body: { roles: ['admin', 'temp'] } })).body.roles).toEqual(['admin', 'temp']);
    await api('DELETE', '/tenants/acme/roles/temp', { token: tokens.ada });
    expect((await api<{ roles: string[] }>('GET', `/users/${ada.id}`, { token: tokens.ada })).body.roles).toEqual(['admin']);
  });
});

describe('audit log', () => {
  test('every admin write is there, with its actor; filter by subject, actor, action and time range', async () => {
    const from = new Date(Date.now() - 1).toISOString();
    await api('PUT', '/tenants/acme/roles/ops', { token: tokens.acmeBot, body: { description: 'Ops' } });
    const to = new Date(Date.now() + 1).toISOString();
    const bySubject = await api<{ items: Entry[] }>('GET', `/audit?subject=acme&action=role.saved&from=${from}&to=${to}`, { token: tokens.opal });
    expect(bySubject.status).toBe(200);
    expect(bySubject.body.items).toHaveLength(1);
    expect(bySubject.body.items[0]).toMatchObject({ action: 'role.saved', tenant: 'acme', actor: 'acme-bot', details: { role: 'ops', actor_type: 'client', via: 'admin_api' } });
    const byActor = await api<{ items: Entry[] }>('GET', '/audit?actor=acme-bot', { token: tokens.opal });
    expect(byActor.body.items.every((e) => e.actor === 'acme-bot')).toBe(true);
    const before = await api<{ items: Entry[] }>('GET', `/audit?action=role.saved&to=${from}`, { token: tokens.opal });
    expect(before.body.items.some((e) => e.details.role === 'ops')).toBe(false);
    const epoch = await api<{ items: Entry[] }>('GET', `/audit?action=role.saved&from=${Date.parse(from)}`, { token: tokens.opal });
    expect(epoch.body.items.map((e) => e.details.role)).toEqual(['ops']);
  });

  test('newest first, across pages, each entry once', async () => {
    const all = await api<{ items: Entry[] }>('GET', '/audit?limit=200', { token: tokens.opal });
    expect(all.body.items.length).toBeGreaterThan(5);
    const times = all.body.items.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const seen: string[] = [];
    let cursor = '';
    do {
      const page = await api<{ items: Entry[]; next_cursor: string | null }>('GET', `/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`, { token: tokens.opal });
      seen.push(...page.body.items.map((e) => e.id));
      cursor = page.body.next_cursor ?? '';
    } while (cursor);
    expect(seen).toEqual(all.body.items.map((e) => e.id));
  });

  test('a tenant administrator sees their tenant\'s entries only', async () => {
    const own = await api<{ items: Entry[] }>('GET', '/audit?limit=200', { token: tokens.ada });
    expect(own.body.items.length).toBeGreaterThan(0);
    expect(own.body.items.every((e) => e.tenant === 'acme')).toBe(true);
    expect((await api('GET', '/audit?tenant=default', { token: tokens.ada })).status).toBe(404);
    const platform = await api<{ items: Entry[] }>('GET', '/audit?tenant=default&limit=200', { token: tokens.opal });
    expect(platform.body.items.every((e) => e.tenant === 'default')).toBe(true);
  });

  test('bad input: 400 with fields', async () => {
    expect((await api('GET', '/audit?from=yesterday', { token: tokens.opal })).body.fields).toEqual({ from: 'invalid' });
    expect((await api('GET', '/audit?cursor=%7B', { token: tokens.opal })).body.fields).toEqual({ cursor: 'invalid' });
    expect((await api('GET', '/audit?limit=201', { token: tokens.opal })).body.fields).toEqual({ limit: 'too_large' });
  });
});
