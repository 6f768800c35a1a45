import { z } from 'zod';
import { ID_PATTERN } from '../identity/model.js';

/**
 * Boundary schemas of the registration pages and API. Values are only
 * type-checked here; the rules (required fields, lengths, password policy)
 * live in fields.ts, so a page and the API answer with the same field codes.
 */

/** Tenant ids as the configuration file allows them (config/schema.ts). */
export const tenantId = z.string().regex(ID_PATTERN);
/** Interaction uids are the engine's nanoids (interaction/schemas.ts). */
const interactionUid = z.string().regex(/^[A-Za-z0-9_-]{10,64}$/);
/** Link tokens are 43 base64url characters; anything longer is not one of ours. */
const linkToken = z.string().max(200);
const uiLocales = z.string().max(64);

/** Optional query parameters: a malformed one is ignored rather than failing the page. */
const lenient = <T extends z.ZodType>(schema: T) => schema.optional().catch(undefined);

export const registerQuery = z.object({
  tenant: z.string().optional(),
  interaction: lenient(interactionUid),
  invite: lenient(linkToken),
  ui_locales: lenient(uiLocales),
});

export const confirmQuery = z.object({
  token: lenient(linkToken),
  ui_locales: lenient(uiLocales),
});

export const resendQuery = z.object({
  tenant: z.string().optional(),
  ui_locales: lenient(uiLocales),
});

const registrationShape = {
  tenant: z.string().optional(),
  email: z.string().optional(),
  password: z.string().optional(),
  username: z.string().optional(),
  given_name: z.string().optional(),
  family_name: z.string().optional(),
  phone_number: z.string().optional(),
  invite: z.string().optional(),
  // Page-only: where the user came from and the page language.
  interaction: z.string().optional(),
  ui_locales: z.string().optional(),
};
export const registrationBody = z.object(registrationShape);
export type RegistrationBody = z.infer<typeof registrationBody>;

export const resendBody = z.object({
  email: z.string().optional(),
  tenant: z.string().optional(),
  ui_locales: z.string().optional(),
});

export const confirmBody = z.object({
  token: z.string().optional(),
  ui_locales: z.string().optional(),
});

/**
 * Parses a form or JSON body against an object schema. A field of the wrong
 * type (a number in JSON, an array from a repeated form field) is reported
 * as `invalid` and dropped, never a 500. Returns undefined when the body is
 * not an object at all.
 */
export function parseBody<S extends z.ZodRawShape>(schema: z.ZodObject<S>, body: unknown):
  { data: z.infer<z.ZodObject<S>>; fields: Record<string, string> } | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const fields: Record<string, string> = {};
  const input = { ...(body as Record<string, unknown>) };
  for (let attempt = 0; attempt < 2; attempt++) {
    const parsed = schema.safeParse(input);
    if (parsed.success) return { data: parsed.data, fields };
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? '');
      if (!key || !(key in input)) return undefined;
      fields[key] = 'invalid';
      delete input[key];
    }
  }
  return undefined;
}
