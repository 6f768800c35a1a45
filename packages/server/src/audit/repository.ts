import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { DomainEvent } from './events.js';
import { redactPersonal } from './erasure.js';
import { writeShape } from '../storage/compiled.js';

/** One entry, compiled once (storage/compiled.ts): every sign-in writes one (issue 20). */
const insertEntry = writeShape((db: Kysely<Database>, id: string, at: number, action: string, tenantId: string | null, actorId: string | null,
  subjectId: string | null, ip: string | null, userAgent: string | null, details: string) => db.insertInto('audit_log').values({
  id, at, action, tenant_id: tenantId, actor_id: actorId, subject_id: subjectId, ip, user_agent: userAgent, details,
}));

export interface AuditEntry {
  id: string;
  at: number;
  action: string;
  tenantId: string | null;
  actorId: string | null;
  subjectId: string | null;
  ip: string | null;
  userAgent: string | null;
  details: Record<string, unknown>;
}

export interface AuditQuery {
  subjectId?: string;
  action?: string;
  from?: number;
  to?: number;
  limit?: number;
}

/** A page of the admin API's audit query: newest first, keyset-paginated on (at, id). */
export interface AuditSearch {
  tenantId?: string;
  subjectId?: string;
  actorId?: string;
  action?: string;
  from?: number;
  to?: number;
  /** Continue after this entry (the last one of the previous page). */
  after?: { at: number; id: string };
  limit: number;
}

export interface AuditRepository {
  /** Writes an entry (in `opts.db`, a transaction, when given; with `opts.id`, a time-ordered id, when given). */
  append(event: DomainEvent, opts?: { db?: Kysely<Database>; id?: string }): Promise<void>;
  /**
   * Erases a user's personal data from the entries about them or by them
   * (names, addresses, email, phone, IP address, user agent), keeping who
   * did what to whom and when (audit/erasure.ts). Returns the entries changed.
   */
  redactUser(userId: string, opts?: { db?: Kysely<Database> }): Promise<number>;
  /** Newest first. */
  query(q: AuditQuery): Promise<AuditEntry[]>;
  /** Newest first, one page; `next` is set when more entries follow. */
  search(q: AuditSearch): Promise<{ entries: AuditEntry[]; next?: { at: number; id: string } }>;
}

export function createAuditRepository(db: Kysely<Database>): AuditRepository {
  return {
    async append(e, opts = {}) {
      await insertEntry.run(opts.db ?? db, opts.id ?? randomUUID(), e.at, e.type, e.tenantId, e.context.actorId ?? e.subjectId ?? null,
        e.subjectId, e.context.ip ?? null, e.context.userAgent ? e.context.userAgent.slice(0, 512) : null, JSON.stringify(e.data));
    },
    async redactUser(userId, opts = {}) {
      const handle = opts.db ?? db;
      const rows = await handle.selectFrom('audit_log').select(['id', 'details', 'ip', 'user_agent', 'subject_id'])
        .where((eb) => eb.or([eb('subject_id', '=', userId), eb('actor_id', '=', userId)])).execute();
      let changed = 0;
      for (const r of rows) {
        const details = JSON.parse(r.details) as Record<string, unknown>;
        const redacted = redactPersonal(details);
        if (!redacted.changed && r.ip === null && r.user_agent === null) continue;
        await handle.updateTable('audit_log').set({
          details: JSON.stringify({ ...(redacted.value as Record<string, unknown>), redacted: true }), ip: null, user_agent: null,
        }).where('id', '=', r.id).execute();
        changed++;
      }
      return changed;
    },
    async query(q) {
      let sel = db.selectFrom('audit_log').selectAll();
      if (q.subjectId) sel = sel.where('subject_id', '=', q.subjectId);
      if (q.action) sel = sel.where('action', '=', q.action);
      if (q.from !== undefined) sel = sel.where('at', '>=', q.from);
      if (q.to !== undefined) sel = sel.where('at', '<', q.to);
      const rows = await sel.orderBy('at', 'desc').orderBy('id').limit(Math.min(q.limit ?? 100, 1000)).execute();
      return rows.map(toEntry);
    },
    async search(q) {
      let sel = db.selectFrom('audit_log').selectAll();
      if (q.tenantId !== undefined) sel = sel.where('tenant_id', '=', q.tenantId);
      if (q.subjectId !== undefined) sel = sel.where('subject_id', '=', q.subjectId);
      if (q.actorId !== undefined) sel = sel.where('actor_id', '=', q.actorId);
      if (q.action !== undefined) sel = sel.where('action', '=', q.action);
      if (q.from !== undefined) sel = sel.where('at', '>=', q.from);
      if (q.to !== undefined) sel = sel.where('at', '<', q.to);
      const after = q.after;
      // Keyset: one row-value comparison, which both engines use as the index range's end (ties broken on id).
      if (after) sel = sel.where((eb) => eb(eb.refTuple('at', 'id'), '<', eb.tuple(after.at, after.id)));
      const rows = await sel.orderBy('at', 'desc').orderBy('id', 'desc').limit(q.limit + 1).execute();
      const entries = rows.slice(0, q.limit).map(toEntry);
      const last = entries.at(-1);
      return rows.length > q.limit && last ? { entries, next: { at: last.at, id: last.id } } : { entries };
    },
  };
}

function toEntry(r: Database['audit_log']): AuditEntry {
  return {
    id: r.id, at: Number(r.at), action: r.action, tenantId: r.tenant_id, actorId: r.actor_id, subjectId: r.subject_id,
    ip: r.ip, userAgent: r.user_agent, details: JSON.parse(r.details) as Record<string, unknown>,
  };
}
