import type { Kysely, Selectable } from 'kysely';
import type { AttributeDefinitionsTable, Database } from '../storage/schema.js';
import { ConflictError, NotFoundError, StaleWriteError, inTransaction, mapConflict, mapMissingReference } from '../storage/errors.js';
import { sortBinary } from '../storage/order.js';
import { isStorableText } from '../storage/text.js';
import type { AccountAccess, AttributeDefinition, AttributeDeclaration, AttributeType, AttributeValue } from './model.js';

/** A value to write: the stored JSON value and, for a unique attribute, its lookup key. */
export interface ValueWrite {
  name: string;
  value: AttributeValue;
  lookup: string | null;
}

/** The attributes and external ids of one user. */
export interface UserData {
  attributes: Record<string, AttributeValue>;
  /** source → id */
  externalIds: Record<string, string>;
}

export interface UserDataWrite {
  set?: ValueWrite[];
  remove?: string[];
  /** source → id (null removes the user's id of that source). */
  externalIds?: Record<string, string | null>;
}

/**
 * Storage of the attribute schema, attribute values and external ids. One
 * contract for both engines (test/storage.contract.test.ts).
 */
export interface UserDataRepository {
  listDefinitions(tenantId: string): Promise<AttributeDefinition[]>;
  findDefinition(tenantId: string, name: string): Promise<AttributeDefinition | undefined>;
  /** Creates or replaces a definition; says which (or that nothing changed). @throws NotFoundError for an unknown tenant. */
  saveDefinition(tenantId: string, def: AttributeDeclaration): Promise<'created' | 'updated' | 'unchanged'>;
  /** Deletes a definition and every user's value of it. Says whether it existed. */
  deleteDefinition(tenantId: string, name: string): Promise<boolean>;
  /** How many users have a value (schema changes check these). */
  countValues(tenantId: string, name: string): Promise<number>;
  /** Every stored value of an attribute, in pages (a type change re-checks them). */
  valuesOf(tenantId: string, name: string, after: string | null, limit: number): Promise<{ userId: string; value: AttributeValue }[]>;
  /** True when two users share a value (an attribute about to become unique). */
  hasDuplicates(tenantId: string, name: string): Promise<boolean>;
  /** Fills `lookup` (true: from the value, false: null) for every value of an attribute. */
  setLookups(tenantId: string, name: string, unique: boolean): Promise<void>;

  dataOf(userId: string): Promise<UserData>;
  dataOfMany(userIds: string[]): Promise<Map<string, UserData>>;
  /**
   * Writes values and external ids of a user in one transaction and bumps
   * the user's version (the admin API's ETag): with `expectedVersion`, only
   * while the user is still at it.
   * @throws ConflictError (`attribute:NAME` or `external_id:SOURCE` in `detail`) when a unique value is taken;
   * NotFoundError; StaleWriteError.
   */
  write(userId: string, tenantId: string, change: UserDataWrite, expectedVersion?: number): Promise<void>;
  findUserByExternalId(tenantId: string, source: string, externalId: string): Promise<string | undefined>;
  findUserByLookup(tenantId: string, name: string, lookup: string): Promise<string | undefined>;
}

const toDefinition = (r: Selectable<AttributeDefinitionsTable>): AttributeDefinition => ({
  tenantId: r.tenant_id, name: r.name, type: r.type as AttributeType, required: r.required === 1, unique: r.unique_values === 1,
  source: r.source, values: r.enum_values ? (JSON.parse(r.enum_values) as string[]) : null, account: r.account as AccountAccess,
  description: r.description, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at),
});

const emptyData = (): UserData => ({ attributes: {}, externalIds: {} });

