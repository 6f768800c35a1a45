import { z } from 'zod';
import { isStorableText } from '../storage/text.js';

/**
 * User data beyond the built-in profile: a typed attribute schema per tenant
 * (what the configuration file's `attributes` and the admin API declare),
 * attribute values on users, and external ids (an id the user has in another
 * system: `secutix:123`). No storage or HTTP types here.
 */
export const ATTRIBUTE_TYPES = ['string', 'number', 'boolean', 'date', 'enum', 'string_list'] as const;
export type AttributeType = (typeof ATTRIBUTE_TYPES)[number];

/** What the user sees of an attribute on /account: nothing, the value, or a field to edit it. */
export const ACCOUNT_ACCESS = ['hidden', 'read', 'edit'] as const;
export type AccountAccess = (typeof ACCOUNT_ACCESS)[number];

/** Attribute names: what claims and import columns are made of, so plain lower-case identifiers. */
export const ATTRIBUTE_NAME = /^[a-z][a-z0-9_]{0,62}$/;
/** Sources (the systems that own attributes and issue external ids): `secutix`, `hr-directory`. */
export const SOURCE_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
export const EXTERNAL_ID_MAX = 256;
export const STRING_MAX = 1024;
export const LIST_MAX_ITEMS = 100;
export const LIST_ITEM_MAX = 256;
export const ENUM_MAX_VALUES = 200;

export interface AttributeDefinition {
  tenantId: string;
  name: string;
  type: AttributeType;
  /** Must have a value; checked on writes by callers allowed to set it (see service.ts). */
  required: boolean;
  /** No two users of the tenant share a value; lookups by it are indexed. */
  unique: boolean;
  /** The source that owns the attribute: only that source may change it. Null: administrators (and the user, with `account: edit`). */
  source: string | null;
  /** Allowed values of an `enum`. */
  values: string[] | null;
  account: AccountAccess;
  description: string | null;
  createdAt: number;
  updatedAt: number;
}

/** A value as stored and shown: JSON. Dates are `YYYY-MM-DD` strings. */
export type AttributeValue = string | number | boolean | string[];

/** The fields of a definition as declared (file, admin API), before it is stored. */
export const attributeDefinitionShape = {
  name: z.string().regex(ATTRIBUTE_NAME, 'must be 1-63 lower-case letters, digits or "_", starting with a letter'),
  type: z.enum(ATTRIBUTE_TYPES, `must be one of ${ATTRIBUTE_TYPES.join(', ')}`),
  required: z.boolean().default(false),
  unique: z.boolean().default(false),
  source: z.string().regex(SOURCE_NAME, 'must be 1-64 lower-case letters, digits, ".", "_" or "-"').nullable().default(null),
  values: z.array(z.string().min(1).max(LIST_ITEM_MAX)).min(1).max(ENUM_MAX_VALUES).optional(),
  account: z.enum(ACCOUNT_ACCESS, 'must be hidden, read or edit').default('hidden'),
  description: z.string().max(1000).optional(),
};

/** Rules across a definition's fields (zod superRefine), shared by the file and the admin API. */
export function refineDefinition(d: { type: AttributeType; values?: string[]; unique: boolean; source: string | null; account: AccountAccess }, ctx: z.RefinementCtx): void {
  if (d.type === 'enum' && !d.values) ctx.addIssue({ code: 'custom', path: ['values'], message: 'is required for an enum', params: { code: 'required' } });
  if (d.type !== 'enum' && d.values) ctx.addIssue({ code: 'custom', path: ['values'], message: 'is only for an enum', params: { code: 'invalid' } });
  if (d.values && new Set(d.values).size !== d.values.length) {
    ctx.addIssue({ code: 'custom', path: ['values'], message: 'must not repeat a value', params: { code: 'duplicate' } });
  }
  if (d.unique && (d.type === 'boolean' || d.type === 'string_list')) {
    ctx.addIssue({ code: 'custom', path: ['unique'], message: `a ${d.type} cannot be unique`, params: { code: 'invalid' } });
  }
  // The user cannot own what a source owns: the next sync would overwrite it.
  if (d.source && d.account === 'edit') {
    ctx.addIssue({ code: 'custom', path: ['account'], message: 'an attribute owned by a source is read-only on /account (use read or hidden)', params: { code: 'owned_by_source' } });
  }
}

export const attributeDefinitionSchema = z.strictObject(attributeDefinitionShape).superRefine(refineDefinition);
export type AttributeDeclaration = z.output<typeof attributeDefinitionSchema>;

