import { z } from 'zod';
import { emailSchema, idSchema, localeSchema, nameSchema, phoneSchema, usernameSchema } from '../../admin/schemas.js';
import { zodFields } from '../../admin/validation.js';
import { normalizeEmail, normalizeUsername } from '../../identity/model.js';
import type { UserStatus } from '../../identity/model.js';
import { importHash } from '../../identity/hashes.js';
import type { FirebaseParams } from '../../identity/hashes.js';
import { parseExternalId } from '../model.js';
import type { AttributeDefinition } from '../model.js';
import { csvFields } from './records.js';

/**
 * One import row, checked: the profile, roles, attributes (still to be typed
 * against the schema by the service), external ids, and the hash to store.
 * The row's identity is its first external id, else its email, else its
 * username: a second run of the same file finds every row's user again.
 */
export interface ImportRow {
  line: number;
  profile: {
    username?: string; email?: string; email_verified?: boolean; given_name?: string; family_name?: string;
    phone_number?: string; phone_number_verified?: boolean; locale?: 'en' | 'de'; status?: Exclude<UserStatus, 'locked'>;
  };
  roles?: string[];
  attributes?: Record<string, unknown>;
  externalIds: Record<string, string>;
  passwordHash?: string;
  key: { kind: 'external_id'; source: string; id: string } | { kind: 'email'; value: string } | { kind: 'username'; value: string };
}

export interface RowError {
  line: number;
  /** The field (`email`, `attributes.team`, `external_ids.secutix`), or null for the whole row. */
  field: string | null;
  code: string;
  message: string;
}

/** Fields an export writes that an import takes as information only (so an export imports as is). */
const EXPORT_ONLY = ['id', 'tenant', 'created_at', 'updated_at', 'activated_at', 'links', 'has_password', 'memberships'] as const;

const rowSchema = z.strictObject({
  username: usernameSchema.optional(),
  email: emailSchema.optional(),
  email_verified: z.boolean().optional(),
  given_name: nameSchema.optional(),
  family_name: nameSchema.optional(),
  phone_number: phoneSchema.optional(),
  phone_number_verified: z.boolean().optional(),
  locale: localeSchema.optional(),
  status: z.enum(['active', 'pending', 'disabled']).optional(),
  roles: z.array(idSchema).max(100).optional(),
  attributes: z.record(z.string(), z.unknown()).optional(),
  external_id: z.string().max(400).optional(),
  external_ids: z.union([z.record(z.string().max(64), z.string().max(400)), z.array(z.string().max(400)).max(50)]).optional(),
  password_hash: z.unknown().optional(),
  ...Object.fromEntries(EXPORT_ONLY.map((k) => [k, z.unknown().optional()])),
});

const MESSAGES: Record<string, string> = {
  required: 'is required', invalid: 'is not valid', unknown_field: 'is not a field an import takes', invalid_email: 'is not an email address',
  invalid_username: 'must not contain spaces, "@" or control characters', invalid_phone: 'must be an E.164 number such as +4930123456',
  too_long: 'is too long', too_many: 'has too many items', invalid_json: 'is not a JSON object', invalid_csv: 'is not a valid CSV record',
  column_count: 'has another number of fields than the header', invalid_external_id: 'must be SOURCE:ID, e.g. secutix:123',
  invalid_hash: 'is not a well-formed password hash', unsupported_hash: 'is a hash algorithm or parameters Tessera does not verify',
  invalid_utf8: 'is not valid UTF-8', too_large: 'is larger than the largest row allowed', no_identity: 'needs an external id, an email or a username',
  duplicate_in_file: 'repeats a value of an earlier row of the file',
};
export const rowMessage = (code: string) => MESSAGES[code] ?? code.replace(/_/g, ' ');

/** CSV: the header's columns, or the problems with it (then nothing is imported). */
export interface CsvHeader {
  columns: string[];
}

const CSV_COLUMNS = new Set(['username', 'email', 'email_verified', 'given_name', 'family_name', 'phone_number', 'phone_number_verified',
  'locale', 'status', 'roles', 'external_id', 'password_hash']);

/** Checks a CSV header line. @returns the header, or the errors at line 1 (unknown, repeated or missing identity columns). */
export function parseCsvHeader(text: string, definitions: Map<string, AttributeDefinition>): CsvHeader | RowError[] {
  const columns = csvFields(text)?.map((c) => c.trim());
  if (!columns) return [{ line: 1, field: null, code: 'invalid_csv', message: `header ${rowMessage('invalid_csv')}` }];
  const errors: RowError[] = [];
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c)) errors.push({ line: 1, field: c, code: 'duplicate_column', message: `column "${c}" appears twice` });
    seen.add(c);
    const attr = c.startsWith('attributes.') ? c.slice('attributes.'.length) : undefined;
    if (attr !== undefined ? !definitions.has(attr) : !CSV_COLUMNS.has(c)) {
      errors.push({ line: 1, field: c, code: attr !== undefined ? 'unknown_attribute' : 'unknown_column',
        message: attr !== undefined ? `column "${c}": the tenant has no attribute "${attr}"` : `column "${c}" is not one an import takes` });
    }
  }
  if (!columns.some((c) => c === 'external_id' || c === 'email' || c === 'username')) {
    errors.push({ line: 1, field: null, code: 'no_identity', message: 'the header needs an external_id, email or username column' });
  }
  return errors.length ? errors : { columns };
}

