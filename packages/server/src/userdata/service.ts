import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { User } from '../identity/model.js';
import type { UserRepository } from '../identity/repository.js';
import { createUserRepository } from '../identity/repository.js';
import { ConflictError } from '../storage/errors.js';
import { isStorableText } from '../storage/text.js';
import {
  SOURCE_NAME, coerceValue, externalIdProblem, lookupFromText, lookupKey, sameValue, writeRefusal,
} from './model.js';
import type { AttributeCaller, AttributeDeclaration, AttributeDefinition, AttributeValue } from './model.js';
import { createUserDataRepository } from './repository.js';
import type { UserData, UserDataRepository, UserDataWrite, ValueWrite } from './repository.js';

/** Invalid user data: `fields` maps `attributes.NAME` / `external_ids.SOURCE` to a stable code (docs/users.md#field-codes). */
export class UserDataInvalid extends Error {
  constructor(readonly fields: Record<string, string>, message = 'Some attributes or external ids are invalid.') {
    super(message);
    this.name = 'UserDataInvalid';
  }
}

/** A unique attribute value or an external id already belongs to another user: `fields` as above, code `taken`. */
export class UserDataConflict extends Error {
  constructor(readonly fields: Record<string, string>, message = 'Already used by another user in the tenant.') {
    super(message);
    this.name = 'UserDataConflict';
  }
}

/** A schema change the stored values do not allow (a type change with values, unique with duplicates). */
export class SchemaChangeRefused extends Error {
  constructor(readonly field: string, readonly code: string, message: string) {
    super(message);
    this.name = 'SchemaChangeRefused';
  }
}

/** What a caller asks to change: attribute name → value (null removes), source → external id (null removes). */
export interface UserDataChange {
  attributes?: Record<string, unknown>;
  externalIds?: Record<string, string | null>;
}

/** Repositories bound to one transaction (user creation and its data together: nothing half-written). */
export interface UserDataTransaction {
  users: UserRepository;
  data: UserDataRepository;
}

export interface UserDataDeps {
  db: Kysely<Database>;
  repo?: UserDataRepository;
  users?: UserRepository;
}

/**
 * The user-data service other contexts call (admin API, import, account
 * pages, claims; provisioning and contact sync later): the attribute schema,
 * values with type and ownership checks, external ids, and indexed lookups.
 * Every write names its caller (`AttributeCaller`); see model.ts for who
 * may write what. Free of HTTP.
 */
export class UserDataService {
  readonly repo: UserDataRepository;
  private readonly users: UserRepository;

  constructor(private readonly deps: UserDataDeps) {
    this.repo = deps.repo ?? createUserDataRepository(deps.db);
    this.users = deps.users ?? createUserRepository(deps.db);
  }

  definitions(tenantId: string): Promise<AttributeDefinition[]> {
    return this.repo.listDefinitions(tenantId);
  }

  /**
   * Declares or replaces an attribute. A change the stored values contradict
   * is refused: a new type or a smaller enum while some value does not fit,
   * `unique` while two users share a value. `required` applies to later
   * writes only (as in Keycloak's user profile).
   * @throws SchemaChangeRefused; NotFoundError for an unknown tenant.
   */
  async define(tenantId: string, decl: AttributeDeclaration): Promise<{ definition: AttributeDefinition; outcome: 'created' | 'updated' | 'unchanged' }> {
    const current = await this.repo.findDefinition(tenantId, decl.name);
    if (current) {
      const typeChanged = current.type !== decl.type || JSON.stringify(current.values) !== JSON.stringify(decl.values ?? null);
      if (typeChanged) await this.checkValuesFit(tenantId, decl);
      if (decl.unique && !current.unique && (await this.repo.hasDuplicates(tenantId, decl.name))) {
        throw new SchemaChangeRefused('unique', 'duplicates', `Some users share a value of ${decl.name}; make the values unique first.`);
      }
    }
    const outcome = await this.repo.saveDefinition(tenantId, decl);
    if (current && current.unique !== decl.unique) await this.repo.setLookups(tenantId, decl.name, decl.unique);
    return { definition: (await this.repo.findDefinition(tenantId, decl.name))!, outcome };
  }

