import { z } from 'zod';

/**
 * Authorization parameters a browser app may pass through `/bff/login`
 * (OIDC Core §3.1.2.1): step-up (`acr_values`, `max_age`), `prompt`,
 * `login_hint` and `ui_locales`. Each is checked here so that nothing but a
 * well-formed value reaches the platform; the platform decides what they mean.
 * A repeated parameter arrives as an array and is refused.
 */
const tokenList = (max: number, token: RegExp) => z.string().max(max)
  .refine((v) => v.split(' ').every((t) => token.test(t)), 'must be a space-separated list of tokens');

// RFC 6749 §3.3 scope-token characters (acr values are URIs or such tokens).
const NQCHAR = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const PROMPT = /^(none|login|consent|select_account)$/;
// BCP 47 language tags, loosely (the platform falls back to a language it has).
const LANGUAGE_TAG = /^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$/;

export const LoginQuerySchema = z.object({
  returnTo: z.string().optional(),
  acr_values: tokenList(512, NQCHAR).optional(),
  max_age: z.string().regex(/^\d{1,9}$/, 'must be a whole number of seconds').optional(),
  prompt: tokenList(64, PROMPT).optional(),
  login_hint: z.string().min(1).max(256)
    .refine((v) => ![...v].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f), 'must not contain control characters')
    .optional(),
  ui_locales: tokenList(128, LANGUAGE_TAG).optional(),
}).loose();

/** The pass-through parameters of a validated `/bff/login` query, ready for the authorization request. */
export function passThroughParams(query: z.infer<typeof LoginQuerySchema>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['acr_values', 'max_age', 'prompt', 'login_hint', 'ui_locales'] as const) {
    const value = query[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
