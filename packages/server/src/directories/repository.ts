import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';

/** Tables of migration 034 (directories): typed here, beside the code that owns them. */
export interface DirectoryEntriesTable {
  provider: string; subject: string; tenant_id: string; user_id: string; dn: string;
  groups: string; roles: string; present: number; seen_at: number;
}
export interface DirectoryLeasesTable { name: string; holder: string | null; expires_at: number; last_run_at: number | null; last_summary: string | null }
export type DirectoryDb = Kysely<Database & {
  directory_entries: DirectoryEntriesTable;
  directory_leases: DirectoryLeasesTable;
}>;

export const directoryDb = (db: Kysely<Database>): DirectoryDb => db as unknown as DirectoryDb;

/** What Tessera last saw of a directory entry. */
export interface EntryRecord {
  provider: string;
  subject: string;
  tenantId: string;
  userId: string;
  dn: string;
  groups: string[];
  /** Roles this directory granted (and may take away). */
  roles: string[];
  present: boolean;
  seenAt: number;
}

const parseList = (s: string): string[] => {
  const v = JSON.parse(s) as unknown;
  return Array.isArray(v) ? v.map(String) : [];
};

export interface DirectoryRepository {
  findEntry(provider: string, subject: string): Promise<EntryRecord | undefined>;
  /** The user's entries (a user tied to a directory signs in through it). */
  entriesOfUser(userId: string): Promise<EntryRecord[]>;
  saveEntry(e: EntryRecord): Promise<void>;
  /** Entries still present that a sync started at `since` did not see. */
  unseen(provider: string, since: number): Promise<EntryRecord[]>;
  markGone(provider: string, subject: string): Promise<void>;
  /**
   * Takes or renews the named lease for `ttlMs` when it is free, expired or already ours.
   * Atomic on both engines (a conditional update, then an insert that a second taker loses).
   */
  acquireLease(name: string, holder: string, ttlMs: number, now?: number): Promise<boolean>;
  releaseLease(name: string, holder: string, summary?: string, now?: number): Promise<void>;
  lease(name: string): Promise<DirectoryLeasesTable | undefined>;
}

export function createDirectoryRepository(database: Kysely<Database>): DirectoryRepository {
  const db = directoryDb(database);
  const toRecord = (r: DirectoryEntriesTable): EntryRecord => ({
    provider: r.provider, subject: r.subject, tenantId: r.tenant_id, userId: r.user_id, dn: r.dn,
    groups: parseList(r.groups), roles: parseList(r.roles), present: Number(r.present) === 1, seenAt: Number(r.seen_at),
  });
  return {
    async findEntry(provider, subject) {
      const r = await db.selectFrom('directory_entries').selectAll().where('provider', '=', provider).where('subject', '=', subject).executeTakeFirst();
      return r && toRecord(r);
    },
    async entriesOfUser(userId) {
      return (await db.selectFrom('directory_entries').selectAll().where('user_id', '=', userId).execute()).map(toRecord);
    },
    async saveEntry(e) {
      const row = {
        provider: e.provider, subject: e.subject, tenant_id: e.tenantId, user_id: e.userId, dn: e.dn,
        groups: JSON.stringify(e.groups), roles: JSON.stringify(e.roles), present: e.present ? 1 : 0, seen_at: e.seenAt,
      };
      await db.insertInto('directory_entries').values(row)
        .onConflict((oc) => oc.columns(['provider', 'subject']).doUpdateSet({
          tenant_id: row.tenant_id, user_id: row.user_id, dn: row.dn, groups: row.groups, roles: row.roles, present: row.present, seen_at: row.seen_at,
        })).execute();
    },
    async unseen(provider, since) {
      return (await db.selectFrom('directory_entries').selectAll()
        .where('provider', '=', provider).where('present', '=', 1).where('seen_at', '<', since).execute()).map(toRecord);
    },
    async markGone(provider, subject) {
      await db.updateTable('directory_entries').set({ present: 0 }).where('provider', '=', provider).where('subject', '=', subject).execute();
    },
    async acquireLease(name, holder, ttlMs, now = Date.now()) {
      const res = await db.updateTable('directory_leases').set({ holder, expires_at: now + ttlMs })
        .where('name', '=', name)
        .where((eb) => eb.or([eb('holder', 'is', null), eb('holder', '=', holder), eb('expires_at', '<', now)]))
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) > 0) return true;
      const inserted = await db.insertInto('directory_leases').values({ name, holder, expires_at: now + ttlMs, last_run_at: null, last_summary: null })
        .onConflict((oc) => oc.column('name').doNothing()).executeTakeFirst();
      return Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0;
    },
    async releaseLease(name, holder, summary, now = Date.now()) {
      await db.updateTable('directory_leases')
        .set({ holder: null, expires_at: 0, ...(summary !== undefined ? { last_run_at: now, last_summary: summary } : {}) })
        .where('name', '=', name).where('holder', '=', holder).execute();
    },
    async lease(name) {
      return db.selectFrom('directory_leases').selectAll().where('name', '=', name).executeTakeFirst();
    },
  };
}
