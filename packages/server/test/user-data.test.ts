/**
 * Custom attributes and external ids (docs/users.md) through the admin API
 * and the configuration file: the typed schema, values with type, required,
 * unique and ownership checks, external ids, lookups, ETags. Machine callers
 * get their tokens with client_credentials; `secutix-sync` is a client with
 * `attribute_source: secutix`, i.e. that source.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { MACHINE_SECRET, adminApi, adminConfig, machineToken, person } from './helpers/admin.js';
import { parseDeclarative } from '../src/config/load.js';
import { applyDeclarativeConfig } from '../src/config/apply.js';
import { ConfigError } from '../src/config/errors.js';
import { signedInBrowser } from './helpers/account.js';
import { submitForm } from './helpers/forms.js';
import { PASSWORD } from './helpers/admin.js';

type UserBody = {
  id: string; username: string | null; attributes: Record<string, unknown>; external_ids: Record<string, string>; activated_at: string | null;
};
type Page = { items: UserBody[]; next_cursor: string | null };

const ATTRIBUTES = [
  { name: 'member_no', type: 'number', unique: true, tenant: 'acme' },
  { name: 'team', type: 'enum', values: ['red', 'blue'], tenant: 'acme', account: 'edit' },
  { name: 'tags', type: 'string_list', tenant: 'acme' },
  { name: 'birthday', type: 'date', tenant: 'acme', account: 'read' },
  { name: 'newsletter', type: 'boolean', tenant: 'acme' },
  { name: 'contact_id', type: 'string', unique: true, source: 'secutix', tenant: 'acme', account: 'read' },
  { name: 'loyalty', type: 'string', source: 'secutix', tenant: 'acme' },
  { name: 'cost_center', type: 'string', required: true, tenant: 'globex' },
  { name: 'desk', type: 'string', account: 'edit', description: 'Desk' },
  { name: 'size', type: 'enum', values: ['s', 'm'], account: 'edit' },
  { name: 'badge', type: 'string', source: 'secutix', account: 'read' },
  { name: 'secret_note', type: 'string' },
];

let t: TestApp;
let api: ReturnType<typeof adminApi>;
let admin: string;
let sync: string;
let globex: string;

beforeAll(async () => {
  const base = adminConfig({
    users: [person('erin', { tenant: 'acme', attributes: { team: 'red' } }), person('dora', { attributes: { secret_note: 'hidden from dora' } })],
    clients: [
      { client_id: 'secutix-sync', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], tenant: 'acme',
        admin_scopes: ['identity.admin'], attribute_source: 'secutix' },
      { client_id: 'globex-bot', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], tenant: 'globex', admin_scopes: ['identity.admin'] },
    ],
  });
  t = await startTestApp({ config: { ...base, attributes: ATTRIBUTES } });
  api = adminApi(t.issuer);
  admin = await machineToken(t.issuer, 'acme-bot');
  sync = await machineToken(t.issuer, 'secutix-sync', 'identity.admin');
  globex = await machineToken(t.issuer, 'globex-bot', 'identity.admin');
}, 90_000);
afterAll(async () => {
  await t?.close();
});

const create = (token: string, body: Record<string, unknown>) => api<UserBody & { fields?: Record<string, string>; error?: string }>('POST', '/users', { token, body });

describe('attribute schema', () => {
  test('the file declares it; the admin API lists it per tenant', async () => {
    const res = await api<{ items: { name: string; type: string; source: string | null; unique: boolean }[] }>('GET', '/tenants/acme/attributes', { token: admin });
    expect(res.status).toBe(200);
    expect(res.body.items.map((a) => a.name)).toEqual(['birthday', 'contact_id', 'loyalty', 'member_no', 'newsletter', 'tags', 'team']);
    expect(res.body.items.find((a) => a.name === 'contact_id')).toMatchObject({ type: 'string', source: 'secutix', unique: true });
    // Another tenant's schema is not the caller's to see.
    expect((await api('GET', '/tenants/globex/attributes', { token: admin })).status).toBe(404);
  });

  test('PUT declares and changes an attribute; bad definitions are 400 with a field code', async () => {
    const put = (name: string, body: unknown) => api<{ fields?: Record<string, string>; type?: string }>('PUT', `/tenants/acme/attributes/${name}`, { token: admin, body });
    expect((await put('nickname_2', { type: 'string' })).status).toBe(200);
    expect((await put('nickname_2', { type: 'string', description: 'second nickname' })).status).toBe(200);
    const badEnum = await put('size', { type: 'enum' });
    expect(badEnum.status).toBe(400);
    expect(badEnum.body.fields).toEqual({ values: 'required' });
    expect((await put('Bad-Name', { type: 'string' })).status).toBe(400);
    const edit = await put('owned', { type: 'string', source: 'crm', account: 'edit' });
    expect(edit.status).toBe(400);
    expect(edit.body.fields).toEqual({ account: 'owned_by_source' });
    expect((await put('x', { type: 'text' })).body.fields).toEqual({ type: 'invalid' });
    expect((await put('x', { type: 'string', extra: 1 })).body.fields).toEqual({ extra: 'unknown_field' });
  });

  test('a type change the stored values do not fit, or unique over duplicates, is refused (409)', async () => {
    const put = (body: unknown) => api<{ fields?: Record<string, string> }>('PUT', '/tenants/acme/attributes/shoe', { token: admin, body });
    await put({ type: 'string' });
    await create(admin, { tenant: 'acme', username: 'shoe1', attributes: { shoe: '42' } });
    await create(admin, { tenant: 'acme', username: 'shoe2', attributes: { shoe: '42' } });
    const toNumber = await put({ type: 'number' });
    expect(toNumber.status).toBe(409);
    expect(toNumber.body.fields).toEqual({ type: 'values_do_not_fit' });
    const unique = await put({ type: 'string', unique: true });
    expect(unique.status).toBe(409);
    expect(unique.body.fields).toEqual({ unique: 'duplicates' });
    // An enum that still holds every stored value is fine.
    expect((await put({ type: 'enum', values: ['42', '43'] })).status).toBe(200);
  });

  test('DELETE removes the attribute and every value of it', async () => {
    await api('PUT', '/tenants/acme/attributes/temp', { token: admin, body: { type: 'string' } });
    const u = await create(admin, { tenant: 'acme', username: 'tempuser', attributes: { temp: 'x' } });
    expect(u.body.attributes).toEqual({ temp: 'x' });
    expect((await api('DELETE', '/tenants/acme/attributes/temp', { token: admin })).status).toBe(204);
    expect((await api<UserBody>('GET', `/users/${u.body.id}`, { token: admin })).body.attributes).toEqual({});
    expect((await api('DELETE', '/tenants/acme/attributes/temp', { token: admin })).status).toBe(404);
  });
});

describe('values on users', () => {
  test('create with typed attributes and external ids; the answer and GET show them', async () => {
    const res = await create(sync, {
      tenant: 'acme', username: 'val', email: 'val@example.test',
      attributes: { member_no: 1001, team: 'blue', tags: [' a ', 'b'], birthday: '1990-02-28', newsletter: true, contact_id: 'C-1', loyalty: 'gold' },
      external_ids: { secutix: '123', crm: 'crm:9' },
    });
    expect(res.status).toBe(201);
    expect(res.body.attributes).toEqual({ birthday: '1990-02-28', contact_id: 'C-1', loyalty: 'gold', member_no: 1001, newsletter: true, tags: ['a', 'b'], team: 'blue' });
    expect(res.body.external_ids).toEqual({ crm: 'crm:9', secutix: '123' });
    expect(res.body.activated_at).toBeNull();
    const read = await api<UserBody>('GET', `/users/${res.body.id}`, { token: admin });
    expect(read.body).toMatchObject({ attributes: res.body.attributes, external_ids: res.body.external_ids });
  });

  test('wrong types, unknown attributes, bad dates and enum values: 400 naming each field, nothing created', async () => {
    const res = await create(admin, {
      tenant: 'acme', username: 'bad1',
      attributes: { member_no: '12', team: 'green', birthday: '1990-02-30', tags: 'a', newsletter: 'yes', shoe_size: 9 },
      external_ids: { 'Bad Source': '1', secutix: ' padded ' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('validation_failed');
    expect(res.body.fields).toEqual({
      'attributes.member_no': 'invalid_type', 'attributes.team': 'invalid_choice', 'attributes.birthday': 'invalid_date',
      'attributes.tags': 'invalid_type', 'attributes.newsletter': 'invalid_type', 'attributes.shoe_size': 'unknown_attribute',
      'external_ids.Bad Source': 'invalid_source', 'external_ids.secutix': 'invalid',
    });
    expect((await api<Page>('GET', '/users?tenant=acme&username=bad1', { token: admin })).body.items).toEqual([]);
  });

  test('required attributes must be given at creation', async () => {
    const res = await create(globex, { username: 'nocc' });
    expect(res.status).toBe(400);
    expect(res.body.fields).toEqual({ 'attributes.cost_center': 'required' });
    const ok = await create(globex, { username: 'withcc', attributes: { cost_center: 'CC-1' } });
    expect(ok.status).toBe(201);
    const clear = await api<{ fields?: Record<string, string> }>('PATCH', `/users/${ok.body.id}`, {
      token: globex, body: { attributes: { cost_center: null } }, headers: { 'if-match': ok.headers.get('etag')! },
    });
    expect(clear.status).toBe(400);
    expect(clear.body.fields).toEqual({ 'attributes.cost_center': 'required' });
  });

  test('unique values and external ids belong to one user: 409 taken, and nothing half-written', async () => {
    await create(admin, { tenant: 'acme', username: 'u1', attributes: { member_no: 7 }, external_ids: { shop: 's-1' } });
    const dup = await create(admin, { tenant: 'acme', username: 'u2', attributes: { member_no: 7 }, external_ids: { shop: 's-1' } });
    expect(dup.status).toBe(409);
    expect(dup.body.fields).toEqual({ 'attributes.member_no': 'taken', 'external_ids.shop': 'taken' });
    expect((await api<Page>('GET', '/users?tenant=acme&username=u2', { token: admin })).body.items).toEqual([]);
    // Another tenant has its own values.
    const platform = await machineToken(t.issuer, 'ops-bot');
    expect((await create(platform, { tenant: 'default', username: 'u1other', external_ids: { shop: 's-1' } })).status).toBe(201);
  });

  test('PATCH merges attributes and external ids (null removes), changes the ETag, and needs the current one', async () => {
    const u = await create(admin, { tenant: 'acme', username: 'patchy', attributes: { team: 'red', tags: ['x'] }, external_ids: { shop: 'p-1' } });
    const etag = u.headers.get('etag')!;
    const patched = await api<UserBody>('PATCH', `/users/${u.body.id}`, {
      token: admin, body: { given_name: 'Pat', attributes: { team: 'blue', tags: null }, external_ids: { shop: null, crm: 'c-7' } }, headers: { 'if-match': etag },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.attributes).toEqual({ team: 'blue' });
    expect(patched.body.external_ids).toEqual({ crm: 'c-7' });
    expect(patched.headers.get('etag')).not.toBe(etag);
    const stale = await api('PATCH', `/users/${u.body.id}`, { token: admin, body: { attributes: { team: 'red' } }, headers: { 'if-match': etag } });
    expect(stale.status).toBe(412);
    expect((await api<UserBody>('GET', `/users/${u.body.id}`, { token: admin })).body.attributes).toEqual({ team: 'blue' });
  });
});

describe('source ownership', () => {
  test('an administrator cannot change a source-owned attribute; the source can', async () => {
    const u = await create(sync, { tenant: 'acme', username: 'owned1', attributes: { contact_id: 'C-77', loyalty: 'silver' } });
    expect(u.status).toBe(201);
    const byAdmin = await api<{ fields?: Record<string, string> }>('PATCH', `/users/${u.body.id}`, {
      token: admin, body: { attributes: { loyalty: 'gold', team: 'red' } }, headers: { 'if-match': u.headers.get('etag')! },
    });
    expect(byAdmin.status).toBe(400);
    expect(byAdmin.body.fields).toEqual({ 'attributes.loyalty': 'owned_by_source' });
    const cleared = await api<{ fields?: Record<string, string> }>('PATCH', `/users/${u.body.id}`, {
      token: admin, body: { attributes: { contact_id: null } }, headers: { 'if-match': u.headers.get('etag')! },
    });
    expect(cleared.body.fields).toEqual({ 'attributes.contact_id': 'owned_by_source' });
    const bySource = await api<UserBody>('PATCH', `/users/${u.body.id}`, {
      token: sync, body: { attributes: { loyalty: 'gold' } }, headers: { 'if-match': u.headers.get('etag')! },
    });
    expect(bySource.status).toBe(200);
    expect(bySource.body.attributes).toMatchObject({ loyalty: 'gold', contact_id: 'C-77' });
    // Repeating the value a source-owned attribute already has is not a write, so an administrator may send it back unchanged.
    const same = await api('PATCH', `/users/${u.body.id}`, {
      token: admin, body: { attributes: { loyalty: 'gold' }, given_name: 'Own' }, headers: { 'if-match': bySource.headers.get('etag')! },
    });
    expect(same.status).toBe(200);
  });

  test('an administrator creating a user cannot set source-owned values', async () => {
    const res = await create(admin, { tenant: 'acme', username: 'owned2', attributes: { contact_id: 'C-9' } });
    expect(res.status).toBe(400);
    expect(res.body.fields).toEqual({ 'attributes.contact_id': 'owned_by_source' });
  });

  test('the configuration file never sets a source-owned attribute', async () => {
    const cfg = parseDeclarative(JSON.stringify({ tenants: [{ id: 'acme', name: 'Acme Corp' }], attributes: ATTRIBUTES.filter((a) => a.tenant === 'acme'),
      users: [{ username: 'filey', tenant: 'acme', attributes: { loyalty: 'gold' } }] }));
    const err = await applyDeclarativeConfig(cfg, { db: t.app.store.db }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain('users[0].attributes.loyalty: owned by source "secutix"; the configuration file never sets it');
    // Nothing from that file was written.
    expect((await api<Page>('GET', '/users?tenant=acme&username=filey', { token: admin })).body.items).toEqual([]);
  });

  test('re-applying the file sets its attributes once, then changes nothing', async () => {
    const cfg = parseDeclarative(JSON.stringify({ tenants: [{ id: 'acme', name: 'Acme Corp' }], attributes: ATTRIBUTES.filter((a) => a.tenant === 'acme'),
      users: [{ username: 'filey2', tenant: 'acme', attributes: { team: 'blue', tags: ['q'] } }] }));
    await applyDeclarativeConfig(cfg, { db: t.app.store.db });
    expect(await applyDeclarativeConfig(cfg, { db: t.app.store.db })).toMatchObject({ created: 0, updated: 0 });
    const u = (await api<Page>('GET', '/users?tenant=acme&username=filey2', { token: admin })).body.items[0]!;
    expect(u.attributes).toEqual({ tags: ['q'], team: 'blue' });
    const erin = (await api<Page>('GET', '/users?tenant=acme&username=erin', { token: admin })).body.items[0]!;
    expect(erin.attributes).toEqual({ team: 'red' });
  });

  test('a file attribute that names an unknown tenant or repeats is refused at load', () => {
    expect(() => parseDeclarative(JSON.stringify({ attributes: [{ name: 'a', type: 'string', tenant: 'nope' }, { name: 'a', type: 'string', tenant: 'nope' }] })))
      .toThrow(/attributes\[1\]\.name: duplicate name "nope\/a"[\s\S]*attributes\[0\]\.tenant: unknown tenant "nope"/);
  });
});

describe('lookup', () => {
  test('by external id and by a unique attribute: the one user, in the caller\'s tenant only', async () => {
    const u = await create(sync, { tenant: 'acme', username: 'findme', attributes: { member_no: 4242, contact_id: 'C:42' }, external_ids: { secutix: '9:9' } });
    const byExt = await api<Page>('GET', '/users?tenant=acme&external_id=secutix:9:9', { token: admin });
    expect(byExt.body.items.map((x) => x.id)).toEqual([u.body.id]);
    expect((await api<Page>('GET', '/users?tenant=acme&attribute=member_no:4242', { token: admin })).body.items.map((x) => x.id)).toEqual([u.body.id]);
    expect((await api<Page>('GET', '/users?tenant=acme&attribute=contact_id:C:42', { token: admin })).body.items.map((x) => x.id)).toEqual([u.body.id]);
    // Combined with other filters: all must match.
    expect((await api<Page>('GET', '/users?tenant=acme&external_id=secutix:9:9&username=other', { token: admin })).body.items).toEqual([]);
    expect((await api<Page>('GET', '/users?tenant=acme&external_id=secutix:nope', { token: admin })).body.items).toEqual([]);
    // A non-unique attribute has no index: nothing is found by it.
    expect((await api<Page>('GET', '/users?tenant=acme&attribute=team:red', { token: admin })).body.items).toEqual([]);
    // Malformed: 400 with the field.
    const bad = await api<{ fields?: Record<string, string> }>('GET', '/users?tenant=acme&external_id=nosource', { token: admin });
    expect(bad.status).toBe(400);
    expect(bad.body.fields).toEqual({ external_id: 'invalid' });
    // Another tenant's administrator finds nothing there.
    expect((await api('GET', '/users?tenant=acme&external_id=secutix:9:9', { token: globex })).status).toBe(404);
  });
});

describe('/account/details', () => {
  test('source-owned values are read-only; account: edit attributes can be changed by the user, nothing else', async () => {
    const dora = (await t.app.platform.users.findByUsername('default', 'dora'))!;
    await t.app.platform.userData.update({ admin: false, source: 'secutix' }, dora, { attributes: { badge: 'B-7' } });
    const { agent } = await signedInBrowser(t.issuer, { username: 'dora', password: PASSWORD });
    const page = await (await agent.get(`${t.issuer}/account/details`)).text();
    expect(page).toContain('data-attribute="badge">B-7');
    expect(page).toContain('Managed by secutix');
    expect(page).toContain('name="attr_desk"');
    expect(page).not.toContain('name="attr_badge"');
    expect(page).not.toContain('hidden from dora');
    // The form changes desk; a forged badge field is ignored.
    const saved = await submitForm(agent, t.issuer, '/account/details', { attr_desk: '4.12', attr_size: 'm', attr_badge: 'forged' }, '/account/details');
    expect(saved.status).toBe(303);
    expect((await t.app.platform.userData.dataOf(dora.id)).attributes).toEqual({ badge: 'B-7', desk: '4.12', secret_note: 'hidden from dora', size: 'm' });
    const bad = await submitForm(agent, t.issuer, '/account/details', { attr_desk: '4.12', attr_size: 'xl' }, '/account/details');
    expect(bad.status).toBe(400);
    expect((await t.app.platform.userData.dataOf(dora.id)).attributes.size).toBe('m');
  }, 60_000);

  test('the service refuses a self caller anything but account: edit attributes', async () => {
    const dora = (await t.app.platform.users.findByUsername('default', 'dora'))!;
    const err = await t.app.platform.userData.update({ admin: false, source: null, self: true }, dora, { attributes: { badge: 'X', secret_note: 'y' } }).catch((e: unknown) => e);
    expect((err as { fields: Record<string, string> }).fields).toEqual({ 'attributes.badge': 'read_only', 'attributes.secret_note': 'read_only' });
  });
});
