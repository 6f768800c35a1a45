import { z } from 'zod';
import { ID_PATTERN } from '../identity/model.js';

/**
 * Boundary schemas of the password pages and API. Forms are parsed leniently
 * (a missing field is an empty string) and then checked field by field, so a
 * bad submission gets a stable code next to each field instead of one error.
 */

/** Tenant ids as the configuration allows them; interaction uids are the engine's nanoids. */
const tenantId = z.string().regex(ID_PATTERN);
const uid = z.string().regex(/^[A-Za-z0-9_-]{10,64}$/);
/** OIDC `ui_locales`: space-separated BCP 47 tags, as the client sent them (negotiated against the catalogues). */
const uiLocales = z.string().max(64);
/** A form field; lengths are checked per field afterwards (the body itself is limited to 64 KiB). */
const text = () => z.string().optional().default('');

/** `?tenant=…&interaction=…` on the forgot-password page (both optional; anything malformed is ignored). */
export const forgotQuery = z.object({
  tenant: tenantId.optional().catch(undefined),
  interaction: uid.optional().catch(undefined),
  ui_locales: uiLocales.optional().catch(undefined),
});

export const forgotForm = z.object({
  email: text(),
  tenant: tenantId.optional().catch(undefined),
  interaction: uid.optional().catch(undefined),
  ui_locales: uiLocales.optional().catch(undefined),
});

/** The JSON API takes the same, strictly. */
export const forgotApiBody = z.strictObject({
  email: z.string().max(1280),
  tenant: tenantId.optional(),
});

/** Link tokens are 43 URL-safe characters; the token repository checks the exact shape (anything else reads as invalid). */
export const resetQuery = z.object({ token: z.string().max(200).catch('') });

export const resetForm = z.object({
  token: z.string().max(200).catch(''),
  password: text(),
  password_confirm: text(),
});

export const changeForm = z.object({
  current_password: text(),
  password: text(),
  password_confirm: text(),
});

/** Emails: one @, something on each side, no spaces or controls; at most 254 characters (RFC 5321 §4.5.3.1.3). */
const EMAIL = /^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+\.[^\s@\p{Cc}]+$/u;

/** Field code for an email address (undefined when it is acceptable). */
export function emailProblem(value: string): 'required' | 'too_long' | 'invalid_email' | undefined {
  const v = value.trim();
  if (!v) return 'required';
  if (v.length > 254) return 'too_long';
  return EMAIL.test(v) ? undefined : 'invalid_email';
}