/** A CSV record as the object a JSONL row would be (empty cells are absent; lists are `|`-separated). */
function csvObject(fields: string[], header: CsvHeader, definitions: Map<string, AttributeDefinition>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const attributes: Record<string, unknown> = {};
  header.columns.forEach((c, i) => {
    const v = fields[i]!;
    if (v === '') return;
    if (c.startsWith('attributes.')) {
      const def = definitions.get(c.slice('attributes.'.length))!;
      attributes[def.name] = csvValue(def, v);
    } else if (c === 'email_verified' || c === 'phone_number_verified') {
      out[c] = v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v;
    } else if (c === 'roles') {
      out[c] = v.split('|').map((r) => r.trim()).filter(Boolean);
    } else out[c] = v;
  });
  if (Object.keys(attributes).length) out.attributes = attributes;
  return out;
}

function csvValue(def: AttributeDefinition, v: string): unknown {
  switch (def.type) {
    case 'number': return /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(v.trim()) ? Number(v) : v;
    case 'boolean': return v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v;
    case 'string_list': return v.split('|');
    default: return v;
  }
}

/**
 * Reads one record (JSONL object or CSV fields) into a row, or its errors.
 * Types of attribute values are checked later, against the schema, with
 * the rest of the row's data (service.plan).
 */
export function parseRow(line: number, text: string, ctx: { csv?: CsvHeader; definitions: Map<string, AttributeDefinition>; firebase?: FirebaseParams }): ImportRow | RowError[] {
  const fail = (field: string | null, code: string): RowError[] => [{ line, field, code, message: `${field ?? 'row'} ${rowMessage(code)}` }];
  let raw: unknown;
  if (ctx.csv) {
    const fields = csvFields(text);
    if (!fields) return fail(null, 'invalid_csv');
    if (fields.length !== ctx.csv.columns.length) return fail(null, 'column_count');
    raw = csvObject(fields, ctx.csv, ctx.definitions);
  } else {
    try {
      raw = JSON.parse(text);
    } catch {
      return fail(null, 'invalid_json');
    }
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return fail(null, 'invalid_json');
  }
  const parsed = rowSchema.safeParse(raw);
  if (!parsed.success) {
    return Object.entries(zodFields(parsed.error, raw, 'row')).map(([field, code]) => ({ line, field, code, message: `${field} ${rowMessage(code)}` }));
  }
  const r = parsed.data;
  const errors: RowError[] = [];
  const externalIds: Record<string, string> = {};
  const given = [
    ...(r.external_id !== undefined ? [r.external_id] : []),
    ...(Array.isArray(r.external_ids) ? r.external_ids : Object.entries(r.external_ids ?? {}).map(([s, id]) => `${s}:${id}`)),
  ];
  for (const value of given) {
    const ext = parseExternalId(value);
    if (!ext) errors.push({ line, field: 'external_id', code: 'invalid_external_id', message: `external id "${value.slice(0, 80)}" ${rowMessage('invalid_external_id')}` });
    else if (externalIds[ext.source] !== undefined && externalIds[ext.source] !== ext.id) {
      errors.push({ line, field: `external_ids.${ext.source}`, code: 'duplicate', message: `two ids for source ${ext.source}` });
    } else externalIds[ext.source] = ext.id;
  }
  let passwordHash: string | undefined;
  if (r.password_hash !== undefined && r.password_hash !== null && r.password_hash !== '') {
    const h = importHash(r.password_hash, ctx.firebase);
    if (h.ok) passwordHash = h.hash;
    else errors.push({ line, field: 'password_hash', code: h.code, message: `password_hash ${rowMessage(h.code)}` });
  }
  const first = given.length ? parseExternalId(given[0]!) : undefined;
  const key: ImportRow['key'] | undefined = first ? { kind: 'external_id', source: first.source, id: first.id }
    : r.email ? { kind: 'email', value: normalizeEmail(r.email) }
      : r.username ? { kind: 'username', value: normalizeUsername(r.username) } : undefined;
  if (!key && !errors.length) errors.push(...fail(null, 'no_identity'));
  if (errors.length) return errors;
  return {
    line,
    profile: {
      username: r.username, email: r.email, email_verified: r.email_verified, given_name: r.given_name, family_name: r.family_name,
      phone_number: r.phone_number, phone_number_verified: r.phone_number_verified, locale: r.locale, status: r.status,
    },
    roles: r.roles, attributes: r.attributes, externalIds, passwordHash, key: key!,
  };
}
