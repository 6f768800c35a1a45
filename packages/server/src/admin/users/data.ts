import { z } from 'zod';
import type { AdminPrincipal } from '../access.js';
import { AdminConflict, AdminInvalid } from '../errors.js';
import type { AttributeCaller } from '../../userdata/model.js';
import { EXTERNAL_ID_MAX, parseExternalId } from '../../userdata/model.js';
import { UserDataConflict, UserDataInvalid } from '../../userdata/service.js';
import type { UserDataChange } from '../../userdata/service.js';

/**
 * Attributes and external ids in the admin users API (docs/users.md): the
 * boundary schemas, and the mapping of the user-data service's errors to the
 * admin API's (400 validation_failed, 409 conflict, both with `fields`).
 */
const custom = (code: string, message: string) => ({ message, params: { code } });

export const attributesInput = z.record(z.string().max(64), z.unknown())
  .refine((r) => Object.keys(r).length <= 200, custom('too_many', 'at most 200 attributes'))
  .describe('Attribute name → value (typed by the tenant\'s attribute schema); null removes the value.');
export const externalIdsInput = z.record(z.string().max(64), z.string().max(EXTERNAL_ID_MAX).nullable())
  .refine((r) => Object.keys(r).length <= 50, custom('too_many', 'at most 50 external ids'))
  .describe('Source → the user\'s id there (e.g. {"secutix": "123"}); null removes it.');

/** What create and PATCH accept besides the profile. */
export interface DataInput {
  attributes?: Record<string, unknown>;
  external_ids?: Record<string, string | null>;
}

export const attributesView = z.record(z.string(), z.unknown()).describe('Attribute name → value.');
export const externalIdsView = z.record(z.string(), z.string()).describe('Source → external id.');

/** `?external_id=secutix:123` */
export const externalIdQuery = z.string().max(64 + 1 + EXTERNAL_ID_MAX).transform((v, ctx) => {
  const parsed = parseExternalId(v);
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: 'must be SOURCE:ID, e.g. secutix:123', params: { code: 'invalid' } });
    return z.NEVER;
  }
  return parsed;
}).describe('An external id, `source:id` (e.g. `secutix:123`): the one user with it.');

/** `?attribute=member_no:42` */
export const attributeQuery = z.string().max(64 + 1 + 1024).transform((v, ctx) => {
  const at = v.indexOf(':');
  if (at <= 0) {
    ctx.addIssue({ code: 'custom', message: 'must be NAME:VALUE of a unique attribute', params: { code: 'invalid' } });
    return z.NEVER;
  }
  return { name: v.slice(0, at), value: v.slice(at + 1) };
}).describe('`name:value` of a unique attribute: the one user with that value.');

/** The admin API caller as an attribute writer: an administrator, and a source when the client has `attribute_source`. */
export function callerOf(principal: AdminPrincipal): AttributeCaller {
  return { admin: true, source: principal.attributeSource ?? null };
}

export function dataChange(input: DataInput): UserDataChange {
  return { attributes: input.attributes, externalIds: input.external_ids };
}

/** Runs `fn`, answering user-data errors as the admin API does. */
export async function withDataErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UserDataInvalid) throw new AdminInvalid(err.fields, err.message);
    if (err instanceof UserDataConflict) throw new AdminConflict(err.message, err.fields);
    throw err;
  }
}