  /** Deletes a definition with every value of it. Says whether it existed. */
  undefine(tenantId: string, name: string): Promise<boolean> {
    return this.repo.deleteDefinition(tenantId, name);
  }

  dataOf(userId: string): Promise<UserData> {
    return this.repo.dataOf(userId);
  }

  dataOfMany(userIds: string[]): Promise<Map<string, UserData>> {
    return this.repo.dataOfMany(userIds);
  }

  /**
   * Checks a change against the tenant's schema and the caller's rights and
   * turns it into a write. `current` is the user's data (null for a user
   * being created: then every required attribute the caller may write must
   * be given). Unknown attributes, wrong types, values owned by another
   * source and missing required values are all reported at once.
   * @throws UserDataInvalid
   */
  async plan(tenantId: string, caller: AttributeCaller, change: UserDataChange, current: UserData | null,
    definitions?: Map<string, AttributeDefinition>): Promise<UserDataWrite> {
    const defs = definitions ?? new Map((await this.repo.listDefinitions(tenantId)).map((d) => [d.name, d]));
    const fields: Record<string, string> = {};
    const set: ValueWrite[] = [];
    const remove: string[] = [];
    for (const [name, raw] of Object.entries(change.attributes ?? {})) {
      const key = `attributes.${name}`;
      const def = defs.get(name);
      if (!def) {
        fields[key] = 'unknown_attribute';
        continue;
      }
      const existing = current?.attributes[name];
      if (raw === null || raw === undefined) {
        if (existing === undefined) continue;
        const refusal = writeRefusal(def, caller);
        if (refusal) fields[key] = refusal;
        else if (def.required) fields[key] = 'required';
        else remove.push(name);
        continue;
      }
      const coerced = coerceValue(def, raw);
      if (!coerced.ok) {
        fields[key] = coerced.code;
        continue;
      }
      // Writing the value a field already has is not a write: an import row repeating a source-owned value passes.
      if (sameValue(existing, coerced.value)) continue;
      const refusal = writeRefusal(def, caller);
      if (refusal) {
        fields[key] = refusal;
        continue;
      }
      set.push({ name, value: coerced.value, lookup: def.unique ? lookupKey(coerced.value) : null });
    }
    if (current === null) {
      for (const def of defs.values()) {
        const given = change.attributes?.[def.name];
        if (def.required && (given === null || given === undefined) && !writeRefusal(def, caller)) fields[`attributes.${def.name}`] ??= 'required';
      }
    }
    const externalIds: Record<string, string | null> = {};
    for (const [source, id] of Object.entries(change.externalIds ?? {})) {
      const key = `external_ids.${source}`;
      if (!SOURCE_NAME.test(source)) {
        fields[key] = 'invalid_source';
        continue;
      }
      if (id !== null) {
        const problem = externalIdProblem(id);
        if (problem) {
          fields[key] = problem;
          continue;
        }
      }
      if ((current?.externalIds[source] ?? null) === id) continue;
      if (!caller.admin && caller.source !== source) {
        fields[key] = 'owned_by_source';
        continue;
      }
      externalIds[source] = id;
    }
    if (Object.keys(fields).length) throw new UserDataInvalid(fields);
    return { set, remove, externalIds };
  }

  /**
   * Unique values and external ids of a planned write that belong to
   * another user (`taken`), checked before writing for a precise answer;
   * the unique indexes still decide races.
   */
  async conflicts(tenantId: string, userId: string | null, write: UserDataWrite): Promise<Record<string, string>> {
    const fields: Record<string, string> = {};
    for (const v of write.set ?? []) {
      if (v.lookup === null) continue;
      const owner = await this.repo.findUserByLookup(tenantId, v.name, v.lookup);
      if (owner && owner !== userId) fields[`attributes.${v.name}`] = 'taken';
    }
    for (const [source, id] of Object.entries(write.externalIds ?? {})) {
      if (id === null) continue;
      const owner = await this.repo.findUserByExternalId(tenantId, source, id);
      if (owner && owner !== userId) fields[`external_ids.${source}`] = 'taken';
    }
    return fields;
  }

