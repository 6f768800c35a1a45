import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';

/**
 * Remembers which declared password each user's current hash was applied
 * from, so that a start re-applying an unchanged file runs no argon2 per
 * declared user (issue 20; it cost ~7 ms each at every start).
 *
 * The tag is HMAC-SHA256 under a key derived from TESSERA_SECRET (never
 * stored) over the user id, the password hash as stored, and the declared
 * password. It matches only while the file declares the same password AND
 * the stored hash is still the one applied from it: a password changed on
 * the account page, by an administrator or by a rehash changes the hash, the
 * tag no longer matches, and the file's password is verified (and re-applied
 * if it differs) exactly as before. Trade-off at rest: docs/security.md.
 */
export class DeclaredPasswords {
  private remembered?: Map<string, string>;

  constructor(private readonly db: Kysely<Database>, private readonly key: string) {}

  private tag(userId: string, passwordHash: string, password: string): string {
    return createHmac('sha256', this.key).update(`v1\0${userId}\0${passwordHash}\0${password}`).digest('base64url');
  }

  /** True when `password` is what `passwordHash` was applied from, for this user. */
  async unchanged(userId: string, passwordHash: string | null, password: string): Promise<boolean> {
    if (!passwordHash) return false;
    // One read for every declared user of the file, not one per user.
    this.remembered ??= new Map((await this.db.selectFrom('declared_passwords').select(['user_id', 'tag']).execute()).map((r) => [r.user_id, r.tag]));
    const stored = this.remembered.get(userId);
    if (!stored) return false;
    const a = Buffer.from(stored);
    const b = Buffer.from(this.tag(userId, passwordHash, password));
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Records that `passwordHash` holds the declared `password` (after verifying or setting it). */
  async remember(userId: string, passwordHash: string, password: string): Promise<void> {
    const tag = this.tag(userId, passwordHash, password);
    if (this.remembered?.get(userId) === tag) return;
    await this.db.insertInto('declared_passwords').values({ user_id: userId, tag })
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ tag })).execute();
    this.remembered?.set(userId, tag);
  }
}
