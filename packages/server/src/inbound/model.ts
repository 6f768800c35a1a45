import { z } from 'zod';
import { ATTRIBUTE_NAME, SOURCE_NAME } from '../userdata/model.js';
import { CIDR_MESSAGE, parseCidr } from '../oidc/cidr.js';
import { isWebhookSecret } from '../webhooks/signature.js';

/**
 * Inbound contact sync (docs/webhooks.md#inbound-contact-sync): what a
 * source is, how its payload maps onto Tessera's users, and the shape of a
 * batch. Shared by the configuration file and the admin API; no storage or
 * HTTP types here.
 */

/** Profile fields a source may write (the admin API's names). */
export const PROFILE_FIELDS = ['username', 'email', 'email_verified', 'given_name', 'family_name', 'phone_number', 'locale'] as const;
export type ProfileField = (typeof PROFILE_FIELDS)[number];

/** A field of the source's contact record: a key, or a dotted path into nested objects (`address.city`). */
const PAYLOAD_PATH = /^[A-Za-z0-9_$-]{1,64}(\.[A-Za-z0-9_$-]{1,64}){0,4}$/;
const payloadPath = z.string().regex(PAYLOAD_PATH, 'must be a payload key or a dotted path of up to 5 keys');

export const mappingSchema = z.strictObject({
  /** Tessera profile field → the contact record's field. */
  fields: z.partialRecord(z.enum(PROFILE_FIELDS), payloadPath).default({}),
  /** Attribute name → the contact record's field; only attributes the source owns (`source`) are ever written. */
  attributes: z.record(z.string().regex(ATTRIBUTE_NAME, 'must be an attribute name'), payloadPath).default({}),
});
export type Mapping = z.output<typeof mappingSchema>;

export const sourceNameSchema = z.string().regex(SOURCE_NAME, 'must be 1-64 lower-case letters, digits, ".", "_" or "-"');
export const secretSchema = z.string().max(200).refine(isWebhookSecret, 'must be a Standard Webhooks secret: whsec_ and at least 24 base64 bytes');
export const ipAllowlistSchema = z.array(z.string().refine((v) => parseCidr(v) !== undefined, CIDR_MESSAGE)).min(1).max(100);

/** A source as the configuration file declares it (`inbound_sources:`). */
export const inboundSourceFileSchema = z.strictObject({
  tenant: z.string().min(1).max(128).default('default'),
  name: sourceNameSchema,
  secret: secretSchema,
  ip_allowlist: ipAllowlistSchema.optional(),
  mapping: mappingSchema,
  enabled: z.boolean().default(true),
});
export type InboundSourceFileEntry = z.output<typeof inboundSourceFileSchema>;

export type SourceOrigin = 'file' | 'api';

export interface InboundSource {
  id: string;
  tenantId: string;
  name: string;
  ipAllowlist: string[] | null;
  mapping: Mapping;
  enabled: boolean;
  origin: SourceOrigin;
  createdAt: number;
  updatedAt: number;
}

/** At most this many changes in one batch. */
export const MAX_CHANGES = 500;
/** Bodies larger than this are refused (413) before anything is verified. */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

const eventId = z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'must be 1-128 printable ASCII characters');
// Control characters are exactly what this refuses (ids end up in URLs, logs and CSV exports).
// eslint-disable-next-line no-control-regex
const externalId = z.string().min(1).max(256).regex(/^[^\x00-\x1f\x7f]+$/, 'must not contain control characters');
const changedAt = z.iso.datetime({ offset: true }).transform((v) => Date.parse(v));

/** One change of a batch: `id` is the source's event id (idempotency), `changed_at` its change time (ordering). */
export const changeSchema = z.discriminatedUnion('type', [
  z.strictObject({
    id: eventId, type: z.literal('upsert'), external_id: externalId, changed_at: changedAt,
    /** The contact record; mapped by the source's mapping, unmapped keys ignored. */
    contact: z.record(z.string(), z.unknown()),
  }),
  z.strictObject({ id: eventId, type: z.literal('merge'), external_id: externalId, merged: externalId, changed_at: changedAt }),
  z.strictObject({ id: eventId, type: z.literal('anonymize'), external_id: externalId, changed_at: changedAt }),
]);
export type Change = z.output<typeof changeSchema>;

export const batchSchema = z.strictObject({
  changes: z.array(changeSchema).min(1).max(MAX_CHANGES),
}).superRefine((b, ctx) => {
  const seen = new Set<string>();
  b.changes.forEach((c, i) => {
    if (seen.has(c.id)) ctx.addIssue({ code: 'custom', path: ['changes', i, 'id'], message: 'repeats an event id of the batch', params: { code: 'duplicate' } });
    seen.add(c.id);
  });
});
export type Batch = z.output<typeof batchSchema>;

/** What happened to one change. */
export type ChangeStatus = 'created' | 'updated' | 'unchanged' | 'merged' | 'anonymized' | 'duplicate' | 'stale' | 'refused';

export interface ChangeResult {
  id: string;
  status: ChangeStatus;
  user_id?: string;
  /** Why a change was refused (a stable code). */
  code?: string;
  /** For `refused` with code `invalid` or `taken`: field → code. */
  fields?: Record<string, string>;
  /** Mapped attributes this change did not write because the source does not own them (or they are not declared). */
  ignored_attributes?: string[];
}

/** Codes of refused changes (docs/webhooks.md#results). */
export const REFUSAL_CODES = ['invalid', 'taken', 'unknown_contact', 'contact_merged', 'contact_anonymized', 'same_contact'] as const;
