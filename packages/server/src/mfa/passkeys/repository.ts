import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Database, PasskeysTable } from '../../storage/schema.js';
import { mapConflict, mapMissingReference } from '../../storage/errors.js';
import { shape } from '../../storage/compiled.js';

/** `listByUser`, compiled once (storage/compiled.ts): run on every sign-in, where Kysely building it anew cost about as much CPU as SQLite took to run it (issue 20). */
const passkeysOf = shape((db: Kysely<Database>, userId: string) => db.selectFrom('passkeys').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id'));

/** A registered passkey as the rest of Tessera sees it. */
export interface Passkey {
  /** The credential id, base64url. */
  id: string;
  userId: string;
  tenantId: string;
  /** COSE public key, base64url. */
  publicKey: string;
  signCount: number;
  transports: string[];
  aaguid: string;
  deviceType: 'singleDevice' | 'multiDevice';
  backedUp: boolean;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export type NewPasskey = Omit<Passkey, 'createdAt' | 'lastUsedAt'>;

export interface PasskeyRepository {
  /** @throws ConflictError when the credential id is already registered (to anyone); NotFoundError for an unknown user. */
  create(input: NewPasskey, now?: number): Promise<Passkey>;
  findById(id: string): Promise<Passkey | undefined>;
  listByUser(userId: string): Promise<Passkey[]>;
  /** Renames one of the user's passkeys; false when the user has no such passkey. */
  rename(userId: string, id: string, name: string): Promise<boolean>;
  remove(userId: string, id: string): Promise<boolean>;
  removeAll(userId: string): Promise<number>;
  /**
   * Records a successful use: the new counter and backup state, only if the
   * stored counter is still `expectedCount` (compare-and-set), so two racing
   * assertions cannot both move the counter. False when it changed meanwhile.
   */
  recordUse(id: string, expectedCount: number, update: { signCount: number; backedUp: boolean }, now?: number): Promise<boolean>;
}

const toPasskey = (row: Selectable<PasskeysTable>): Passkey => ({
  id: row.id,
  userId: row.user_id,
  tenantId: row.tenant_id,
  publicKey: row.public_key,
  signCount: Number(row.sign_count),
  transports: parseTransports(row.transports),
  aaguid: row.aaguid,
  deviceType: row.device_type === 'multiDevice' ? 'multiDevice' : 'singleDevice',
  backedUp: row.backed_up === 1,
  name: row.name,
  createdAt: Number(row.created_at),
  lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
});

function parseTransports(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((t): t is string => typeof t === 'string') : [];
  } catch {
    return [];
  }
}

export function createPasskeyRepository(db: Kysely<Database>): PasskeyRepository {
  return {
    async create(input, now = Date.now()) {
      const row = {
        id: input.id, user_id: input.userId, tenant_id: input.tenantId, public_key: input.publicKey, sign_count: input.signCount,
        transports: JSON.stringify(input.transports), aaguid: input.aaguid, device_type: input.deviceType,
        backed_up: input.backedUp ? 1 : 0, name: input.name, created_at: now, last_used_at: null,
      };
      await mapMissingReference('user', input.userId, () =>
        mapConflict('passkey', 'credential already registered', () => db.insertInto('passkeys').values(row).execute()));
      return toPasskey(row);
    },
    async findById(id) {
      const row = await db.selectFrom('passkeys').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toPasskey(row) : undefined;
    },
    async listByUser(userId) {
      return (await passkeysOf.execute(db, userId)).map(toPasskey);
    },
    async rename(userId, id, name) {
      const res = await db.updateTable('passkeys').set({ name }).where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },
    async remove(userId, id) {
      const res = await db.deleteFrom('passkeys').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
    async removeAll(userId) {
      const res = await db.deleteFrom('passkeys').where('user_id', '=', userId).executeTakeFirst();
      return Number(res.numDeletedRows);
    },
    async recordUse(id, expectedCount, update, now = Date.now()) {
      const res = await db.updateTable('passkeys')
        .set({ sign_count: update.signCount, backed_up: update.backedUp ? 1 : 0, last_used_at: now })
        .where('id', '=', id).where('sign_count', '=', expectedCount).executeTakeFirst();
      return Number(res.numUpdatedRows) > 0;
    },
  };
}

export type ChallengePurpose = 'register' | 'login' | 'mfa';

/** What a challenge is bound to: it is only accepted back for the same purpose and binding. */
export interface ChallengeBinding {
  purpose: ChallengePurpose;
  userId?: string | null;
  interactionUid?: string | null;
}

export interface ChallengeStore {
  /**
   * Creates a random challenge (base64url, 32 bytes) bound to `binding`, or
   * undefined when the binding already has `maxLive` live challenges (a page
   * asking for options in a loop must not fill the table).
   */
  create(binding: ChallengeBinding, ttlSeconds: number, maxLive: number, now?: number): Promise<string | undefined>;
  /**
   * Consumes a challenge: true only if it exists, is live and has exactly
   * this binding. One atomic DELETE, so a challenge is accepted at most once,
   * across instances.
   */
  consume(challenge: string, binding: ChallengeBinding, now?: number): Promise<boolean>;
  /** Deletes expired challenges; returns how many. */
  sweep(now?: number): Promise<number>;
}

export function createChallengeStore(db: Kysely<Database>): ChallengeStore {
  const bound = (binding: ChallengeBinding) => ({
    purpose: binding.purpose,
    user_id: binding.userId ?? null,
    interaction_uid: binding.interactionUid ?? null,
  });
  return {
    async create(binding, ttlSeconds, maxLive, now = Date.now()) {
      const b = bound(binding);
      // Expired rows go first (cheap, indexed), so the live count below is exact.
      await db.deleteFrom('webauthn_challenges').where('expires_at', '<=', now).execute();
      const live = await db.selectFrom('webauthn_challenges').select((eb) => eb.fn.countAll<number>().as('n'))
        .where('purpose', '=', b.purpose)
        .where('user_id', b.user_id === null ? 'is' : '=', b.user_id)
        .where('interaction_uid', b.interaction_uid === null ? 'is' : '=', b.interaction_uid)
        .executeTakeFirst();
      if (Number(live?.n ?? 0) >= maxLive) return undefined;
      const challenge = randomBytes(32).toString('base64url');
      await db.insertInto('webauthn_challenges').values({ challenge, ...b, created_at: now, expires_at: now + ttlSeconds * 1000 }).execute();
      return challenge;
    },
    async consume(challenge, binding, now = Date.now()) {
      const b = bound(binding);
      const res = await db.deleteFrom('webauthn_challenges')
        .where('challenge', '=', challenge)
        .where('purpose', '=', b.purpose)
        .where('user_id', b.user_id === null ? 'is' : '=', b.user_id)
        .where('interaction_uid', b.interaction_uid === null ? 'is' : '=', b.interaction_uid)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
    async sweep(now = Date.now()) {
      const res = await db.deleteFrom('webauthn_challenges').where('expires_at', '<=', now).executeTakeFirst();
      return Number(res.numDeletedRows);
    },
  };
}
