/** Identity aggregates as the rest of Tessera sees them (no storage or HTTP types). */
import type { TenantPolicy } from './policy.js';

export type UserStatus = 'pending' | 'active' | 'locked' | 'disabled';

export interface Tenant {
  id: string;
  name: string;
  policy: TenantPolicy;
  createdAt: number;
  updatedAt: number;
  /** Bumped by every write; the admin API's ETag and If-Match rest on it. */
  version: number;
}

export interface User {
  id: string;
  tenantId: string;
  username: string | null;
  email: string | null;
  emailVerified: boolean;
  givenName: string | null;
  familyName: string | null;
  phoneNumber: string | null;
  phoneNumberVerified: boolean;
  passwordHash: string | null;
  status: UserStatus;
  /** The roles in the home tenant, or in `memberOf` when the user was read for another tenant (UserRepository.findInTenant). */
  roles: string[];
  /**
   * Set when the user was read for a tenant other than the home one that
   * they are a member of (a sign-in to, or a token for, that tenant's
   * client): `roles` are that tenant's, and its policies apply
   * (docs/identity.md#memberships-in-other-tenants). Absent: the home tenant.
   */
  memberOf?: string;
  createdAt: number;
  updatedAt: number;
  /** Failed sign-ins counted in the current lockout window. */
  failedLogins: number;
  failedWindowStart: number | null;
  /** While in the future, the account is locked (status `locked`). Null with status `locked` = locked by an administrator. */
  lockedUntil: number | null;
  passwordChangedAt: number | null;
  locale: string | null;
  /** When an account created without a password (an import) got one through its activation link. */
  activatedAt: number | null;
  /** Bumped by profile, role and admin writes; an admin If-Match edit is conditional on it. */
  version: number;
}

export interface NewUser {
  tenantId: string;
  username?: string | null;
  email?: string | null;
  emailVerified?: boolean;
  givenName?: string | null;
  familyName?: string | null;
  phoneNumber?: string | null;
  passwordHash?: string | null;
  status?: UserStatus;
  locale?: string | null;
}

export type UserProfilePatch = Partial<
  Pick<User, 'username' | 'email' | 'emailVerified' | 'givenName' | 'familyName' | 'phoneNumber' | 'phoneNumberVerified' | 'status' | 'locale'>
>;

/** Tenant, role and client ids, as the configuration file allows them: 1–128 letters, digits, ".", "_", ":" or "-". */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** The longest username, in characters (code points). */
export const USERNAME_MAX = 64;

/**
 * What every username must be, however it is made (configuration file, CLI,
 * admin API, account page; self-service registration asks for more, see
 * registration/fields.ts): 1–64 characters after trimming, no whitespace, no
 * control characters, and no "@" — sign-in tries the typed login as a
 * username first, so a username shaped like an address would shadow that
 * person's email sign-in.
 */
export function usernameProblem(value: string): 'required' | 'too_long' | 'invalid_username' | undefined {
  const v = value.trim();
  if (v === '') return 'required';
  if ([...v].length > USERNAME_MAX) return 'too_long';
  if (/[\s@\p{Cc}]/u.test(v)) return 'invalid_username';
  return undefined;
}

/** Usernames compare case-insensitively after trimming and Unicode NFKC normalisation. */
export function normalizeUsername(value: string): string {
  return value.trim().normalize('NFKC').toLowerCase();
}

/** Emails compare case-insensitively (RFC 5321 allows case in the local part; users do not expect it to matter). */
export function normalizeEmail(value: string): string {
  return value.trim().normalize('NFKC').toLowerCase();
}

/** Search form of a name: NFKC, lower-cased, whitespace runs collapsed to one space. */
export function normalizeName(value: string): string {
  return value.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/**
 * The two derived keys a name-prefix search runs on (admin user search): the
 * full name family-first ("liddell alice") and given-first ("alice liddell"),
 * so a prefix of either name finds the user with one index range each.
 * Null when the user has no name.
 */
export function nameKeys(givenName: string | null | undefined, familyName: string | null | undefined): { familyFirst: string | null; givenFirst: string | null } {
  const given = givenName ? normalizeName(givenName) : '';
  const family = familyName ? normalizeName(familyName) : '';
  if (!given && !family) return { familyFirst: null, givenFirst: null };
  return { familyFirst: [family, given].filter(Boolean).join(' '), givenFirst: [given, family].filter(Boolean).join(' ') };
}

/**
 * True while the account is locked: temporarily after failed sign-ins
 * (`lockedUntil` in the future, whatever the status: a `pending` account is
 * locked without losing its status), or by an administrator (status `locked`
 * without an unlock time).
 */
export function isLocked(user: Pick<User, 'status' | 'lockedUntil'>, now = Date.now()): boolean {
  if (user.lockedUntil !== null) return user.lockedUntil > now;
  return user.status === 'locked';
}

/**
 * True when the account may keep using its sessions and refresh tokens and
 * finish a sign-in: `active`, or `locked` by a temporary lock (running or
 * run out). A temporary lock comes from failed passwords or codes from
 * sources the account never signed in from; it refuses further password and
 * code attempts from such sources (identity/service.ts `lockedFor`) but must
 * not sign the owner out: whoever knows a username could otherwise end its
 * sessions at will (docs/security.md#lockout-and-throttling). An
 * administrator's lock (no unlock time) and `disabled` end everything.
 */
export function isUsable(user: Pick<User, 'status' | 'lockedUntil'>, _now = Date.now()): boolean {
  return user.status === 'active' || (user.status === 'locked' && user.lockedUntil !== null);
}

/** The tenant a user was read for: `memberOf`, else the home tenant (whose claims, roles and policies apply). */
export function actingTenant(user: Pick<User, 'tenantId' | 'memberOf'>): string {
  return user.memberOf ?? user.tenantId;
}
