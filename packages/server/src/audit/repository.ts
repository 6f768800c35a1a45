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

export interface AuditRepository {
  append(event: DomainEvent): Promise<void>;
  /** Newest first. */
  query(q: AuditQuery): Promise<AuditEntry[]>;
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
      return rows.map((r) => ({
        id: r.id, at: Number(r.at), action: r.action, tenantId: r.tenant_id, actorId: r.actor_id, subjectId: r.subject_id,
        ip: r.ip, userAgent: r.user_agent, details: JSON.parse(r.details) as Record<string, unknown>,
      }));
    },
  };
}
