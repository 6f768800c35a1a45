import type { AdminUser, NewUserInput, UserPatchInput } from '../../admin/users/service.js';
import { ATTRIBUTE_NAME } from '../../userdata/model.js';
import { SCIM } from './errors.js';
import { ENTERPRISE_ATTRIBUTES, ENTERPRISE_SCHEMA, SCIM_SOURCE, TESSERA_SCHEMA, USER_SCHEMA } from './resources.js';

/**
 * A SCIM User's JSON (a POST or PUT body, or a resource after PATCH) read
 * into what Tessera stores. Names are matched case-insensitively; values are
 * checked for type; attributes Tessera does not keep are refused with
 * `invalidValue`/`invalidPath` rather than dropped silently, except the
 * read-only ones a client may echo back (id, meta, groups, displayName).
 */
export interface ScimUser {
  username: string | null;
  email: string | null;
  givenName: string | null;
  familyName: string | null;
  phone: string | null;
  locale: 'en' | 'de' | null;
  active: boolean;
  externalId: string | null;
  password?: string;
  attributes: Record<string, unknown>;
}

type Json = Record<string, unknown>;
const ci = (o: Json, name: string): unknown => o[Object.keys(o).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name];

const KNOWN = new Set(['schemas', 'id', 'externalid', 'username', 'name', 'displayname', 'emails', 'phonenumbers', 'locale', 'active', 'password',
  'groups', 'meta', ENTERPRISE_SCHEMA.toLowerCase(), TESSERA_SCHEMA.toLowerCase(), 'nickname', 'title', 'usertype', 'preferredlanguage', 'timezone',
  // Entra ID sends `roles: []`; Tessera's roles are groups (members of /Groups), so only an empty list is accepted here.
  'roles']);

function str(v: unknown, what: string, max = 1024): string | null {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v !== 'string' || v.length > max) throw SCIM.invalidValue(`${what} must be a string`);
  return v;
}

/** SCIM booleans; Entra ID sends "True"/"False" strings in PATCH values. */
function bool(v: unknown, what: string): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  throw SCIM.invalidValue(`${what} must be true or false`);
}

/** The primary value of a multi-valued attribute (or the only / first one). */
function primaryValue(list: unknown, what: string): string | null {
  if (list === undefined || list === null) return null;
  if (!Array.isArray(list)) throw SCIM.invalidValue(`${what} must be a list`);
  const items = list.filter((e) => e && typeof e === 'object') as Json[];
  const chosen = items.find((e) => ci(e, 'primary') === true || ci(e, 'primary') === 'true' || ci(e, 'primary') === 'True') ?? items[0];
  return chosen ? str(ci(chosen, 'value'), `${what}.value`) : null;
}

