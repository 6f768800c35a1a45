import { z } from 'zod';

/**
 * Per-tenant identity policy. Declared under `tenants[].policy` in the
 * configuration file; every field has a default, so `{}` is a valid policy.
 */
export const tenantPolicySchema = z.strictObject({
  /** Who may create an account from the hosted pages and the self-service API. */
  registration: z.enum(['open', 'invite_only', 'closed'], 'must be open, invite_only or closed').default('closed'),
  /** New accounts stay `pending` (cannot sign in) until the email address is confirmed. */
  require_email_verification: z.boolean().default(true),
  /** Profile fields a registration must fill in, beyond email and password. */
  required_fields: z.array(z.enum(['username', 'given_name', 'family_name', 'phone_number'],
    'must be username, given_name, family_name or phone_number')).default([]),
  password: z.strictObject({
    min_length: z.number().int().min(8, 'must be at least 8').max(128).default(8),
    max_length: z.number().int().min(8).max(1024, 'must be at most 1024').default(128),
    /** Refuse the most common passwords (a list shipped with Tessera). */
    forbid_common: z.boolean().default(true),
    /** Changing one's password on /account needs a second factor first (a step-up, as sensitive admin operations do). */
    change_requires_mfa: z.boolean().default(false),
  }).refine((p) => p.min_length <= p.max_length, { message: 'min_length must not exceed max_length', path: ['min_length'] })
    .default({ min_length: 8, max_length: 128, forbid_common: true, change_requires_mfa: false }),
  lockout: z.strictObject({
    /** Failed sign-ins within the window that lock the account. */
    max_failures: z.number().int().min(1).max(1000).default(5),
    window_seconds: z.number().int().min(1).max(86_400).default(900),
    /** How long the account stays locked. */
    duration_seconds: z.number().int().min(1).max(30 * 86_400).default(900),
  }).default({ max_failures: 5, window_seconds: 900, duration_seconds: 900 }),
  /** Lifetimes of the links Tessera sends. */
  email_confirmation_ttl_seconds: z.number().int().min(60).max(30 * 86_400).default(86_400),
  password_reset_ttl_seconds: z.number().int().min(60).max(86_400).default(3600),
  /** Activation ("set your password") links for accounts created without one (docs/users.md#activation): longer, but bounded. */
  activation_ttl_seconds: z.number().int().min(3600).max(30 * 86_400).default(7 * 86_400),
  /** Password-reset requests allowed per account per hour. */
  password_reset_per_hour: z.number().int().min(1).max(100).default(3),
  /**
   * Multi-factor authentication (docs/mfa.md): `required` for everyone,
   * `optional` (asked of users who enrolled a factor) or `off`; users with
   * one of `required_roles` must use MFA whatever the mode.
   */
  mfa: z.strictObject({
    mode: z.enum(['off', 'optional', 'required'], 'must be off, optional or required').default('optional'),
    required_roles: z.array(z.string().min(1).max(128)).default([]),
  }).default({ mode: 'optional', required_roles: [] }),
  /**
   * `false`: the sign-in page offers no password form, only the tenant's
   * identity providers (and passkeys); with exactly one provider the browser
   * goes there at once (docs/federation.md#choosing-a-provider).
   */
  local_login: z.boolean().default(true),
  /** SMS codes (phone confirmation): per phone number and per client IP, per hour, in this tenant (docs/identity.md#mail-and-sms). */
  sms: z.strictObject({
    per_number_per_hour: z.number().int().min(1).max(100).default(5),
    per_ip_per_hour: z.number().int().min(1).max(10_000).default(20),
  }).default({ per_number_per_hour: 5, per_ip_per_hour: 20 }),
});

export type TenantPolicy = z.infer<typeof tenantPolicySchema>;

export const DEFAULT_POLICY: TenantPolicy = tenantPolicySchema.parse({});

/** Reads a stored policy, falling back to defaults for anything missing or unreadable. */
export function parseStoredPolicy(text: string | null | undefined): TenantPolicy {
  try {
    const parsed = tenantPolicySchema.safeParse(JSON.parse(text || '{}'));
    return parsed.success ? parsed.data : DEFAULT_POLICY;
  } catch {
    return DEFAULT_POLICY;
  }
}
