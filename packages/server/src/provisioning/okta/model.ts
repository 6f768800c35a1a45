import type { AdminUser, NewUserInput, UserPatchInput } from '../../admin/users/service.js';
import { ATTRIBUTE_NAME } from '../../userdata/model.js';
import type { DirectoryUser } from '../directory.js';
import { loginOf } from '../directory.js';
import { OKTA } from './errors.js';

/**
 * Okta's user and group objects (developer.okta.com, Users and Groups APIs),
 * made from Tessera's. Profile mapping:
 *
 * | Okta profile  | Tessera                                   |
 * |---------------|-------------------------------------------|
 * | login         | username, or the email when it has an "@" |
 * | email         | email                                     |
 * | firstName     | given name                                |
 * | lastName      | family name                               |
 * | mobilePhone   | phone number (E.164)                      |
 * | locale        | locale (en, de)                           |
 * | anything else | the tenant attribute of that name or its snake_case form (employeeNumber → employee_number) |
 */

const STANDARD = new Set(['login', 'email', 'firstName', 'lastName', 'mobilePhone', 'locale']);

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
export const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
export const camel = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export function oktaUser(d: DirectoryUser, base: string): Record<string, unknown> {
  const u: AdminUser = d.user;
  const attributes = Object.fromEntries(Object.entries(u.data.attributes).map(([k, v]) => [camel(k), v]));
  return {
    id: u.id,
    status: d.lifecycle,
    created: iso(u.createdAt),
    activated: iso(u.activatedAt ?? (d.lifecycle === 'ACTIVE' ? u.createdAt : null)),
    statusChanged: iso(d.lifecycleChangedAt),
    lastLogin: null,
    lastUpdated: iso(u.updatedAt),
    passwordChanged: iso(u.passwordChangedAt),
    transitioningToStatus: null,
    type: { id: 'default' },
    profile: {
      ...attributes,
      login: loginOf(u),
      email: u.email,
      firstName: u.givenName,
      lastName: u.familyName,
      mobilePhone: u.phoneNumber,
      ...(u.locale ? { locale: u.locale } : {}),
    },
    credentials: {
      ...(u.passwordHash ? { password: {} } : {}),
      provider: { type: 'OKTA', name: 'OKTA' },
    },
    _links: {
      self: { href: `${base}/api/v1/users/${u.id}` },
    },
  };
}

export function oktaGroup(g: { name: string; description: string | null }, base: string): Record<string, unknown> {
  return {
    id: g.name,
    created: null,
    lastUpdated: null,
    lastMembershipUpdated: null,
    objectClass: ['okta:user_group'],
    type: 'OKTA_GROUP',
    profile: { name: g.name, description: g.description },
    _links: { self: { href: `${base}/api/v1/groups/${encodeURIComponent(g.name)}` }, users: { href: `${base}/api/v1/groups/${encodeURIComponent(g.name)}/users` } },
  };
}

type Profile = Record<string, unknown>;

/** A profile value that must be a string (or null to clear, in updates). */
function text(profile: Profile, key: string, causes: string[], nullable: boolean): string | null | undefined {
  const v = profile[key];
  if (v === undefined) return undefined;
  if (v === null && nullable) return null;
  if (typeof v !== 'string' || v.length > 1024) {
    causes.push(`${key}: must be a string`);
    return undefined;
  }
  return v;
}