/** @throws ScimError */
export function readScimUser(body: unknown): ScimUser {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw SCIM.invalidSyntax('The body must be a JSON object.');
  const b = body as Json;
  const schemas = ci(b, 'schemas');
  if (schemas !== undefined && !(Array.isArray(schemas) && schemas.some((s) => typeof s === 'string' && s.toLowerCase() === USER_SCHEMA.toLowerCase()))) {
    throw SCIM.invalidValue(`schemas must include ${USER_SCHEMA}`);
  }
  for (const key of Object.keys(b)) {
    if (!KNOWN.has(key.toLowerCase())) throw SCIM.invalidPath(`Unknown attribute "${key}"`);
  }
  const roles = ci(b, 'roles');
  if (roles !== undefined && !(Array.isArray(roles) && roles.length === 0)) throw SCIM.invalidValue('roles are managed as group memberships (/Groups)');
  const userName = str(ci(b, 'userName'), 'userName', 256);
  if (!userName) throw SCIM.invalidValue('userName is required');
  const email = primaryValue(ci(b, 'emails'), 'emails');
  const name = (ci(b, 'name') ?? {}) as Json;
  if (typeof name !== 'object' || Array.isArray(name)) throw SCIM.invalidValue('name must be an object');
  const localeRaw = str(ci(b, 'locale') ?? ci(b, 'preferredLanguage'), 'locale', 35);
  const locale = localeRaw ? localeRaw.slice(0, 2).toLowerCase() : null;
  if (locale !== null && locale !== 'en' && locale !== 'de') throw SCIM.invalidValue('locale must be en or de');
  const activeRaw = ci(b, 'active');

  // A userName with "@" is the email address: Tessera usernames cannot contain one.
  let username: string | null = userName;
  let mail = email;
  if (userName.includes('@')) {
    if (email && email.toLowerCase() !== userName.toLowerCase()) {
      throw SCIM.invalidValue('userName with "@" must be the primary email address (Tessera signs in by username or email)');
    }
    username = null;
    mail = email ?? userName;
  }

  const attributes: Record<string, unknown> = {};
  const enterprise = ci(b, ENTERPRISE_SCHEMA);
  if (enterprise !== undefined && enterprise !== null) {
    if (typeof enterprise !== 'object' || Array.isArray(enterprise)) throw SCIM.invalidValue(`${ENTERPRISE_SCHEMA} must be an object`);
    for (const [k, v] of Object.entries(enterprise as Json)) {
      const mapped = Object.entries(ENTERPRISE_ATTRIBUTES).find(([key]) => key.toLowerCase() === k.toLowerCase());
      if (!mapped) throw SCIM.invalidPath(`${ENTERPRISE_SCHEMA}:${k} is not kept by this server`);
      attributes[mapped[1]] = v;
    }
  }
  const custom = ci(b, TESSERA_SCHEMA);
  if (custom !== undefined && custom !== null) {
    if (typeof custom !== 'object' || Array.isArray(custom)) throw SCIM.invalidValue(`${TESSERA_SCHEMA} must be an object`);
    for (const [k, v] of Object.entries(custom as Json)) {
      if (!ATTRIBUTE_NAME.test(k)) throw SCIM.invalidPath(`${TESSERA_SCHEMA}:${k} is not an attribute name`);
      attributes[k] = v;
    }
  }
  const password = ci(b, 'password');
  return {
    username, email: mail,
    givenName: str(ci(name, 'givenName'), 'name.givenName', 256),
    familyName: str(ci(name, 'familyName'), 'name.familyName', 256),
    phone: primaryValue(ci(b, 'phoneNumbers'), 'phoneNumbers'),
    locale: locale as 'en' | 'de' | null,
    active: activeRaw === undefined ? true : bool(activeRaw, 'active'),
    externalId: str(ci(b, 'externalId'), 'externalId', 256),
    ...(password !== undefined && password !== null ? { password: str(password, 'password') ?? undefined } : {}),
    attributes,
  };
}

/** A POST: the new user's fields. */
export function newUserInput(u: ScimUser): Omit<NewUserInput, 'status' | 'tenant'> {
  return {
    username: u.username ?? undefined, email: u.email ?? undefined, email_verified: false,
    given_name: u.givenName ?? undefined, family_name: u.familyName ?? undefined, phone_number: u.phone ?? undefined,
    locale: u.locale ?? undefined, roles: [], ...(u.password ? { password: u.password } : {}),
    ...(Object.keys(u.attributes).length ? { attributes: u.attributes } : {}),
    ...(u.externalId ? { external_ids: { [SCIM_SOURCE]: u.externalId } } : {}),
  };
}

/**
 * A PUT (or the result of a PATCH): what differs from the stored user, as one
 * admin PATCH. Attributes the body leaves out are removed when `removable`
 * (those without an owning source; a source's attributes are not the SCIM
 * client's to clear).
 */
export function replacement(u: ScimUser, current: AdminUser, removable: ReadonlySet<string>): UserPatchInput {
  const patch: UserPatchInput = {};
  const same = (a: string | null, b: string | null) => (a ?? '').toLowerCase() === (b ?? '').toLowerCase();
  if (u.username !== current.username) patch.username = u.username;
  if (!same(u.email, current.email)) patch.email = u.email;
  if (u.givenName !== current.givenName) patch.given_name = u.givenName;
  if (u.familyName !== current.familyName) patch.family_name = u.familyName;
  if (u.phone !== current.phoneNumber) patch.phone_number = u.phone;
  if (u.locale !== (current.locale ?? null)) patch.locale = u.locale;
  const attributes: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(u.attributes)) if (JSON.stringify(v) !== JSON.stringify(current.data.attributes[k])) attributes[k] = v;
  for (const k of Object.keys(current.data.attributes)) if (!(k in u.attributes) && removable.has(k)) attributes[k] = null;
  if (Object.keys(attributes).length) patch.attributes = attributes;
  const ext = current.data.externalIds[SCIM_SOURCE] ?? null;
  if (u.externalId !== ext) patch.external_ids = { [SCIM_SOURCE]: u.externalId };
  return patch;
}