export function createUserDataRepository(db: Kysely<Database>): UserDataRepository {
  const repo: UserDataRepository = {
    async listDefinitions(tenantId) {
      const rows = await db.selectFrom('attribute_definitions').selectAll().where('tenant_id', '=', tenantId).execute();
      return sortBinary(rows, (r) => r.name).map(toDefinition);
    },
    async findDefinition(tenantId, name) {
      if (!isStorableText(name)) return undefined;
      const r = await db.selectFrom('attribute_definitions').selectAll().where('tenant_id', '=', tenantId).where('name', '=', name).executeTakeFirst();
      return r && toDefinition(r);
    },
    async saveDefinition(tenantId, d) {
      const now = Date.now();
      const row = {
        type: d.type, required: d.required ? 1 : 0, unique_values: d.unique ? 1 : 0, source: d.source,
        enum_values: d.values ? JSON.stringify(d.values) : null, account: d.account, description: d.description ?? null,
      };
      const existing = await db.selectFrom('attribute_definitions').selectAll().where('tenant_id', '=', tenantId).where('name', '=', d.name).executeTakeFirst();
      if (!existing) {
        await mapMissingReference('tenant', tenantId, () => mapConflict('attribute', d.name, () => db.insertInto('attribute_definitions')
          .values({ tenant_id: tenantId, name: d.name, ...row, created_at: now, updated_at: now }).execute()));
        return 'created';
      }
      const same = (Object.keys(row) as (keyof typeof row)[]).every((k) => existing[k] === row[k]);
      if (same) return 'unchanged';
      await db.updateTable('attribute_definitions').set({ ...row, updated_at: now }).where('tenant_id', '=', tenantId).where('name', '=', d.name).execute();
      return 'updated';
    },
    async deleteDefinition(tenantId, name) {
      return inTransaction(db, async (trx) => {
        await trx.deleteFrom('user_attributes').where('tenant_id', '=', tenantId).where('name', '=', name).execute();
        const res = await trx.deleteFrom('attribute_definitions').where('tenant_id', '=', tenantId).where('name', '=', name).executeTakeFirst();
        return Number(res.numDeletedRows) > 0;
      });
    },
    async countValues(tenantId, name) {
      const r = await db.selectFrom('user_attributes').select((eb) => eb.fn.countAll<number>().as('n'))
        .where('tenant_id', '=', tenantId).where('name', '=', name).executeTakeFirstOrThrow();
      return Number(r.n);
    },
    async valuesOf(tenantId, name, after, limit) {
      let q = db.selectFrom('user_attributes').select(['user_id', 'value']).where('tenant_id', '=', tenantId).where('name', '=', name);
      if (after !== null) q = q.where('user_id', '>', after);
      const rows = await q.orderBy('user_id').limit(limit).execute();
      return rows.map((r) => ({ userId: r.user_id, value: JSON.parse(r.value) as AttributeValue }));
    },
    async hasDuplicates(tenantId, name) {
      const r = await db.selectFrom('user_attributes').select('value').where('tenant_id', '=', tenantId).where('name', '=', name)
        .groupBy('value').having((eb) => eb.fn.countAll(), '>', 1).limit(1).executeTakeFirst();
      return r !== undefined;
    },
    async setLookups(tenantId, name, unique) {
      // Values are JSON text; a string's lookup is the string itself (see model.ts lookupKey).
      const rows = unique ? await db.selectFrom('user_attributes').select(['user_id', 'value']).where('tenant_id', '=', tenantId).where('name', '=', name).execute() : [];
      await inTransaction(db, async (trx) => {
        if (!unique) {
          await trx.updateTable('user_attributes').set({ lookup: null }).where('tenant_id', '=', tenantId).where('name', '=', name).execute();
          return;
        }
        for (const r of rows) {
          const v = JSON.parse(r.value) as AttributeValue;
          await mapConflict('attribute', `attribute:${name}`, () => trx.updateTable('user_attributes')
            .set({ lookup: typeof v === 'string' ? v : JSON.stringify(v) }).where('user_id', '=', r.user_id).where('name', '=', name).execute());
        }
      });
    },
    async dataOf(userId) {
      return (await repo.dataOfMany([userId])).get(userId) ?? emptyData();
    },
    async dataOfMany(userIds) {
      const out = new Map<string, UserData>(userIds.map((id) => [id, emptyData()]));
      if (!userIds.length) return out;
      const [values, ids] = await Promise.all([
        db.selectFrom('user_attributes').select(['user_id', 'name', 'value']).where('user_id', 'in', userIds).execute(),
        db.selectFrom('user_external_ids').select(['user_id', 'source', 'external_id']).where('user_id', 'in', userIds).execute(),
      ]);
      for (const r of sortBinary(values, (v) => v.name)) out.get(r.user_id)!.attributes[r.name] = JSON.parse(r.value) as AttributeValue;
      for (const r of sortBinary(ids, (v) => v.source)) out.get(r.user_id)!.externalIds[r.source] = r.external_id;
      return out;
    },
    async write(userId, tenantId, change, expectedVersion) {
      await inTransaction(db, async (trx) => {
        let q = trx.updateTable('users').set((eb) => ({ version: eb('version', '+', 1), updated_at: Date.now() })).where('id', '=', userId);
        if (expectedVersion !== undefined) q = q.where('version', '=', expectedVersion);
        const res = await q.executeTakeFirst();
        if (Number(res.numUpdatedRows) === 0) {
          const exists = await trx.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
          if (exists && expectedVersion !== undefined) throw new StaleWriteError('user', userId);
          throw new NotFoundError('user', userId);
        }
        const remove = [...(change.remove ?? []), ...(change.set ?? []).map((v) => v.name)];
        if (remove.length) await trx.deleteFrom('user_attributes').where('user_id', '=', userId).where('name', 'in', remove).execute();
        // One at a time, so a unique violation names the attribute.
        for (const v of change.set ?? []) {
          await mapConflict('user', `attribute:${v.name}`, () => trx.insertInto('user_attributes')
            .values({ user_id: userId, tenant_id: tenantId, name: v.name, value: JSON.stringify(v.value), lookup: v.lookup }).execute());
        }
        for (const [source, id] of Object.entries(change.externalIds ?? {})) {
          await trx.deleteFrom('user_external_ids').where('user_id', '=', userId).where('source', '=', source).execute();
          if (id === null) continue;
          await mapConflict('user', `external_id:${source}`, () => trx.insertInto('user_external_ids')
            .values({ tenant_id: tenantId, source, external_id: id, user_id: userId, created_at: Date.now() }).execute());
        }
      });
    },
    async findUserByExternalId(tenantId, source, externalId) {
      if (!isStorableText(source) || !isStorableText(externalId)) return undefined;
      const r = await db.selectFrom('user_external_ids').select('user_id')
        .where('tenant_id', '=', tenantId).where('source', '=', source).where('external_id', '=', externalId).executeTakeFirst();
      return r?.user_id;
    },
    async findUserByLookup(tenantId, name, lookup) {
      if (!isStorableText(name) || !isStorableText(lookup)) return undefined;
      const r = await db.selectFrom('user_attributes').select('user_id')
        .where('tenant_id', '=', tenantId).where('name', '=', name).where('lookup', '=', lookup).executeTakeFirst();
      return r?.user_id;
    },
  };
  return repo;
}

export { ConflictError, NotFoundError, StaleWriteError };