  /**
   * Changes a user's attributes and external ids (all or nothing), only
   * while the user is still at `expectedVersion` when given.
   * @throws UserDataInvalid, UserDataConflict, StaleWriteError, NotFoundError
   */
  async update(caller: AttributeCaller, user: User, change: UserDataChange, expectedVersion?: number): Promise<{ data: UserData; changed: boolean }> {
    const current = await this.repo.dataOf(user.id);
    const write = await this.plan(user.tenantId, caller, change, current);
    const changed = Boolean(write.set?.length || write.remove?.length || Object.keys(write.externalIds ?? {}).length);
    if (!changed) return { data: current, changed };
    const taken = await this.conflicts(user.tenantId, user.id, write);
    if (Object.keys(taken).length) throw new UserDataConflict(taken);
    await mapDataConflict(() => this.repo.write(user.id, user.tenantId, write, expectedVersion));
    return { data: await this.repo.dataOf(user.id), changed };
  }

  /** Runs `fn` with repositories bound to one transaction. */
  transaction<T>(fn: (tx: UserDataTransaction) => Promise<T>): Promise<T> {
    return this.deps.db.transaction().execute((trx) => fn({ users: createUserRepository(trx), data: createUserDataRepository(trx) }));
  }

  /**
   * The user of the tenant with this external id (`secutix`, `123`); one
   * primary-key probe. A user merged into another by a contact sync
   * (inbound/) resolves to the survivor: the loser's ids name the survivor now.
   */
  async findByExternalId(tenantId: string, source: string, externalId: string): Promise<User | undefined> {
    const id = await this.repo.findUserByExternalId(tenantId, source, externalId);
    if (!id) return undefined;
    const merged = await this.deps.db.selectFrom('user_merges').select('survivor_id').where('user_id', '=', id).executeTakeFirst();
    return this.users.findById(merged?.survivor_id ?? id);
  }

  /**
   * The user of the tenant whose unique attribute `name` has the value
   * written as `text` (a query string). Undefined for an attribute that is
   * not unique (no index answers it), an unknown one, or a value of the
   * wrong type.
   */
  async findByAttribute(tenantId: string, name: string, text: string): Promise<User | undefined> {
    const def = isStorableText(text) ? await this.repo.findDefinition(tenantId, name) : undefined;
    if (!def?.unique) return undefined;
    const lookup = lookupFromText(def, text);
    const id = lookup === undefined ? undefined : await this.repo.findUserByLookup(tenantId, name, lookup);
    return id ? this.users.findById(id) : undefined;
  }

  private async checkValuesFit(tenantId: string, decl: AttributeDeclaration): Promise<void> {
    let after: string | null = null;
    for (;;) {
      const page = await this.repo.valuesOf(tenantId, decl.name, after, 1000);
      for (const { value } of page) {
        const fit = coerceValue({ type: decl.type, values: decl.values ?? null }, value);
        if (!fit.ok || !sameValue(fit.value, value)) {
          throw new SchemaChangeRefused('type', 'values_do_not_fit',
            `Stored values of ${decl.name} do not fit the new ${decl.type}${decl.values ? ' values' : ''}; change or remove them first.`);
        }
      }
      if (page.length < 1000) return;
      after = page.at(-1)!.userId;
    }
  }
}

/** A unique index refused the write (a race the pre-check lost): the same 409 the pre-check gives. */
export async function mapDataConflict<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ConflictError) {
      const [kind, name] = err.detail.split(':');
      if (kind === 'attribute' && name) throw new UserDataConflict({ [`attributes.${name}`]: 'taken' });
      if (kind === 'external_id' && name) throw new UserDataConflict({ [`external_ids.${name}`]: 'taken' });
    }
    throw err;
  }
}

export type { AttributeValue, UserData };
