import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';

/**
 * Single-use, expiring tokens for links and codes Tessera sends (email
 * confirmation, password reset, phone codes). Only a SHA-256 digest is stored;
 * consumption is one atomic UPDATE, so a token works once even under races.
 */
export type TokenPurpose = 'email_confirm' | 'email_change' | 'phone_confirm' | 'password_reset';

export type ConsumeResult =
  | { ok: true; userId: string; tenantId: string; target: string | null }
  | { ok: false; reason: 'invalid' | 'expired' | 'used' };

export interface ActionTokenRepository {
  /** Creates a link token (43 URL-safe characters); returns the token itself, which is never stored. */
  createLink(input: TokenInput): Promise<string>;
  /** Creates a 6-digit code bound to the user (codes are only unique per user). */
  createCode(input: TokenInput): Promise<string>;
  consumeLink(token: string, purpose: TokenPurpose, now?: number): Promise<ConsumeResult>;
  consumeCode(userId: string, code: string, purpose: TokenPurpose, now?: number): Promise<ConsumeResult>;
  /** How many tokens of this purpose the user was sent since `since` (rate limiting across instances). */
  countSince(userId: string, purpose: TokenPurpose, since: number): Promise<number>;
  /** Voids the user's unused tokens of a purpose (e.g. older reset links once one is used). */
  invalidate(userId: string, purpose: TokenPurpose, now?: number): Promise<void>;
}

export interface TokenInput {
  userId: string;
  tenantId: string;
  purpose: TokenPurpose;
  target?: string | null;
  ttlSeconds: number;
}

const digest = (value: string) => createHash('sha256').update(value).digest('base64url');
const codeId = (userId: string, purpose: string, code: string) => digest(`${userId}:${purpose}:${code}`);

export function createActionTokenRepository(db: Kysely<Database>): ActionTokenRepository {
  const insert = async (id: string, input: TokenInput) => {
    const now = Date.now();
    await db.insertInto('action_tokens').values({
      id, user_id: input.userId, tenant_id: input.tenantId, purpose: input.purpose, target: input.target ?? null,
      created_at: now, expires_at: now + input.ttlSeconds * 1000, used_at: null,
    }).execute();
  };
  const consume = async (id: string, purpose: TokenPurpose, now: number): Promise<ConsumeResult> => {
    const row = await db.updateTable('action_tokens').set({ used_at: now })
      .where('id', '=', id).where('purpose', '=', purpose).where('used_at', 'is', null).where('expires_at', '>', now)
      .returning(['user_id', 'tenant_id', 'target']).executeTakeFirst();
    if (row) return { ok: true, userId: row.user_id, tenantId: row.tenant_id, target: row.target };
    const existing = await db.selectFrom('action_tokens').select(['used_at', 'expires_at'])
      .where('id', '=', id).where('purpose', '=', purpose).executeTakeFirst();
    if (!existing) return { ok: false, reason: 'invalid' };
    return { ok: false, reason: existing.used_at !== null ? 'used' : 'expired' };
  };
  return {
    async createLink(input) {
      const token = randomBytes(32).toString('base64url');
      await insert(digest(token), input);
      return token;
    },
    async createCode(input) {
      // Older codes for the same purpose stop working: only the latest one sent is valid.
      await this.invalidate(input.userId, input.purpose);
      const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
      await insert(codeId(input.userId, input.purpose, code), input);
      return code;
    },
    consumeLink(token, purpose, now = Date.now()) {
      if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return Promise.resolve({ ok: false, reason: 'invalid' });
      return consume(digest(token), purpose, now);
    },
    consumeCode(userId, code, purpose, now = Date.now()) {
      if (!/^\d{6}$/.test(code)) return Promise.resolve({ ok: false, reason: 'invalid' });
      return consume(codeId(userId, purpose, code), purpose, now);
    },
    async countSince(userId, purpose, since) {
      const r = await db.selectFrom('action_tokens').select((eb) => eb.fn.countAll<number>().as('n'))
        .where('user_id', '=', userId).where('purpose', '=', purpose).where('created_at', '>=', since).executeTakeFirstOrThrow();
      return Number(r.n);
    },
    async invalidate(userId, purpose, now = Date.now()) {
      await db.updateTable('action_tokens').set({ used_at: now })
        .where('user_id', '=', userId).where('purpose', '=', purpose).where('used_at', 'is', null).execute();
    },
  };
}
