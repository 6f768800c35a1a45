/**
 * The repository contract for user data (attribute schema, values, external
 * ids; userdata/repository.ts), run on every engine like
 * storage.contract.test.ts: SQLite always, PostgreSQL when TEST_DATABASE_URL is set.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ENGINES } from './helpers/engines.js';
import type { TestStore } from './helpers/app.js';
import { ConflictError, NotFoundError, StaleWriteError } from '../src/storage/errors.js';
import { createTenantRepository, createUserRepository } from '../src/identity/repository.js';
import type { UserRepository } from '../src/identity/repository.js';
import { createUserDataRepository } from '../src/userdata/repository.js';
import type { UserDataRepository } from '../src/userdata/repository.js';
import { attributeDefinitionSchema } from '../src/userdata/model.js';

const decl = (d: Record<string, unknown>) => attributeDefinitionSchema.parse(d);

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

for (const engine of ENGINES) {
  describe(`user data storage contract (${engine.name})`, () => {
    let t: TestStore;
    let repo: UserDataRepository;
    let users: UserRepository;
    let a: string;
    let b: string;

    beforeEach(async () => {
      t = await engine.open();
      await t.store.migrate();
      const tenants = createTenantRepository(t.store.db);
      await tenants.upsert('acme', 'Acme');
      await tenants.upsert('globex', 'Globex');
      users = createUserRepository(t.store.db);
      repo = createUserDataRepository(t.store.db);
      a = (await users.create({ tenantId: 'acme', username: 'a' })).id;
      b = (await users.create({ tenantId: 'acme', username: 'b' })).id;
      await repo.saveDefinition('acme', decl({ name: 'member_no', type: 'number', unique: true }));
      await repo.saveDefinition('acme', decl({ name: 'tags', type: 'string_list' }));
    });
    afterEach(async () => {
      await t.dispose();
    });

    test('definitions: created, unchanged, updated; per tenant; unknown tenant is NotFound', async () => {
      const team = decl({ name: 'team', type: 'enum', values: ['red', 'blue'], source: 'hr', account: 'read' });
      expect(await repo.saveDefinition('acme', team)).toBe('created');
      expect(await repo.saveDefinition('acme', team)).toBe('unchanged');
      expect(await repo.saveDefinition('acme', { ...team, values: ['red', 'blue', 'green'] })).toBe('updated');
      expect(await repo.findDefinition('acme', 'team')).toMatchObject({ type: 'enum', values: ['red', 'blue', 'green'], source: 'hr', account: 'read', unique: false });
      expect((await repo.listDefinitions('acme')).map((d) => d.name)).toEqual(['member_no', 'tags', 'team']);
      expect(await repo.listDefinitions('globex')).toEqual([]);
      expect(await rejection(repo.saveDefinition('nope', team))).toBeInstanceOf(NotFoundError);
      expect(await repo.findDefinition('acme', 'te\u0000am')).toBeUndefined();
    });

    test('values and external ids are written together, read back typed, and bump the version', async () => {
      const before = (await users.findById(a))!.version;
      await repo.write(a, 'acme', { set: [{ name: 'member_no', value: 5, lookup: '5' }, { name: 'tags', value: ['x', 'y'], lookup: null }], externalIds: { shop: '1', crm: 'c:1' } });
      expect(await repo.dataOf(a)).toEqual({ attributes: { member_no: 5, tags: ['x', 'y'] }, externalIds: { crm: 'c:1', shop: '1' } });
      expect((await users.findById(a))!.version).toBe(before + 1);
      expect(await repo.findUserByLookup('acme', 'member_no', '5')).toBe(a);
      expect(await repo.findUserByExternalId('acme', 'shop', '1')).toBe(a);
      expect(await repo.findUserByExternalId('globex', 'shop', '1')).toBeUndefined();
      expect(await repo.findUserByExternalId('acme', 'shop', '1\u0000')).toBeUndefined();
      const many = await repo.dataOfMany([a, b]);
      expect(many.get(b)).toEqual({ attributes: {}, externalIds: {} });
      // Replace one external id, remove a value.
      await repo.write(a, 'acme', { remove: ['tags'], externalIds: { shop: '2', crm: null } });
      expect(await repo.dataOf(a)).toEqual({ attributes: { member_no: 5 }, externalIds: { shop: '2' } });
      expect(await repo.findUserByExternalId('acme', 'shop', '1')).toBeUndefined();
    });

    test('a taken unique value or external id is a ConflictError naming it; the whole write is rolled back', async () => {
      await repo.write(a, 'acme', { set: [{ name: 'member_no', value: 5, lookup: '5' }], externalIds: { shop: '1' } });
      const v = (await users.findById(b))!.version;
      const dupValue = await rejection(repo.write(b, 'acme', { set: [{ name: 'tags', value: ['t'], lookup: null }, { name: 'member_no', value: 5, lookup: '5' }] }));
      expect(dupValue).toBeInstanceOf(ConflictError);
      expect((dupValue as ConflictError).detail).toBe('attribute:member_no');
      expect((dupValue as { code?: unknown }).code).toBeUndefined();
      const dupId = await rejection(repo.write(b, 'acme', { externalIds: { shop: '1' } }));
      expect((dupId as ConflictError).detail).toBe('external_id:shop');
      expect(await repo.dataOf(b)).toEqual({ attributes: {}, externalIds: {} });
      expect((await users.findById(b))!.version).toBe(v);
      // Non-unique values (lookup null) never collide.
      await repo.write(a, 'acme', { set: [{ name: 'tags', value: ['t'], lookup: null }] });
      await repo.write(b, 'acme', { set: [{ name: 'tags', value: ['t'], lookup: null }] });
    });

    test('a conditional write at a stale version is StaleWrite; an unknown user is NotFound', async () => {
      const v = (await users.findById(a))!.version;
      await repo.write(a, 'acme', { externalIds: { shop: '1' } }, v);
      expect(await rejection(repo.write(a, 'acme', { externalIds: { shop: '2' } }, v))).toBeInstanceOf(StaleWriteError);
      expect(await rejection(repo.write('nobody', 'acme', { externalIds: { shop: '3' } }))).toBeInstanceOf(NotFoundError);
      expect((await repo.dataOf(a)).externalIds).toEqual({ shop: '1' });
    });

    test('schema helpers: counts, pages of values, duplicates, lookups switched on and off, delete', async () => {
      await repo.saveDefinition('acme', decl({ name: 'code', type: 'string' }));
      await repo.write(a, 'acme', { set: [{ name: 'code', value: 'X', lookup: null }] });
      await repo.write(b, 'acme', { set: [{ name: 'code', value: 'X', lookup: null }] });
      expect(await repo.countValues('acme', 'code')).toBe(2);
      expect(await repo.hasDuplicates('acme', 'code')).toBe(true);
      const first = await repo.valuesOf('acme', 'code', null, 1);
      const second = await repo.valuesOf('acme', 'code', first[0]!.userId, 1);
      expect([...first, ...second].map((r) => r.value)).toEqual(['X', 'X']);
      expect(await rejection(repo.setLookups('acme', 'code', true))).toBeInstanceOf(ConflictError);
      expect(await repo.findUserByLookup('acme', 'code', 'X')).toBeUndefined();
      await repo.write(b, 'acme', { set: [{ name: 'code', value: 'Y', lookup: null }] });
      expect(await repo.hasDuplicates('acme', 'code')).toBe(false);
      await repo.setLookups('acme', 'code', true);
      expect(await repo.findUserByLookup('acme', 'code', 'Y')).toBe(b);
      expect(await repo.deleteDefinition('acme', 'code')).toBe(true);
      expect(await repo.deleteDefinition('acme', 'code')).toBe(false);
      expect(await repo.countValues('acme', 'code')).toBe(0);
      expect((await repo.dataOf(b)).attributes).toEqual({});
    });

    test('deleting a user deletes its values and external ids', async () => {
      await repo.write(a, 'acme', { set: [{ name: 'member_no', value: 5, lookup: '5' }], externalIds: { shop: '1' } });
      await users.delete(a);
      expect(await repo.findUserByLookup('acme', 'member_no', '5')).toBeUndefined();
      expect(await repo.findUserByExternalId('acme', 'shop', '1')).toBeUndefined();
      const c = (await users.create({ tenantId: 'acme', username: 'c' })).id;
      await repo.write(c, 'acme', { set: [{ name: 'member_no', value: 5, lookup: '5' }], externalIds: { shop: '1' } });
    });
  });
}
