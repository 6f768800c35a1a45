import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { scimPatch } from 'scim-patch';
import type { ScimPatchOperation, ScimResource } from 'scim-patch';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { MACHINE_SECRET, machineToken } from './helpers/admin.js';

/**
 * SCIM 2.0 (RFC 7643/7644) at /scim/v2/{tenant}: the request sequences Entra
 * ID and Okta provisioning send (from their public documentation), replayed
 * with every answer checked against the RFC 7643 shapes, PATCH compared with
 * the `scim-patch` library as a reference, and the bad-input list.
 */

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

// RFC 7643 §4.1 / §4.2 / §3.1 (common attributes) as the answers must look.
const meta = z.object({ resourceType: z.enum(['User', 'Group']), location: z.url(), created: z.iso.datetime().optional(), lastModified: z.iso.datetime().optional(), version: z.string().optional() });
const multi = z.array(z.object({ value: z.string(), type: z.string().optional(), primary: z.boolean().optional(), display: z.string().optional(), $ref: z.string().optional() }));
const userShape = z.object({
  schemas: z.array(z.string()).refine((s) => s.includes(USER)),
  id: z.string().min(1), externalId: z.string().optional(), userName: z.string().min(1),
  name: z.object({ formatted: z.string().optional(), givenName: z.string().optional(), familyName: z.string().optional() }).optional(),
  displayName: z.string().optional(), emails: multi.optional(), phoneNumbers: multi.optional(), locale: z.string().optional(),
  active: z.boolean(), groups: multi.optional(), meta,
}).loose().refine((u) => !('password' in u), 'password is never returned');
const groupShape = z.object({
  schemas: z.array(z.string()).refine((s) => s.includes(GROUP)), id: z.string().min(1), displayName: z.string().min(1),
  members: z.array(z.object({ value: z.string(), display: z.string().optional(), type: z.string().optional(), $ref: z.string().optional() })).optional(), meta,
}).loose();
const listShape = z.object({ schemas: z.tuple([z.literal(LIST)]), totalResults: z.number().int().min(0), startIndex: z.number().int().min(1), itemsPerPage: z.number().int().min(0), Resources: z.array(z.unknown()) });
const errorShape = z.object({ schemas: z.tuple([z.literal(ERROR)]), status: z.string(), detail: z.string(), scimType: z.string().optional() });

let t: TestApp;
let token: string;
let globexToken: string;
let readOnlyToken: string;

async function createToken(tenant: string, scopes: string[]): Promise<string> {
  const admin = await machineToken(t.issuer, 'ops', 'identity.admin');
  const res = await fetch(`${t.issuer}/api/admin/v1/api-tokens`, {
    method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'scim', tenant, scopes }),
  });
  return ((await res.json()) as { token: string }).token;
}

