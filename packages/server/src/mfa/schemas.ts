import { z } from 'zod';
import { normalizeRecoveryCode } from './recovery-codes.js';

/**
 * Boundary schemas of the MFA pages and the admin reset API. Messages are
 * stable codes (catalogue keys `mfa.error.<code>`). Malformed input is
 * refused here, before any lookup, so it never counts as a guess and never
 * changes state.
 */

/** A 6-digit TOTP code; spaces (as apps display "123 456") are dropped. */
export const totpCodeForm = z.object({
  code: z.string('missing_code').transform((v) => v.replace(/\s/g, '')).refine((v) => v.length > 0, 'missing_code')
    .refine((v) => /^\d{6}$/.test(v), 'malformed_code'),
});

/** A recovery code as printed (XXXXX-XXXXX), any case, with or without the dash and spaces. */
export const recoveryCodeForm = z.object({
  code: z.string('missing_code').max(64, 'malformed_recovery_code').transform((v) => v.trim())
    .refine((v) => v.length > 0, 'missing_code')
    .refine((v) => normalizeRecoveryCode(v) !== undefined, 'malformed_recovery_code'),
});

/** Pending enrollment ids are UUIDs (the secret itself never travels in a form). */
const enrollmentId = z.string().uuid('expired');

export const totpConfirmForm = z.object({
  enrollment: enrollmentId,
  label: z.string().default('').transform((v) => v.trim()).refine((v) => v.length <= 64, 'label_too_long')
    .refine((v) => !/[\p{Cc}]/u.test(v), 'invalid_label'),
  code: totpCodeForm.shape.code,
});

export const removeFactorForm = z.object({
  kind: z.enum(['totp', 'recovery_code', 'passkey'], 'not_found'),
  // 1400: a passkey's id is its WebAuthn credential id, up to 1023 bytes (1364 base64url characters).
  id: z.string().min(1, 'not_found').max(1400, 'not_found'),
});

/** The admin API's path parameter: a user id. */
export const userIdParams = z.object({ id: z.string().min(1).max(128).regex(/^[A-Za-z0-9_-]+$/) });

/** The first issue's code of a failed parse. */
export function firstError(error: z.ZodError, fallback = 'invalid'): string {
  const msg = error.issues[0]?.message ?? fallback;
  return /^[a-z_]+$/.test(msg) ? msg : fallback;
}
