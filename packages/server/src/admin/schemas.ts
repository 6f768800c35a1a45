import { z } from 'zod';
import { isStorableText } from '../storage/text.js';
import { ID_PATTERN, USERNAME_MAX, usernameProblem } from '../identity/model.js';

/**
 * Boundary schemas shared by the admin routes. Custom checks carry a stable
 * field code in `params.code` (routing.ts turns it into `fields`), the same
 * codes the registration API uses where the rule is the same.
 */

const custom = (code: string, message: string) => ({ message, params: { code } });
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const noControl = (v: string) => !CONTROL.test(v);

/** Tenant ids and role names, as the configuration file allows them. */
export const idSchema = z.string().regex(ID_PATTERN, custom('invalid', 'must be 1-128 letters, digits, ".", "_", ":" or "-"'));
/** Path parameters: anything storable, so an odd value is simply not found (never a driver error). */
export const pathId = z.string().min(1).max(512).refine(isStorableText, custom('invalid', 'must not contain NUL'));

/** A pragmatic address check (deliverability is proven by mail, not by a regex), as registration uses. */
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
export const emailSchema = z.string().trim().max(254).refine((v) => EMAIL.test(v), custom('invalid_email', 'must be an email address'));
/** No whitespace, no "@" (a username must never shadow someone's email sign-in), no control characters. */
export const usernameSchema = z.string().trim().min(1).max(USERNAME_MAX)
  .refine((v) => usernameProblem(v) !== 'invalid_username', custom('invalid_username', 'must not contain spaces, "@" or control characters'));
export const nameSchema = z.string().trim().max(256).refine(noControl, custom('invalid', 'must not contain control characters'));
export const phoneSchema = z.string().refine((v) => /^\+[1-9]\d{6,14}$/.test(v), custom('invalid_phone', 'must be an E.164 number such as +4930123456'));
export const passwordSchema = z.string().min(1).max(1024).refine(isStorableText, custom('invalid', 'must not contain NUL'));
export const localeSchema = z.enum(['en', 'de']);
export const userStatusSchema = z.enum(['pending', 'active', 'locked', 'disabled']);

export const limitSchema = z.coerce.number().int().min(1).max(200).default(50)
  .describe('Page size (1-200, default 50).');
export const cursorSchema = z.string().max(1024).describe('The `next_cursor` of the previous page.');

/** Times in answers: RFC 3339 strings, UTC. */
export const isoTime = z.string().describe('RFC 3339 date-time (UTC).');
export const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** A time in a query: RFC 3339 or epoch milliseconds. */
export const timeParam = z.string().max(64).transform((v, ctx) => {
  const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: 'must be an RFC 3339 date-time or epoch milliseconds', params: { code: 'invalid' } });
    return z.NEVER;
  }
  return ms;
});

/** Opaque cursors: base64url JSON the server wrote. A cursor the server did not write is a 400, never a 500. */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor<T>(cursor: string | undefined, schema: z.ZodType<T>): T | undefined | 'invalid' {
  if (cursor === undefined) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return parsed.success ? parsed.data : 'invalid';
  } catch {
    return 'invalid';
  }
}

/** `{ items, next_cursor }`: the shape of every list. */
export const pageOf = <T extends z.ZodType>(item: T) => z.object({
  items: z.array(item),
  next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
});
export const listOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });
