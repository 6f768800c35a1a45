import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { shape } from '../storage/compiled.js';

/** `listTotp`, compiled once (storage/compiled.ts): run on every sign-in, where Kysely building it anew cost about as much CPU as SQLite took to run it (issue 20). */
const confirmedTotp = shape((db: Kysely<Database>, userId: string) => db.selectFrom('mfa_totp').selectAll().where('user_id', '=', userId)
  .where('confirmed_at', 'is not', null).orderBy('created_at').orderBy('id'));

/** A TOTP authenticator as stored: the secret stays encrypted here; the service decrypts it. */
export interface TotpRecord {
  id: string;
  userId: string;
  label: string;
  encryptedSecret: string;
  lastStep: number | null;
  createdAt: number;
  confirmedAt: number | null;
  lastUsedAt: number | null;
  expiresAt: number | null;
}

/**
 * Storage of the MFA feature, behind narrow methods. Every check-and-change
 * that guards a secret is one conditional UPDATE (a TOTP time step, a
 * recovery code), so two instances racing with the same code cannot both win.
 */
export interface MfaRepository {
  createPendingTotp(userId: string, encryptedSecret: string, ttlMs: number, now?: number): Promise<string>;
  /** A pending (unconfirmed, unexpired) enrollment of the user. */
  findPendingTotp(userId: string, id: string, now?: number): Promise<TotpRecord | undefined>;
  /** Enables a pending enrollment with the time step of its first code; false when it is gone or expired. */
  confirmTotp(userId: string, id: string, label: string, step: number, now?: number): Promise<boolean>;
  listTotp(userId: string): Promise<TotpRecord[]>;
  /**
   * Records a used time step if it is newer than the last one (replay
   * protection, RFC 6238 §5.2); false when this or a later step was used.
   */
  advanceTotpStep(id: string, step: number, now?: number): Promise<boolean>;
  deleteTotp(userId: string, id: string): Promise<boolean>;
  deleteAllTotp(userId: string): Promise<number>;

  /** Replaces the user's recovery codes (regeneration voids the old ones) in one transaction. */
  replaceRecoveryCodes(userId: string, hashes: string[], now?: number): Promise<void>;
  /** Marks an unused code as used; false when unknown or used already. */
  useRecoveryCode(userId: string, hash: string, now?: number): Promise<boolean>;
  recoveryStatus(userId: string): Promise<{ total: number; remaining: number; createdAt: number | null }>;
  deleteRecoveryCodes(userId: string): Promise<number>;

  /** Counts a wrong second-factor code in the window; returns the count. A correct password does not reset it. */
  incrementFailures(userId: string, now: number, windowStart: number): Promise<number>;
  clearFailures(userId: string): Promise<void>;
  /** Deletes expired pending enrollments. */
  sweep(now?: number): Promise<number>;
}

const toTotp = (r: Database['mfa_totp']): TotpRecord => ({
  id: r.id,
  userId: r.user_id,
  label: r.label,
  encryptedSecret: r.secret,
  lastStep: r.last_step === null ? null : Number(r.last_step),
  createdAt: Number(r.created_at),
  confirmedAt: r.confirmed_at === null ? null : Number(r.confirmed_at),
  lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
  expiresAt: r.expires_at === null ? null : Number(r.expires_at),
});

export function createMfaRepository(db: Kysely<Database>): MfaRepository {
  return {
    async createPendingTotp(userId, encryptedSecret, ttlMs, now = Date.now()) {
      const id = randomUUID();
      // One pending enrollment per user at a time: starting again voids the previous QR code.
      await db.deleteFrom('mfa_totp').where('user_id', '=', userId).where('confirmed_at', 'is', null).execute();
      await db.insertInto('mfa_totp').values({
        id, user_id: userId, label: '', secret: encryptedSecret, last_step: null, created_at: now,
        confirmed_at: null, last_used_at: null, expires_at: now + ttlMs,
      }).execute();
      return id;
    },
    async findPendingTotp(userId, id, now = Date.now()) {
      const row = await db.selectFrom('mfa_totp').selectAll().where('id', '=', id).where('user_id', '=', userId)
        .where('confirmed_at', 'is', null).where('expires_at', '>', now).executeTakeFirst();
      return row ? toTotp(row) : undefined;
    },
    async confirmTotp(userId, id, label, step, now = Date.now()) {
      const res = await db.updateTable('mfa_totp')
        .set({ label, last_step: step, confirmed_at: now, last_used_at: now, expires_at: null })
        .where('id', '=', id).where('user_id', '=', userId).where('confirmed_at', 'is', null).where('expires_at', '>', now)
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },
    async listTotp(userId) {
      return (await confirmedTotp.execute(db, userId)).map(toTotp);
    },
    async advanceTotpStep(id, step, now = Date.now()) {
      const res = await db.updateTable('mfa_totp').set({ last_step: step, last_used_at: now })
        .where('id', '=', id).where('confirmed_at', 'is not', null)
        .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
        .executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },
    async deleteTotp(userId, id) {
      const res = await db.deleteFrom('mfa_totp').where('id', '=', id).where('user_id', '=', userId)
        .where('confirmed_at', 'is not', null).executeTakeFirst();
      return Number(res.numDeletedRows) === 1;
    },
    async deleteAllTotp(userId) {
      const res = await db.deleteFrom('mfa_totp').where('user_id', '=', userId).executeTakeFirst();
      return Number(res.numDeletedRows);
    },

    async replaceRecoveryCodes(userId, hashes, now = Date.now()) {
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
        if (hashes.length) {
          await trx.insertInto('mfa_recovery_codes')
            .values(hashes.map((h) => ({ user_id: userId, code_hash: h, created_at: now, used_at: null }))).execute();
        }
      });
    },
    async useRecoveryCode(userId, hash, now = Date.now()) {
      const res = await db.updateTable('mfa_recovery_codes').set({ used_at: now })
        .where('user_id', '=', userId).where('code_hash', '=', hash).where('used_at', 'is', null).executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },
    async recoveryStatus(userId) {
      const rows = await db.selectFrom('mfa_recovery_codes').select(['used_at', 'created_at']).where('user_id', '=', userId).execute();
      return {
        total: rows.length,
        remaining: rows.filter((r) => r.used_at === null).length,
        createdAt: rows.length ? Math.min(...rows.map((r) => Number(r.created_at))) : null,
      };
    },
    async deleteRecoveryCodes(userId) {
      const res = await db.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).executeTakeFirst();
      return Number(res.numDeletedRows);
    },

    async incrementFailures(userId, now, windowStart) {
      return db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('mfa_failures').selectAll().where('user_id', '=', userId).executeTakeFirst();
        if (!row || Number(row.window_start) < windowStart) {
          const values = { failures: 1, window_start: now };
          await trx.insertInto('mfa_failures').values({ user_id: userId, ...values })
            .onConflict((oc) => oc.column('user_id').doUpdateSet(values)).execute();
          return 1;
        }
        const updated = await trx.updateTable('mfa_failures').set((eb) => ({ failures: eb('failures', '+', 1) }))
          .where('user_id', '=', userId).returning('failures').executeTakeFirst();
        return Number(updated?.failures ?? row.failures + 1);
      });
    },
    async clearFailures(userId) {
      await db.deleteFrom('mfa_failures').where('user_id', '=', userId).execute();
    },
    async sweep(now = Date.now()) {
      const res = await db.deleteFrom('mfa_totp').where('confirmed_at', 'is', null).where('expires_at', '<=', now).executeTakeFirst();
      return Number(res.numDeletedRows);
    },
  };
}