/**
 * Who is writing, for ownership checks. Administrators (admin API, the
 * configuration file, the import CLI) may write unowned attributes; a source
 * may write the attributes it owns. A caller can be both (a sync client
 * granted identity.admin with `attribute_source`), or only a source (a
 * contact sync: "only attributes that source owns are changed").
 */
export interface AttributeCaller {
  admin: boolean;
  source: string | null;
  /** The user on /account: only `account: edit` attributes. */
  self?: boolean;
}
export const ADMIN_CALLER: AttributeCaller = Object.freeze({ admin: true, source: null });
export const sourceCaller = (source: string, admin = false): AttributeCaller => ({ admin, source });

/** Why a caller may not write an attribute (a field code), or undefined when it may. */
export function writeRefusal(def: AttributeDefinition, caller: AttributeCaller): 'owned_by_source' | 'not_owned' | 'read_only' | undefined {
  if (caller.self) return def.account === 'edit' && !def.source ? undefined : 'read_only';
  if (def.source) return caller.source === def.source ? undefined : 'owned_by_source';
  return caller.admin ? undefined : 'not_owned';
}

/** An external id as written: `source:id` (the id may contain ":"). */
export function parseExternalId(value: string): { source: string; id: string } | undefined {
  const at = value.indexOf(':');
  if (at <= 0) return undefined;
  const source = value.slice(0, at);
  const id = value.slice(at + 1);
  return SOURCE_NAME.test(source) && externalIdProblem(id) === undefined ? { source, id } : undefined;
}

export function externalIdProblem(id: unknown): 'invalid' | 'too_long' | 'required' | undefined {
  if (typeof id !== 'string') return 'invalid';
  if (id.trim() === '') return 'required';
  if (id.length > EXTERNAL_ID_MAX) return 'too_long';
  // eslint-disable-next-line no-control-regex
  if (!isStorableText(id) || /[\u0000-\u001f\u007f]/.test(id) || id !== id.trim()) return 'invalid';
  return undefined;
}

/**
 * Checks and normalises a value for its definition. Returns the value to
 * store, or a field code: `invalid_type`, `invalid_choice`, `invalid_date`,
 * `too_long`, `too_many`.
 */
export function coerceValue(def: Pick<AttributeDefinition, 'type' | 'values'>, value: unknown): { ok: true; value: AttributeValue } | { ok: false; code: string } {
  const fail = (code: string) => ({ ok: false as const, code });
  switch (def.type) {
    case 'string': {
      if (typeof value !== 'string') return fail('invalid_type');
      const v = value.trim();
      if (v === '') return fail('required');
      if ([...v].length > STRING_MAX) return fail('too_long');
      // eslint-disable-next-line no-control-regex
      if (!isStorableText(v) || /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(v)) return fail('invalid');
      return { ok: true, value: v.normalize('NFC') };
    }
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? { ok: true, value } : fail('invalid_type');
    case 'boolean':
      return typeof value === 'boolean' ? { ok: true, value } : fail('invalid_type');
    case 'date': {
      if (typeof value !== 'string') return fail('invalid_type');
      const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
      const d = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
      if (!d || d.toISOString().slice(0, 10) !== value) return fail('invalid_date');
      return { ok: true, value };
    }
    case 'enum':
      if (typeof value !== 'string') return fail('invalid_type');
      return def.values?.includes(value) ? { ok: true, value } : fail('invalid_choice');
    case 'string_list': {
      if (!Array.isArray(value)) return fail('invalid_type');
      if (value.length > LIST_MAX_ITEMS) return fail('too_many');
      const items: string[] = [];
      for (const item of value) {
        if (typeof item !== 'string') return fail('invalid_type');
        const v = item.trim();
        // eslint-disable-next-line no-control-regex
        if (v === '' || !isStorableText(v) || /[\u0000-\u001f\u007f]/.test(v)) return fail('invalid');
        if ([...v].length > LIST_ITEM_MAX) return fail('too_long');
        items.push(v.normalize('NFC'));
      }
      return { ok: true, value: items };
    }
  }
}

/** The indexed form of a unique attribute's value (exact match; numbers in canonical JSON form). */
export function lookupKey(value: AttributeValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * A lookup value as it arrives in a query string (`?attribute=name:value`),
 * turned into the stored form for the definition's type.
 */
export function lookupFromText(def: Pick<AttributeDefinition, 'type' | 'values'>, text: string): string | undefined {
  const raw: unknown = def.type === 'number' ? (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text) ? Number(text) : text) : text;
  const coerced = coerceValue(def, raw);
  return coerced.ok ? lookupKey(coerced.value) : undefined;
}

/** Two stored values are the same (lists in order). */
export function sameValue(a: AttributeValue | undefined, b: AttributeValue | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