interface Answer { status: number; body: Record<string, unknown>; headers: Headers }
async function scim(method: string, path: string, body?: unknown, opts: { token?: string; tenant?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const res = await fetch(`${t.issuer}/scim/v2/${opts.tenant ?? 'acme'}${path}`, {
    method, headers: { authorization: `Bearer ${opts.token ?? token}`, 'content-type': 'application/scim+json', ...opts.headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) as Record<string, unknown> : {}, headers: res.headers };
}
const user = (a: Answer) => userShape.parse(a.body);
const list = (a: Answer) => listShape.parse(a.body);
const error = (a: Answer, status: number, scimType?: string) => {
  expect(a.status).toBe(status);
  const e = errorShape.parse(a.body);
  expect(e.status).toBe(String(status));
  if (scimType) expect(e.scimType).toBe(scimType);
  return e;
};

beforeAll(async () => {
  t = await startTestApp({
    config: {
      tenants: [{ id: 'acme', name: 'Acme' }, { id: 'globex', name: 'Globex' }],
      attributes: [{ tenant: 'acme', name: 'department', type: 'string' }, { tenant: 'acme', name: 'employee_number', type: 'string' }, { tenant: 'acme', name: 'badge', type: 'string' }],
      clients: [{ client_id: 'ops', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], admin_scopes: ['identity.admin'] }],
    },
  });
  token = await createToken('acme', ['users.read', 'users.manage', 'groups.manage']);
  globexToken = await createToken('globex', ['users.read', 'users.manage', 'groups.manage']);
  readOnlyToken = await createToken('acme', ['users.read']);
});
afterAll(async () => {
  await t?.close();
});

describe('Entra ID\'s provisioning sequence (learn.microsoft.com, "Develop a SCIM endpoint")', () => {
  test('users: filter (none), create, get, filter again, PATCH emails[type eq "work"].value and name, disable, delete', async () => {
    const none = await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "Test_User_dfeef4c5-5681-4387-b016-bdf221e82081"')}`);
    expect(list(none)).toMatchObject({ totalResults: 0, Resources: [] });

    const created = await scim('POST', '/Users', {
      schemas: [USER, ENTERPRISE], externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef', userName: 'Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1', active: true,
      emails: [{ primary: true, type: 'work', value: 'Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2b@testuser.com' }],
      meta: { resourceType: 'User' }, name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' }, roles: [],
      [ENTERPRISE]: { department: 'R&D' },
    });
    expect(created.status).toBe(201);
    const u = user(created);
    expect(u).toMatchObject({ externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef', userName: 'Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1', active: true,
      name: { givenName: 'givenName', familyName: 'familyName' }, [ENTERPRISE]: { department: 'R&D' } });
    expect(created.headers.get('location')).toBe(`${t.issuer}/scim/v2/acme/Users/${u.id}`);
    expect(created.headers.get('etag')).toBe(u.meta.version);
    expect(created.headers.get('content-type')).toMatch(/^application\/scim\+json/);

    expect(user(await scim('GET', `/Users/${u.id}`)).id).toBe(u.id);
    const byName = await scim('GET', `/Users?filter=${encodeURIComponent(`userName eq "${u.userName}"`)}`);
    expect(list(byName).totalResults).toBe(1);
    const byExternal = await scim('GET', `/Users?filter=${encodeURIComponent('externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"')}`);
    expect(list(byExternal).Resources.map((r) => (r as { id: string }).id)).toEqual([u.id]);

    const ops = [
      { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@microsoft.com' },
      { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
    ];
    const patched = await scim('PATCH', `/Users/${u.id}`, { schemas: [PATCH], Operations: ops });
    expect(patched.status).toBe(200);
    const reference = scimPatch(structuredClone(created.body) as unknown as ScimResource, ops.map((o) => ({ ...o, op: o.op.toLowerCase() })) as ScimPatchOperation[]) as unknown as Record<string, unknown>;
    expect(user(patched).emails).toEqual(reference.emails);
    expect(user(patched).name?.familyName).toBe((reference.name as { familyName: string }).familyName);

    // Entra ID sends the boolean as a string.
    const disabled = await scim('PATCH', `/Users/${u.id}`, { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    expect(user(disabled).active).toBe(false);
    expect((await t.app.platform.users.findById(u.id))?.status).toBe('disabled');

    expect((await scim('DELETE', `/Users/${u.id}`)).status).toBe(204);
    error(await scim('GET', `/Users/${u.id}`), 404);
  });

  test('groups: create, filter by displayName without members, add and remove members, delete', async () => {
    const member = user(await scim('POST', '/Users', { schemas: [USER], userName: 'member1', emails: [{ value: 'member1@acme.test', primary: true }] }));
    const created = await scim('POST', '/Groups', { externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159', displayName: 'displayName', meta: { resourceType: 'Group' }, schemas: [GROUP] });
    expect(created.status).toBe(201);
    const g = groupShape.parse(created.body);
    const found = await scim('GET', `/Groups?excludedAttributes=members&filter=${encodeURIComponent('displayName eq "displayName"')}`);
    expect(list(found).Resources).toHaveLength(1);
    expect((list(found).Resources[0] as Record<string, unknown>).members).toBeUndefined();

    const added = await scim('PATCH', `/Groups/${g.id}`, { schemas: [PATCH], Operations: [{ op: 'Add', path: 'members', value: [{ $ref: null, value: member.id }] }] });
    expect(added.status).toBe(200);
    expect(groupShape.parse(added.body).members?.map((m) => m.value)).toEqual([member.id]);
    expect(user(await scim('GET', `/Users/${member.id}`)).groups?.map((x) => x.value)).toEqual([g.id]);
    const removed = await scim('PATCH', `/Groups/${g.id}`, { schemas: [PATCH], Operations: [{ op: 'Remove', path: 'members', value: [{ $ref: null, value: member.id }] }] });
    expect(groupShape.parse(removed.body).members).toEqual([]);
    const del = await scim('DELETE', `/Groups/${g.id}`);
    expect(del.status, JSON.stringify(del.body)).toBe(204);
    error(await scim('GET', `/Groups/${g.id}`), 404);
  });
});

describe('Okta\'s provisioning sequence (developer.okta.com, "SCIM 2.0 protocol")', () => {
  test('users: lookup, create with password and groups [], get, PUT, deactivate with the no-path PATCH', async () => {
    expect(list(await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "test.user@okta.local"')}&startIndex=1&count=100`)).totalResults).toBe(0);
    const created = await scim('POST', '/Users', {
      schemas: [USER], userName: 'test.user@okta.local', name: { givenName: 'Test', familyName: 'User' },
      emails: [{ primary: true, value: 'test.user@okta.local', type: 'work' }], displayName: 'Test User', locale: 'en-US',
      externalId: '00ujl29u0le5T6Aj10h7', groups: [], password: '1mz050nq-long-enough', active: true,
    });
    expect(created.status).toBe(201);
    const u = user(created);
    expect(u).toMatchObject({ userName: 'test.user@okta.local', emails: [{ value: 'test.user@okta.local', primary: true }], locale: 'en', active: true });
    expect((await t.app.identity.verifyLogin('acme', 'test.user@okta.local', '1mz050nq-long-enough', {})).ok).toBe(true);

    const put = await scim('PUT', `/Users/${u.id}`, {
      schemas: [USER], id: u.id, userName: 'test.user@okta.local', name: { givenName: 'Another', familyName: 'User' },
      emails: [{ primary: true, value: 'test.user@okta.local', type: 'work' }], active: true, externalId: '00ujl29u0le5T6Aj10h7',
    }, { headers: { 'if-match': u.meta.version! } });
    expect(put.status).toBe(200);
    expect(user(put).name).toMatchObject({ givenName: 'Another', familyName: 'User' });
    expect(put.headers.get('etag')).not.toBe(u.meta.version);

    const off = await scim('PATCH', `/Users/${u.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(user(off).active).toBe(false);
    expect((await t.app.identity.verifyLogin('acme', 'test.user@okta.local', '1mz050nq-long-enough', {})).ok).toBe(false);
    const on = await scim('PATCH', `/Users/${u.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', value: { active: true } }] });
    expect(user(on).active).toBe(true);
  });

  test('groups: create, rename through replace (with the id echoed), add, remove by value filter, PUT members', async () => {
    const a = user(await scim('POST', '/Users', { schemas: [USER], userName: 'okta-a', emails: [{ value: 'a@okta.local', primary: true }] }));
    const b = user(await scim('POST', '/Users', { schemas: [USER], userName: 'okta-b', emails: [{ value: 'b@okta.local', primary: true }] }));
    const g = groupShape.parse((await scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Test SCIMv2', members: [] })).body);
    expect(g.id).toBe('Test-SCIMv2');
    const renamed = await scim('PATCH', `/Groups/${g.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', value: { id: g.id, displayName: 'Test SCIMv2 (renamed)' } }] });
    expect(groupShape.parse(renamed.body).displayName).toBe('Test SCIMv2 (renamed)');
    await scim('PATCH', `/Groups/${g.id}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: a.id, display: 'okta-a' }, { value: b.id }] }] });
    const afterRemove = await scim('PATCH', `/Groups/${g.id}`, { schemas: [PATCH], Operations: [{ op: 'remove', path: `members[value eq "${a.id}"]` }] });
    expect(groupShape.parse(afterRemove.body).members?.map((m) => m.value)).toEqual([b.id]);
    const put = await scim('PUT', `/Groups/${g.id}`, { schemas: [GROUP], id: g.id, displayName: 'Test SCIMv2 (renamed)', members: [{ value: a.id }] });
    expect(groupShape.parse(put.body).members?.map((m) => m.value)).toEqual([a.id]);
  });
});

describe('RFC 7644 features', () => {
  test('filters (co, sw, ew, pr, gt, and/or/not, value paths), paging, sorting and attribute projection', async () => {
    for (const [n, given] of [['f1', 'Alma'], ['f2', 'Albert'], ['f3', 'Bruno'], ['f4', 'Alice']] as const) {
      await scim('POST', '/Users', { schemas: [USER], userName: `filter-${n}`, name: { givenName: given, familyName: 'Filter' }, emails: [{ value: `${n}@filters.test`, type: 'work', primary: true }] });
    }
    const q = async (filter: string, extra = '') => list(await scim('GET', `/Users?filter=${encodeURIComponent(filter)}${extra}`));
    expect((await q('name.givenName sw "al" and name.familyName eq "Filter"')).totalResults).toBe(3);
    expect((await q('emails[type eq "work" and value ew "@filters.test"]')).totalResults).toBe(4);
    expect((await q('userName co "filter-f" and not (name.givenName sw "Al")')).totalResults).toBe(1);
    expect((await q('(userName eq "filter-f1" or userName eq "filter-f3") and emails pr')).totalResults).toBe(2);
    expect((await q(`meta.created gt "2000-01-01T00:00:00Z" and userName sw "filter-"`)).totalResults).toBe(4);
    const page = await q('userName sw "filter-"', '&sortBy=name.givenName&sortOrder=descending&startIndex=2&count=2&attributes=userName,name.givenName');
    expect(page).toMatchObject({ totalResults: 4, startIndex: 2, itemsPerPage: 2 });
    expect(page.Resources.map((r) => (r as { name: { givenName: string } }).name.givenName)).toEqual(['Alma', 'Alice']);
    expect(Object.keys(page.Resources[0] as object).sort()).toEqual(['id', 'name', 'schemas', 'userName']);
    const excluded = await q('userName eq "filter-f1"', '&excludedAttributes=emails,name');
    expect(excluded.Resources[0]).not.toHaveProperty('emails');
    expect(excluded.Resources[0]).toHaveProperty('userName');
    // POST /.search does the same.
    const search = await scim('POST', '/Users/.search', { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], filter: 'userName sw "filter-"', count: 1 });
    expect(list(search)).toMatchObject({ totalResults: 4, itemsPerPage: 1 });
  });

  test('ETag and If-Match: a stale version is 412 and changes nothing', async () => {
    const u = user(await scim('POST', '/Users', { schemas: [USER], userName: 'etag-user', emails: [{ value: 'etag@acme.test', primary: true }] }));
    await scim('PATCH', `/Users/${u.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'name.givenName', value: 'First' }] });
    const stale = await scim('PATCH', `/Users/${u.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'name.givenName', value: 'Second' }] }, { headers: { 'if-match': u.meta.version! } });
    error(stale, 412);
    expect(user(await scim('GET', `/Users/${u.id}`)).name?.givenName).toBe('First');
  });

  test('discovery: ServiceProviderConfig, ResourceTypes, Schemas (with the tenant\'s attributes)', async () => {
    const spc = await scim('GET', '/ServiceProviderConfig');
    expect(spc.body).toMatchObject({ patch: { supported: true }, filter: { supported: true }, etag: { supported: true }, bulk: { supported: false } });
    expect(list(await scim('GET', '/ResourceTypes')).Resources.map((r) => (r as { id: string }).id)).toEqual(['User', 'Group']);
    const schemas = list(await scim('GET', '/Schemas')).Resources as Array<{ id: string; attributes: Array<{ name: string }> }>;
    expect(schemas.map((s) => s.id)).toContain(USER);
    const tessera = schemas.find((s) => s.id === 'urn:ietf:params:scim:schemas:extension:tessera:2.0:User')!;
    // Enterprise-extension attributes (department, employee_number) are listed there; the others here.
    expect(tessera.attributes.map((a) => a.name)).toEqual(['badge']);
  });
});

describe('bad input gets SCIM errors and writes nothing', () => {
  test.each([
    ['an invalid filter', 'GET', `/Users?filter=${encodeURIComponent('userName eq')}`, undefined, 400, 'invalidFilter'],
    ['a filter on an unknown attribute', 'GET', `/Users?filter=${encodeURIComponent('shoeSize gt 40')}`, undefined, 400, 'invalidFilter'],
    ['an unknown attribute', 'POST', '/Users', { schemas: [USER], userName: 'x1', shoeSize: 44 }, 400, 'invalidPath'],
    ['a wrong type', 'POST', '/Users', { schemas: [USER], userName: 'x2', active: 'sometimes' }, 400, 'invalidValue'],
    ['no userName', 'POST', '/Users', { schemas: [USER] }, 400, 'invalidValue'],
    ['not JSON', 'POST', '/Users', '{', 400, 'invalidSyntax'],
  ])('%s', async (_name, method, path, body, status, scimType) => {
    const before = list(await scim('GET', '/Users?count=0')).totalResults;
    const res = typeof body === 'string'
      ? await fetch(`${t.issuer}/scim/v2/acme${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' }, body })
        .then(async (r) => ({ status: r.status, body: await r.json() as Record<string, unknown>, headers: r.headers }))
      : await scim(method, path, body);
    error(res, status, scimType);
    expect(list(await scim('GET', '/Users?count=0')).totalResults).toBe(before);
  });

  test('PATCH paths that do not exist, a read-only attribute, a duplicate userName', async () => {
    const u = user(await scim('POST', '/Users', { schemas: [USER], userName: 'patchy', emails: [{ value: 'patchy@acme.test', primary: true }] }));
    error(await scim('PATCH', `/Users/${u.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'shoeSize', value: 44 }] }), 400, 'invalidPath');
    error(await scim('PATCH', `/Users/${u.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'addresses[type eq "home"].zip', value: '1' }] }), 400);
    error(await scim('PATCH', `/Users/${u.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'id', value: 'other' }] }), 400, 'mutability');
    error(await scim('PATCH', `/Users/${u.id}`, { schemas: [PATCH], Operations: [{ op: 'remove' }] }), 400, 'noTarget');
    error(await scim('PATCH', `/Users/${u.id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'userName', value: 'etag-user' }] }), 409, 'uniqueness');
    error(await scim('POST', '/Users', { schemas: [USER], userName: 'patchy' }), 409, 'uniqueness');
    expect(user(await scim('GET', `/Users/${u.id}`)).userName).toBe('patchy');
  });

  test('tokens: another tenant\'s, one without the scope, a revoked one, none', async () => {
    const u = user(await scim('POST', '/Users', { schemas: [USER], userName: 'isolated', emails: [{ value: 'isolated@acme.test', primary: true }] }));
    // globex's token on acme's URL, and on its own URL asking for acme's user.
    error(await scim('GET', `/Users/${u.id}`, undefined, { token: globexToken }), 401);
    error(await scim('GET', `/Users/${u.id}`, undefined, { token: globexToken, tenant: 'globex' }), 404);
    expect(list(await scim('GET', '/Users', undefined, { token: globexToken, tenant: 'globex' })).totalResults).toBe(0);
    error(await scim('POST', '/Users', { schemas: [USER], userName: 'nope' }, { token: readOnlyToken }), 403);
    expect(user(await scim('GET', `/Users/${u.id}`, undefined, { token: readOnlyToken })).id).toBe(u.id);
    const res = await fetch(`${t.issuer}/scim/v2/acme/Users`);
    error({ status: res.status, body: await res.json() as Record<string, unknown>, headers: res.headers }, 401);
    // Revoked: refused at once.
    const admin = await machineToken(t.issuer, 'ops', 'identity.admin');
    const doomed = await createToken('acme', ['users.read']);
    const tokens = await (await fetch(`${t.issuer}/api/admin/v1/api-tokens?tenant=acme`, { headers: { authorization: `Bearer ${admin}` } })).json() as { items: Array<{ id: string; hint: string }> };
    const id = tokens.items.find((x) => doomed.startsWith(x.hint))!.id;
    expect((await fetch(`${t.issuer}/api/admin/v1/api-tokens/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } })).status).toBe(204);
    error(await scim('GET', '/Users', undefined, { token: doomed }), 401);
  });
});
