import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { normalizeEmail } from './model.js';

/**
 * Single-use, expiring tokens for links and codes Tessera sends (email
 * confirmation, password reset, phone codes). Only a SHA-256 digest is stored;
 * consumption is one atomic UPDATE, so a token works once even under races.
 */
export type TokenPurpose = 'email_confirm' | 'email_change' | 'phone_confirm' | 'password_reset' | 'invite'
  /** Lets the person who just registered confirm their phone number (registration/phone.ts): they cannot sign in yet. */
  | 'phone_registration'
  /** Sets the first password of an account created without one (userdata/activation.ts). */
  | 'activation';

export type ConsumeResult =
  | { ok: true; userId: string; tenantId: string; target: string | null }
  /** `inspectLink` adds `tenantId` for a token that exists (expired or used): a page can offer a new one in the right tenant. */
  | { ok: false; reason: 'invalid' | 'expired' | 'used'; tenantId?: string };

/** An invitation to register: bound to a tenant and an email address, not to a user (there is none yet). */
export type InviteResult =
  | { ok: true; tenantId: string; email: string }
  | { ok: false; reason: 'invalid' | 'expired' | 'used' };

export interface ActionTokenRepository {
  /** Creates a link token (43 URL-safe characters); returns the token itself, which is never stored. */
  createLink(input: TokenInput): Promise<string>;
  /** Creates a 6-digit code bound to the user (codes are only unique per user). */
  createCode(input: TokenInput): Promise<string>;
  consumeLink(token: string, purpose: TokenPurpose, now?: number): Promise<ConsumeResult>;
  consumeCode(userId: string, code: string, purpose: TokenPurpose, now?: number): Promise<ConsumeResult>;
  /**
   * What consuming a link token would answer, without consuming it: pages
   * reached by GET (which mail scanners prefetch) show this and consume only
   * on the POST that follows.
   */
  inspectLink(token: string, purpose: TokenPurpose, now?: number): Promise<ConsumeResult>;
  /** Creates an invitation link token for `email` (normalised) in a tenant. */
  createInvite(input: { tenantId: string; email: string; ttlSeconds: number }): Promise<string>;
  /** Like `inspectLink`, for invitations. */
  inspectInvite(token: string, now?: number): Promise<InviteResult>;
  /** Consumes an invitation, only for the address it was sent to (another address: `invalid`, nothing consumed). */
  consumeInvite(token: string, email: string, now?: number): Promise<InviteResult>;
  /** How many tokens of this purpose the user was sent since `since` (rate limiting across instances). */
  countSince(userId: string, purpose: TokenPurpose, since: number): Promise<number>;
  /** Voids the user's unused tokens of a purpose (e.g. older reset links once one is used). */
  invalidate(userId: string, purpose: TokenPurpose, now?: number): Promise<void>;
  /**
   * Counts a wrong guess against the user's live code(s) of a purpose; the
   * guess that reaches `maxAttempts` voids them. Returns the guesses left
   * (0 when no live code remains).
   */
  recordFailure(userId: string, purpose: TokenPurpose, maxAttempts: number, now?: number): Promise<number>;
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
  /** Why a token that was not (or will not be) consumed fails, or its row when it is live. */
  const lookup = async (id: string, purpose: TokenPurpose, now: number) => {
    const row = await db.selectFrom('action_tokens').select(['user_id', 'tenant_id', 'target', 'used_at', 'expires_at'])
      .where('id', '=', id).where('purpose', '=', purpose).executeTakeFirst();
    if (!row) return { ok: false as const, reason: 'invalid' as const };
    if (row.used_at !== null) return { ok: false as const, reason: 'used' as const, tenantId: row.tenant_id };
    if (Number(row.expires_at) <= now) return { ok: false as const, reason: 'expired' as const, tenantId: row.tenant_id };
    return { ok: true as const, row };
  };
  const consume = async (id: string, purpose: TokenPurpose, now: number): Promise<ConsumeResult> => {
    const row = await db.updateTable('action_tokens').set({ used_at: now })
      .where('id', '=', id).where('purpose', '=', purpose).where('used_at', 'is', null).where('expires_at', '>', now)
      .where('user_id', 'is not', null)
      .returning(['user_id', 'tenant_id', 'target']).executeTakeFirst();
    if (row?.user_id) return { ok: true, userId: row.user_id, tenantId: row.tenant_id, target: row.target };
    const found = await lookup(id, purpose, now);
    return { ok: false, reason: found.ok ? 'invalid' : found.reason };
  };
  const wellFormed = (token: string) => /^[A-Za-z0-9_-]{20,100}$/.test(token);
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
      if (!wellFormed(token)) return Promise.resolve({ ok: false, reason: 'invalid' });
      return consume(digest(token), purpose, now);
    },
    async inspectLink(token, purpose, now = Date.now()) {
      if (!wellFormed(token)) return { ok: false, reason: 'invalid' };
      const found = await lookup(digest(token), purpose, now);
      if (!found.ok) return found;
      if (!found.row.user_id) return { ok: false, reason: 'invalid' };
      return { ok: true, userId: found.row.user_id, tenantId: found.row.tenant_id, target: found.row.target };
    },
    async createInvite(input) {
      const token = randomBytes(32).toString('base64url');
      const now = Date.now();
      await db.insertInto('action_tokens').values({
        id: digest(token), user_id: null, tenant_id: input.tenantId, purpose: 'invite', target: normalizeEmail(input.email),
        created_at: now, expires_at: now + input.ttlSeconds * 1000, used_at: null,
      }).execute();
      return token;
    },
    async inspectInvite(token, now = Date.now()) {
      if (!wellFormed(token)) return { ok: false, reason: 'invalid' };
      const found = await lookup(digest(token), 'invite', now);
      if (!found.ok) return { ok: false, reason: found.reason };
      return { ok: true, tenantId: found.row.tenant_id, email: found.row.target ?? '' };
    },
    async consumeInvite(token, email, now = Date.now()) {
      if (!wellFormed(token)) return { ok: false, reason: 'invalid' };
      const id = digest(token);
      const row = await db.updateTable('action_tokens').set({ used_at: now })
        .where('id', '=', id).where('purpose', '=', 'invite').where('used_at', 'is', null).where('expires_at', '>', now)
        .where('target', '=', normalizeEmail(email))
        .returning(['tenant_id', 'target']).executeTakeFirst();
      if (row) return { ok: true, tenantId: row.tenant_id, email: row.target ?? '' };
      const found = await lookup(id, 'invite', now);
      return { ok: false, reason: found.ok ? 'invalid' : found.reason };
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
    async recordFailure(userId, purpose, maxAttempts, now = Date.now()) {
      // One UPDATE counts and voids, so parallel guesses cannot exceed the limit.
      const rows = await db.updateTable('action_tokens')
        .set((eb) => ({
          attempts: eb('attempts', '+', 1),
          used_at: eb.case().when('attempts', '>=', maxAttempts - 1).then(now).else(eb.ref('used_at')).end(),
        }))
        .where('user_id', '=', userId).where('purpose', '=', purpose).where('used_at', 'is', null).where('expires_at', '>', now)
        .returning('attempts').execute();
      return rows.reduce((left, r) => Math.max(left, maxAttempts - Number(r.attempts)), 0);
    },
  };
}
