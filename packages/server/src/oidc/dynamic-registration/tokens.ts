import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Kysely, Selectable } from 'kysely';
import type { Database, RegistrationTokensTable } from '../../storage/schema.js';
import { createClientRepository } from '../repository.js';
import type { ClientRecord } from '../repository.js';

/**
 * Initial access tokens (RFC 7591 §3: "an OAuth 2.0 access token … used to
 * limit registration to only authorized clients"), per tenant, and the
 * ledger of dynamically registered clients that the per-tenant quota counts.
 * Tokens are 256 random bits, stored as SHA-256 digests only.
 */

export interface RegistrationToken {
  id: string;
  tenantId: string;
  description: string | null;
  /** API scopes clients registered with this token may obtain. */
  scope: string | null;
  maxUses: number | null;
  uses: number;
  createdBy: string | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

export const hashRegistrationToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('base64url');

function toToken(r: Selectable<RegistrationTokensTable>): RegistrationToken {
  return {
    id: r.id, tenantId: r.tenant_id, description: r.description, scope: r.scope, maxUses: r.max_uses === null ? null : Number(r.max_uses),
    uses: Number(r.uses), createdBy: r.created_by, createdAt: Number(r.created_at),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at), revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}

export interface RegistrationTokenStore {
  /** A new token; the value is returned once, only its digest is kept. */
  create(input: { tenantId: string; description?: string; scope?: string; maxUses?: number; expiresAt?: number; createdBy?: string }): Promise<{ token: RegistrationToken; value: string }>;
  list(tenantIds?: readonly string[]): Promise<RegistrationToken[]>;
  find(id: string): Promise<RegistrationToken | undefined>;
  /** Marks it revoked (kept for the audit trail); false when unknown or already revoked. */
  revoke(id: string, at?: number): Promise<boolean>;
  /** The live token with this value (not revoked, not expired, uses left), or undefined. */
  findUsable(value: string, now?: number): Promise<RegistrationToken | undefined>;
  /**
   * Stores a registered client in one transaction: the tenant's quota is
   * checked, one use of the token is counted (only while uses remain), the
   * client row and its ledger entry are written. Nothing is written unless
   * all of it is.
   */
  register(client: ClientRecord, tokenId: string | null, maxPerTenant: number, now?: number): Promise<'ok' | 'quota' | 'token_used_up'>;
  /** Dynamically registered clients of the tenant that still exist. */
  countRegistered(tenantId: string): Promise<number>;
  isRegistered(clientId: string): Promise<boolean>;
  forget(clientId: string): Promise<void>;
}

async function countIn(db: Kysely<Database>, tenantId: string): Promise<number> {
  const r = await db.selectFrom('registered_clients as r').innerJoin('clients as c', 'c.client_id', 'r.client_id')
    .select((eb) => eb.fn.countAll<number>().as('n')).where('r.tenant_id', '=', tenantId).executeTakeFirst();
  return Number(r?.n ?? 0);
}

export function createRegistrationTokenStore(db: Kysely<Database>): RegistrationTokenStore {
  return {
    async create(input) {
      const value = randomBytes(32).toString('base64url');
      const row = {
        id: randomUUID(), tenant_id: input.tenantId, token_hash: hashRegistrationToken(value), description: input.description ?? null,
        scope: input.scope ?? null, max_uses: input.maxUses ?? null, created_by: input.createdBy ?? null, created_at: Date.now(),
        expires_at: input.expiresAt ?? null, revoked_at: null,
      };
      await db.insertInto('registration_tokens').values(row).execute();
      return { token: toToken({ ...row, uses: 0 }), value };
    },
    async list(tenantIds) {
      let q = db.selectFrom('registration_tokens').selectAll().orderBy('created_at', 'desc').orderBy('id');
      if (tenantIds) {
        if (!tenantIds.length) return [];
        q = q.where('tenant_id', 'in', [...tenantIds]);
      }
      return (await q.execute()).map(toToken);
    },
    async find(id) {
      const r = await db.selectFrom('registration_tokens').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? toToken(r) : undefined;
    },
    async revoke(id, at = Date.now()) {
      const res = await db.updateTable('registration_tokens').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },
    async findUsable(value, now = Date.now()) {
      const r = await db.selectFrom('registration_tokens').selectAll().where('token_hash', '=', hashRegistrationToken(value)).executeTakeFirst();
      if (!r) return undefined;
      const t = toToken(r);
      if (t.revokedAt !== null || (t.expiresAt !== null && t.expiresAt <= now) || (t.maxUses !== null && t.uses >= t.maxUses)) return undefined;
      return t;
    },
    async register(client, tokenId, maxPerTenant, now = Date.now()) {
      return db.transaction().execute(async (trx) => {
        if (await countIn(trx, client.tenantId) >= maxPerTenant) return 'quota' as const;
        if (tokenId !== null) {
          // One statement: two registrations racing for the last use cannot both get it.
          const res = await trx.updateTable('registration_tokens').set({ uses: sql<number>`uses + 1` })
            .where('id', '=', tokenId).where('revoked_at', 'is', null)
            .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
            .executeTakeFirst();
          if (Number(res.numUpdatedRows) !== 1) return 'token_used_up' as const;
        }
        await createClientRepository(trx).create(client);
        await trx.insertInto('registered_clients').values({ client_id: client.clientId, tenant_id: client.tenantId, token_id: tokenId, registered_at: now }).execute();
        return 'ok' as const;
      });
    },
    countRegistered: (tenantId) => countIn(db, tenantId),
    async isRegistered(clientId) {
      return (await db.selectFrom('registered_clients').select('client_id').where('client_id', '=', clientId).executeTakeFirst()) !== undefined;
    },
    async forget(clientId) {
      await db.deleteFrom('registered_clients').where('client_id', '=', clientId).execute();
    },
  };
}
