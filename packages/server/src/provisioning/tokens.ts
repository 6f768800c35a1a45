import { createHmac, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';

/**
 * API tokens for the provisioning APIs (docs/provisioning.md#api-tokens):
 * opt-in (none exist until an administrator creates one), per tenant,
 * scoped, expiring, revocable. The token is `tsr_` + 32 random bytes; only
 * an HMAC of it under a key derived from the KEK is stored, so a database
 * copy holds nothing usable, and a lookup is one unique-index probe.
 */

export const PROVISIONING_SCOPES = ['users.read', 'users.manage', 'groups.manage'] as const;
export type ProvisioningScope = (typeof PROVISIONING_SCOPES)[number];

export const TOKEN_PREFIX = 'tsr_';
/** How long a token lives unless the administrator says otherwise, and the most it may. */
export const DEFAULT_TOKEN_DAYS = 90;
export const MAX_TOKEN_DAYS = 366;
/** `last_used_at` is written at most this often per token (a busy sync job must not write on every call). */
const LAST_USED_RESOLUTION_MS = 60_000;

export interface ApiTokenTable {
  id: string;
  tenant_id: string;
  name: string;
  digest: string;
  hint: string;
  scopes: string;
  created_by: string | null;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface ApiToken {
  id: string;
  tenantId: string;
  name: string;
  hint: string;
  scopes: ProvisioningScope[];
  createdBy: string | null;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

type Db = Kysely<Database & { api_tokens: ApiTokenTable }>;

const toToken = (r: ApiTokenTable): ApiToken => ({
  id: r.id, tenantId: r.tenant_id, name: r.name, hint: r.hint,
  scopes: (JSON.parse(r.scopes) as string[]).filter((s): s is ProvisioningScope => (PROVISIONING_SCOPES as readonly string[]).includes(s)),
  createdBy: r.created_by, createdAt: Number(r.created_at), expiresAt: Number(r.expires_at),
  revokedAt: r.revoked_at === null ? null : Number(r.revoked_at), lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
});

export interface ApiTokenStore {
  create(input: { tenantId: string; name: string; scopes: ProvisioningScope[]; days: number; createdBy: string | null }): Promise<{ token: string; record: ApiToken }>;
  list(tenantId: string): Promise<ApiToken[]>;
  find(id: string): Promise<ApiToken | undefined>;
  revoke(id: string): Promise<boolean>;
  /** The live token a presented value names: unknown, revoked and expired ones are undefined. */
  verify(presented: string): Promise<ApiToken | undefined>;
}

/** `key`: the KEK-derived HMAC key (`kek.derive('provisioning api tokens')`). */
export function createApiTokenStore(database: Kysely<Database>, key: Buffer | string, now: () => number = Date.now): ApiTokenStore {
  const db = database as unknown as Db;
  const digest = (token: string) => createHmac('sha256', key).update(token, 'utf8').digest('base64url');
  const lastTouched = new Map<string, number>();
  return {
    async create({ tenantId, name, scopes, days, createdBy }) {
      const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
      const at = now();
      const row: ApiTokenTable = {
        id: `tok_${randomBytes(9).toString('base64url')}`, tenant_id: tenantId, name, digest: digest(token), hint: token.slice(0, TOKEN_PREFIX.length + 4),
        scopes: JSON.stringify([...new Set(scopes)].sort()), created_by: createdBy, created_at: at, expires_at: at + days * 86_400_000,
        revoked_at: null, last_used_at: null,
      };
      await db.insertInto('api_tokens').values(row).execute();
      return { token, record: toToken(row) };
    },
    async list(tenantId) {
      return (await db.selectFrom('api_tokens').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at', 'desc').execute()).map(toToken);
    },
    async find(id) {
      const row = await db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toToken(row) : undefined;
    },
    async revoke(id) {
      const res = await db.updateTable('api_tokens').set({ revoked_at: now() }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },
    async verify(presented) {
      if (!presented.startsWith(TOKEN_PREFIX) || presented.length > 128) return undefined;
      const row = await db.selectFrom('api_tokens').selectAll().where('digest', '=', digest(presented)).executeTakeFirst();
      const at = now();
      if (!row || row.revoked_at !== null || Number(row.expires_at) <= at) return undefined;
      if (at - (lastTouched.get(row.id) ?? 0) > LAST_USED_RESOLUTION_MS) {
        lastTouched.set(row.id, at);
        await db.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', row.id).execute();
      }
      return toToken({ ...row, last_used_at: at });
    },
  };
}