/** Splits a profile into Tessera's fields and attributes, with Okta's validation causes. */
function mapProfile(profile: Profile, mode: 'create' | 'update' | 'replace'): { fields: UserPatchInput & { password?: string }; causes: string[] } {
  const causes: string[] = [];
  const nullable = mode !== 'create';
  const login = text(profile, 'login', causes, false);
  const email = text(profile, 'email', causes, nullable);
  const fields: UserPatchInput = {};
  if (mode !== 'update' || login !== undefined) {
    if (!login && mode !== 'update') causes.push('login: The field cannot be left blank');
  }
  if (login) {
    if (login.includes('@')) {
      // Tessera usernames never contain "@": such a login is the user's email address.
      const mail = email ?? undefined;
      if (mail !== undefined && mail !== null && mail.toLowerCase() !== login.toLowerCase()) {
        causes.push('login: A login with "@" must be the user\'s email address (Tessera signs in by username or email)');
      }
      fields.email = email ?? login;
      fields.username = null;
    } else {
      fields.username = login;
      if (email !== undefined) fields.email = email;
    }
  } else if (email !== undefined) {
    fields.email = email;
  }
  if (mode === 'create' && fields.email === undefined) causes.push('email: The field cannot be left blank');
  const given = text(profile, 'firstName', causes, true);
  const family = text(profile, 'lastName', causes, true);
  const phone = text(profile, 'mobilePhone', causes, true);
  const locale = text(profile, 'locale', causes, true);
  if (given !== undefined) fields.given_name = given;
  if (family !== undefined) fields.family_name = family;
  if (phone !== undefined) fields.phone_number = phone === '' ? null : phone;
  if (locale !== undefined) {
    const l = locale?.slice(0, 2).toLowerCase() ?? null;
    if (l !== null && l !== 'en' && l !== 'de') causes.push('locale: must be en or de');
    else fields.locale = l as 'en' | 'de' | null;
  }
  const attributes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(profile)) {
    if (STANDARD.has(key)) continue;
    const name = ATTRIBUTE_NAME.test(key) ? key : snake(key);
    if (!ATTRIBUTE_NAME.test(name)) {
      causes.push(`${key}: Property name '${key}' is not defined in profile`);
      continue;
    }
    attributes[name] = value;
  }
  if (Object.keys(attributes).length) fields.attributes = attributes;
  return { fields, causes };
}

function passwordOf(body: Record<string, unknown>, causes: string[]): string | undefined {
  const credentials = body.credentials;
  if (credentials === undefined || credentials === null) return undefined;
  const value = (credentials as { password?: { value?: unknown } })?.password?.value;
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 1024) {
    causes.push('password: must be a non-empty string');
    return undefined;
  }
  return value;
}

function objectBody(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw OKTA.malformed('The body must be a JSON object.');
  return body as Record<string, unknown>;
}

function profileOf(body: Record<string, unknown>, required: boolean): Profile {
  const profile = body.profile;
  if (profile === undefined && !required) return {};
  if (profile === null || typeof profile !== 'object' || Array.isArray(profile)) throw OKTA.validation(['profile: must be an object']);
  return profile as Profile;
}

/** `POST /api/v1/users`: the new user's fields, password and groups. @throws OktaError E0000001 / E0000003 */
export function createInput(raw: unknown): { input: Omit<NewUserInput, 'status' | 'tenant'>; password?: string } {
  const body = objectBody(raw);
  const { fields, causes } = mapProfile(profileOf(body, true), 'create');
  const password = passwordOf(body, causes);
  const groupIds = body.groupIds;
  if (groupIds !== undefined && !(Array.isArray(groupIds) && groupIds.every((g) => typeof g === 'string'))) causes.push('groupIds: must be a list of group ids');
  if (causes.length) throw OKTA.validation(causes);
  return {
    input: {
      username: fields.username ?? undefined, email: fields.email ?? undefined, email_verified: false,
      given_name: fields.given_name ?? undefined, family_name: fields.family_name ?? undefined, phone_number: fields.phone_number ?? undefined,
      locale: fields.locale ?? undefined, roles: (groupIds as string[] | undefined) ?? [], ...(fields.attributes ? { attributes: fields.attributes } : {}),
      ...(password !== undefined ? { password } : {}),
    },
    ...(password !== undefined ? { password } : {}),
  };
}

/**
 * `POST /api/v1/users/{id}` (partial: what the profile names changes) and
 * `PUT` (replace: standard fields it leaves out are cleared).
 * @throws OktaError
 */
export function updateInput(raw: unknown, replace: boolean, current: AdminUser): { patch: UserPatchInput; password?: string } {
  const body = objectBody(raw);
  const { fields, causes } = mapProfile(profileOf(body, replace), replace ? 'replace' : 'update');
  const password = passwordOf(body, causes);
  if (causes.length) throw OKTA.validation(causes);
  if (replace) {
    for (const key of ['given_name', 'family_name', 'phone_number', 'locale'] as const) if (fields[key] === undefined) fields[key] = null;
    // Attributes the new profile leaves out are removed (PUT replaces the profile).
    const kept = new Set(Object.keys(fields.attributes ?? {}));
    const removed = Object.keys(current.data.attributes).filter((k) => !kept.has(k));
    if (removed.length) fields.attributes = { ...fields.attributes, ...Object.fromEntries(removed.map((k) => [k, null])) };
  }
  return { patch: fields, ...(password !== undefined ? { password } : {}) };
}
