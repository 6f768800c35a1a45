import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { DomainEvent } from './events.js';

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
  append(event: DomainEvent): Promise<void>;
  /** Newest first. */
  query(q: AuditQuery): Promise<AuditEntry[]>;
  /** Newest first, one page; `next` is set when more entries follow. */
  search(q: AuditSearch): Promise<{ entries: AuditEntry[]; next?: { at: number; id: string } }>;
}

export function createAuditRepository(db: Kysely<Database>): AuditRepository {
  return {
    async append(e) {
      await db.insertInto('audit_log').values({
        id: randomUUID(),
        at: e.at,
        action: e.type,
        tenant_id: e.tenantId,
        actor_id: e.context.actorId ?? e.subjectId ?? null,
        subject_id: e.subjectId,
        ip: e.context.ip ?? null,
        user_agent: e.context.userAgent ? e.context.userAgent.slice(0, 512) : null,
        details: JSON.stringify(e.data),
      }).execute();
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
