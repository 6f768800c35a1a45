import { z } from 'zod';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { ID_PATTERN } from '../identity/model.js';
import { ADMIN_CALLER, attributeDefinitionShape, refineDefinition } from './model.js';
import { SchemaChangeRefused, UserDataConflict, UserDataInvalid, UserDataService } from './service.js';

/**
 * The configuration file's side of user data: `attributes:` (a tenant's
 * attribute schema, applied idempotently at every start) and `attributes`
 * on `users:` entries. Source-owned attributes are never set from the file
 * (docs/users.md#source-ownership): the file would fight the source at every start.
 */
export const attributeConfigSchema = z.strictObject({
  ...attributeDefinitionShape,
  tenant: z.string().regex(ID_PATTERN, 'must be 1-128 letters, digits, ".", "_", ":" or "-"').default('default'),
}).superRefine(refineDefinition);
export type AttributeConfig = z.output<typeof attributeConfigSchema>;

/** `users[].attributes` */
export const userAttributesConfigSchema = z.record(z.string(), z.unknown()).optional();

/** Applies the file's attribute schema; returns each entry's outcome, or a problem per entry (`attributes[i]: …`). */
export async function applyAttributeConfig(db: Kysely<Database>, entries: AttributeConfig[]): Promise<{ outcomes: ('created' | 'updated' | 'unchanged')[]; problems: string[] }> {
  const service = new UserDataService({ db });
  const outcomes: ('created' | 'updated' | 'unchanged')[] = [];
  const problems: string[] = [];
  for (const [i, { tenant, ...decl }] of entries.entries()) {
    try {
      outcomes.push((await service.define(tenant, { ...decl })).outcome);
    } catch (err) {
      if (err instanceof SchemaChangeRefused) problems.push(`attributes[${i}].${err.field}: ${err.message}`);
      else throw err;
    }
  }
  return { outcomes, problems };
}

/**
 * Brings a configured user's listed attributes in line with the file (the
 * others stay). Returns whether anything changed, or the problems.
 */
export async function applyUserAttributes(db: Kysely<Database>, index: number, user: { id: string; tenantId: string }, attributes: Record<string, unknown>):
  Promise<{ changed: boolean; problems: string[] }> {
  const service = new UserDataService({ db });
  const defs = new Map((await service.definitions(user.tenantId)).map((d) => [d.name, d]));
  const owned = Object.keys(attributes).filter((name) => defs.get(name)?.source);
  if (owned.length) {
    return {
      changed: false,
      problems: owned.map((name) => `users[${index}].attributes.${name}: owned by source "${defs.get(name)!.source}"; the configuration file never sets it`),
    };
  }
  try {
    const current = await service.dataOf(user.id);
    const write = await service.plan(user.tenantId, ADMIN_CALLER, { attributes }, current, defs);
    if (!write.set?.length && !write.remove?.length) return { changed: false, problems: [] };
    const taken = await service.conflicts(user.tenantId, user.id, write);
    if (Object.keys(taken).length) throw new UserDataConflict(taken);
    await service.repo.write(user.id, user.tenantId, write);
    return { changed: true, problems: [] };
  } catch (err) {
    if (err instanceof UserDataInvalid || err instanceof UserDataConflict) {
      return { changed: false, problems: Object.entries(err.fields).map(([field, code]) => `users[${index}].${field}: ${code}`) };
    }
    throw err;
  }
}
