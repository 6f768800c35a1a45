import { z } from 'zod';
import { LOCALES } from '../i18n/index.js';
import { USERNAME_MAX, usernameProblem } from '../identity/model.js';

/**
 * Boundary schemas of the account pages. Each issue's message is the stable
 * field code the page shows (and a JSON client would get in `fields`).
 */
const text = (max: number) => z.string('invalid').trim().max(max, 'too_long');

/** E.164 as the configuration file accepts it: a plus sign, then 7 to 15 digits, the first not 0. */
export const E164 = /^\+[1-9]\d{6,14}$/;

export const profileForm = z.object({
  given_name: text(100),
  family_name: text(100),
  // The rule every username follows (identity/model.ts); empty removes the username.
  username: text(USERNAME_MAX).refine((v) => v === '' || usernameProblem(v) === undefined, 'invalid_username'),
  // Spaces, dashes, dots and brackets are accepted as people type them, then dropped.
  phone_number: text(32).transform((v) => v.replace(/[\s().-]/g, '')).refine((v) => v === '' || E164.test(v), 'invalid_phone'),
  locale: z.union([z.literal(''), z.enum(LOCALES)], 'invalid'),
});
export type ProfileForm = z.infer<typeof profileForm>;

export const emailForm = z.object({
  email: z.string('invalid').trim().min(1, 'required').max(254, 'too_long').pipe(z.email('invalid_email')),
});

export const codeForm = z.object({
  code: z.string('invalid').trim().transform((v) => v.replace(/\s/g, '')).refine((v) => /^\d{6}$/.test(v), 'invalid_code'),
});

/** Link tokens are 43 base64url characters; anything else is refused before a lookup. */
export const tokenValue = z.string().regex(/^[A-Za-z0-9_-]{20,100}$/);
export const tokenQuery = z.object({ token: tokenValue });
export const tokenForm = z.object({ token: tokenValue });

/** Engine Session uids and client ids as they appear in the account forms. */
export const sessionForm = z.object({ session: z.string().regex(/^[A-Za-z0-9_-]{10,64}$/) });
export const applicationForm = z.object({ client_id: z.string().min(1).max(256) });

/**
 * Field name → stable code from a failed parse (the first issue per field).
 * Form values that are not single strings (a repeated field) come out as `invalid`.
 */
export function fieldErrors(error: z.ZodError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) {
    const name = String(issue.path[0] ?? '_');
    if (out[name]) continue;
    out[name] = /^[a-z_]+$/.test(issue.message) ? issue.message : 'invalid';
  }
  return out;
}

/** Reads a form body field as submitted, for re-displaying it after an error. */
export function submitted(body: unknown, name: string): string {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v.slice(0, 300) : '';
}
