import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { mapConflict, mapMissingReference } from '../storage/errors.js';

/** A user's link to an account at an external identity provider. */
export interface ExternalLink {
  tenantId: string;
  /** The identity provider's configured alias. */
  provider: string;
  /** The provider's stable subject for the account. */
  subject: string;
  userId: string;
  /** The address the provider asserted when the link was made (display only). */
  email: string | null;
  createdAt: number;
  lastUsedAt: number | null;
}

export type NewExternalLink = Pick<ExternalLink, 'tenantId' | 'provider' | 'subject' | 'userId'> & { email?: string | null };

/**
 * Storage of external links. Federation sign-in finds the user by
 * (tenant, provider, subject); administrators list and remove a user's links.
 */
export interface ExternalLinkRepository {
  /**
   * @throws ConflictError when the provider's subject is linked to a user already (in this tenant)
   * @throws NotFoundError when the user or tenant does not exist
   */
  link(input: NewExternalLink, now?: number): Promise<ExternalLink>;
  find(tenantId: string, provider: string, subject: string): Promise<ExternalLink | undefined>;
  /**
   * Links of the provider's subject in other tenants whose user is a member
   * of `tenantId` (at most two: one is a match, two are ambiguous).
   */
  findOfMembers(tenantId: string, provider: string, subject: string): Promise<ExternalLink[]>;
  /** The user's links, by provider then subject. */
  listForUser(userId: string): Promise<ExternalLink[]>;
  /** Removes one of the user's links; false when the user has no such link. */
  unlink(userId: string, provider: string, subject: string): Promise<boolean>;
  /** Records a sign-in through the link. */
  touch(tenantId: string, provider: string, subject: string, now?: number): Promise<void>;
}

export function createExternalLinkRepository(db: Kysely<Database>): ExternalLinkRepository {
  const toLink = (r: Database['external_links']): ExternalLink => ({
    tenantId: r.tenant_id, provider: r.provider, subject: r.subject, userId: r.user_id, email: r.email,
    createdAt: Number(r.created_at), lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
  });
  return {
    async link(input, now = Date.now()) {
      const row = {
        tenant_id: input.tenantId, provider: input.provider, subject: input.subject, user_id: input.userId,
        email: input.email ?? null, created_at: now, last_used_at: null,
      };
      await mapMissingReference('user', input.userId, () =>
        mapConflict('external link', `${input.provider}/${input.subject}`, () => db.insertInto('external_links').values(row).execute()));
      return toLink(row);
    },
    async find(tenantId, provider, subject) {
      const r = await db.selectFrom('external_links').selectAll()
        .where('tenant_id', '=', tenantId).where('provider', '=', provider).where('subject', '=', subject).executeTakeFirst();
      return r && toLink(r);
    },
    async findOfMembers(tenantId, provider, subject) {
      const rows = await db.selectFrom('external_links as l').innerJoin('memberships as m', 'm.user_id', 'l.user_id').selectAll('l')
        .where('m.tenant_id', '=', tenantId).where('l.tenant_id', '<>', tenantId)
        .where('l.provider', '=', provider).where('l.subject', '=', subject).limit(2).execute();
      return rows.map(toLink);
    },
    async listForUser(userId) {
      const rows = await db.selectFrom('external_links').selectAll().where('user_id', '=', userId).execute();
      // Sorted here, by code units, so SQLite and PostgreSQL collations agree.
      return rows.map(toLink).sort((a, b) => (a.provider === b.provider
        ? (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0)
        : (a.provider < b.provider ? -1 : 1)));
    },
    async unlink(userId, provider, subject) {
      const res = await db.deleteFrom('external_links')
        .where('user_id', '=', userId).where('provider', '=', provider).where('subject', '=', subject).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
    async touch(tenantId, provider, subject, now = Date.now()) {
      await db.updateTable('external_links').set({ last_used_at: now })
        .where('tenant_id', '=', tenantId).where('provider', '=', provider).where('subject', '=', subject).execute();
    },
  };
}

