import { z } from 'zod';
import type { AdminUser } from './service.js';
import { attributeQuery, attributesInput, attributesView, externalIdQuery, externalIdsInput, externalIdsView } from './data.js';
import { isLocked } from '../../identity/model.js';
import type { SessionView } from '../../account/access.js';
import {
  cursorSchema, emailSchema, idSchema, iso, isoTime, limitSchema, localeSchema, nameSchema, passwordSchema, pathId, phoneSchema,
  userStatusSchema, usernameSchema,
} from '../schemas.js';

/** A user as the admin API shows it. Never the password hash, lockout counters or factor secrets. */
export const userView = z.object({
  id: z.string(),
  tenant: z.string(),
  username: z.string().nullable(),
  email: z.string().nullable(),
  email_verified: z.boolean(),
  given_name: z.string().nullable(),
  family_name: z.string().nullable(),
  phone_number: z.string().nullable(),
  phone_number_verified: z.boolean(),
  status: userStatusSchema,
  /** True while a temporary or administrator lock holds (a `pending` account can be locked too). */
  locked: z.boolean(),
  locked_until: isoTime.nullable(),
  roles: z.array(z.string()).describe('Roles in the home tenant.'),
  locale: z.string().nullable(),
  has_password: z.boolean(),
  created_at: isoTime,
  updated_at: isoTime,
  /** When an account created without a password set one through its activation link (docs/users.md#activation). */
  activated_at: isoTime.nullable(),
  attributes: attributesView,
  external_ids: externalIdsView,
});
export type UserView = z.infer<typeof userView>;

export function toUserView(u: AdminUser): UserView {
  return {
    id: u.id, tenant: u.tenantId, username: u.username, email: u.email, email_verified: u.emailVerified,
    given_name: u.givenName, family_name: u.familyName, phone_number: u.phoneNumber, phone_number_verified: u.phoneNumberVerified,
    status: u.status, locked: isLocked(u), locked_until: iso(u.lockedUntil), roles: u.roles, locale: u.locale,
    has_password: u.passwordHash !== null, created_at: iso(u.createdAt)!, updated_at: iso(u.updatedAt)!,
    activated_at: iso(u.activatedAt), attributes: u.data.attributes, external_ids: u.data.externalIds,
  };
}

export const userParams = z.object({ id: pathId });

export const searchQuery = z.strictObject({
  tenant: idSchema.optional().describe('Tenant to search (platform administrators); default: the caller\'s.'),
  email: z.string().max(254).optional().describe('Exact email address (case-insensitive).'),
  username: z.string().max(256).optional().describe('Exact username (case-insensitive).'),
  name_prefix: z.string().min(1).max(100).optional().describe('Start of the family name or of the given name ("lidd", "alice l"), case-insensitive.'),
  status: userStatusSchema.optional(),
  external_id: externalIdQuery.optional(),
  attribute: attributeQuery.optional(),
  cursor: cursorSchema.optional(),
  limit: limitSchema,
});

export const createUserBody = z.strictObject({
  tenant: idSchema.optional().describe('Home tenant; default: the caller\'s.'),
  username: usernameSchema.optional(),
  email: emailSchema.optional(),
  email_verified: z.boolean().default(false),
  given_name: nameSchema.optional(),
  family_name: nameSchema.optional(),
  phone_number: phoneSchema.optional(),
  password: passwordSchema.optional().describe('Checked against the tenant\'s password policy. Without one, the user cannot sign in with a password.'),
  status: z.enum(['active', 'pending', 'disabled']).default('active'),
  roles: z.array(idSchema).max(100).default([]).describe('Roles in the home tenant; granting admin needs step-up.'),
  locale: localeSchema.optional(),
  attributes: attributesInput.optional(),
  external_ids: externalIdsInput.optional(),
});

export const patchUserBody = z.strictObject({
  username: usernameSchema.nullable().optional(),
  email: emailSchema.nullable().optional(),
  email_verified: z.boolean().optional(),
  given_name: nameSchema.nullable().optional(),
  family_name: nameSchema.nullable().optional(),
  phone_number: phoneSchema.nullable().optional(),
  phone_number_verified: z.boolean().optional(),
  locale: localeSchema.nullable().optional(),
  attributes: attributesInput.optional().describe('Merged into the current attributes; null removes one.'),
  external_ids: externalIdsInput.optional().describe('Merged into the current external ids; null removes one.'),
});

export const rolesBody = z.strictObject({
  tenant: idSchema.optional().describe('Default: the user\'s home tenant.'),
  roles: z.array(idSchema).max(100),
});

export const membershipParams = z.object({ id: pathId, tenant: pathId });
export const membershipsView = z.object({
  items: z.array(z.object({ tenant: z.string(), home: z.boolean(), roles: z.array(z.string()) })),
});

export const sessionParams = z.object({ id: pathId, session: pathId });
export const sessionView = z.object({
  id: z.string().describe('The session id (what DELETE …/sessions/{session} takes).'),
  signed_in_at: isoTime.nullable(),
  expires_at: isoTime.nullable(),
  last_seen_at: isoTime.nullable(),
  user_agent: z.string().nullable(),
  ip: z.string().nullable(),
  signed_in_tenant: z.string().nullable().describe('The tenant of the session\'s last sign-in (another tenant for a member of it); null when not recorded.'),
  applications: z.array(z.string()),
});

export function toSessionView(s: SessionView): z.infer<typeof sessionView> {
  return {
    id: s.uid, signed_in_at: iso(s.signedInAt), expires_at: iso(s.expiresAt), last_seen_at: iso(s.lastSeenAt),
    user_agent: s.userAgent, ip: s.ip, signed_in_tenant: s.signedInTenant, applications: s.applications,
  };
}

/** The cursor's wire form (opaque to callers; see search.ts). */
export const searchCursor = z.union([
  z.object({ m: z.literal('c'), k: z.number(), i: z.string() }),
  z.object({ m: z.literal('n'), k: z.string(), i: z.string() }),
]);
