import { z } from 'zod';
import { clientSchema } from '../../config/schema.js';
import type { ClientRecord } from '../../oidc/repository.js';
import { iso, isoTime, pathId } from '../schemas.js';

/**
 * Client schemas of the admin API, derived from the configuration file's
 * client schema: a client created here is valid in the file and vice versa,
 * and a field added there (e.g. `mfa`, `ip_allowlist`) appears here too.
 */
const { client_secret: _secret, ...fields } = clientSchema.shape;

/**
 * POST /clients: the file's fields without `client_secret` (a confidential
 * client's secret is generated). The tenant defaults to the caller's, not to
 * `default` as in the file.
 */
export const createClientBody = z.strictObject({
  ...fields,
  tenant: fields.tenant.unwrap().optional().describe('Default: the caller\'s tenant.'),
});

/** PATCH: the same fields, none required, no defaults (absent stays), null clears an optional one. */
const { client_id: _id, ...patchable } = fields;
export const patchClientBody = z.strictObject(Object.fromEntries(Object.entries(patchable).map(([k, v]) => {
  const base = v instanceof z.ZodDefault ? (v.unwrap() as z.ZodType) : v instanceof z.ZodOptional ? (v.unwrap() as z.ZodType) : (v as z.ZodType);
  return [k, base.nullable().optional()];
})) as { [K in keyof typeof patchable]: z.ZodOptional<z.ZodNullable<z.ZodType>> });
export type ClientPatch = Record<string, unknown>;

export const clientView = z.object({
  ...fields,
  has_secret: z.boolean().describe('Confidential client (the secret itself is never shown again).'),
  previous_secret_expires_at: isoTime.nullable().describe('After a rotation: when the previous secret stops working.'),
  created_at: isoTime.nullable(),
  updated_at: isoTime.nullable(),
});

export function toClientView(c: ClientRecord, now = Date.now()): z.input<typeof clientView> {
  const previous = c.previousSecret && c.previousSecret.expiresAt > now ? c.previousSecret.expiresAt : null;
  return {
    ...(c.metadata as Record<string, never>),
    client_id: c.clientId, tenant: c.tenantId, first_party: c.firstParty,
    has_secret: c.secretHash !== null, previous_secret_expires_at: iso(previous),
    created_at: iso(c.createdAt), updated_at: iso(c.updatedAt),
  };
}

/** Answers that carry a secret: shown once, never stored in the clear. */
export const clientWithSecret = clientView.extend({
  client_secret: z.string().optional().describe('Only in this answer: store it now; Tessera keeps only a digest.'),
});

export const clientParams = z.object({ id: pathId });

export const rotateBody = z.strictObject({
  overlap_seconds: z.number().int().min(0).max(30 * 86_400).default(86_400)
    .describe('How long the previous secret keeps working (default one day; 0: it stops at once).'),
});
export const rotateResponse = z.object({
  client_id: z.string(),
  client_secret: z.string().describe('The new secret: shown only in this answer.'),
  previous_secret_expires_at: isoTime.nullable(),
});
