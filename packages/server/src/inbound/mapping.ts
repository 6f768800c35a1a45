import { z } from 'zod';
import { emailSchema, localeSchema, nameSchema, phoneSchema, usernameSchema } from '../admin/schemas.js';
import type { AttributeDefinition } from '../userdata/model.js';
import type { Mapping, ProfileField } from './model.js';

/** A contact record's profile values as Tessera fields: absent keys stay as they are, null clears. */
export type MappedProfile = Partial<Record<ProfileField, string | boolean | null>>;

export interface MappedContact {
  profile: MappedProfile;
  /** Attributes the source owns, by name (null removes the value). */
  attributes: Record<string, unknown>;
  /** Mapped attributes left alone: not declared, or owned by another source or by administrators. */
  ignored: string[];
  /** Field → code for values that do not fit. */
  problems: Record<string, string>;
}

const FIELD_SCHEMAS: Record<ProfileField, z.ZodType> = {
  username: usernameSchema, email: emailSchema, email_verified: z.boolean(), given_name: nameSchema, family_name: nameSchema,
  phone_number: phoneSchema, locale: localeSchema,
};

/** The value at a dotted path of the record; undefined when any step is missing. */
export function valueAt(record: Record<string, unknown>, path: string): unknown {
  let v: unknown = record;
  for (const key of path.split('.')) {
    if (!v || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

function codeOf(issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return 'invalid';
  const code = (issue as { params?: { code?: unknown } }).params?.code;
  if (typeof code === 'string') return code;
  if (issue.code === 'too_big') return 'too_long';
  if (issue.code === 'invalid_type') return 'invalid_type';
  return 'invalid';
}

/**
 * Maps a contact record through the source's mapping. Only attributes the
 * source owns are taken ("only attributes that source owns are changed");
 * their types are checked later against the tenant's schema (userdata/).
 */
export function mapContact(mapping: Mapping, record: Record<string, unknown>, source: string, definitions: Map<string, AttributeDefinition>): MappedContact {
  const profile: MappedProfile = {};
  const problems: Record<string, string> = {};
  for (const [field, path] of Object.entries(mapping.fields) as [ProfileField, string][]) {
    const raw = valueAt(record, path);
    if (raw === undefined) continue;
    if (raw === null || raw === '') {
      profile[field] = field === 'email_verified' ? false : null;
      continue;
    }
    const parsed = FIELD_SCHEMAS[field].safeParse(raw);
    if (parsed.success) profile[field] = parsed.data as string | boolean;
    else problems[field] = codeOf(parsed.error.issues[0]);
  }
  const attributes: Record<string, unknown> = {};
  const ignored: string[] = [];
  for (const [name, path] of Object.entries(mapping.attributes)) {
    const raw = valueAt(record, path);
    if (raw === undefined) continue;
    if (definitions.get(name)?.source !== source) {
      ignored.push(name);
      continue;
    }
    attributes[name] = raw;
  }
  return { profile, attributes, ignored: ignored.sort(), problems };
}
