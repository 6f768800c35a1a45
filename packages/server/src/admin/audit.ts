import type { Logger } from 'pino';
import type { DomainEventType, EventBus, EventContext } from '../audit/events.js';
import type { AdminPrincipal } from './access.js';

/** Emits the audit event of an admin write: the actor (user id or client_id) and its kind, the target, the change. */
export type AdminEmit = (type: DomainEventType, principal: AdminPrincipal, target: { tenantId: string | null; subjectId: string | null },
  ctx: EventContext, data?: Record<string, unknown>) => Promise<void>;

/**
 * Every admin write is in the audit log with its actor. The subject column
 * holds what was acted on: a user's id, a client_id, an API identifier or a
 * tenant id (`data.target` says which kind).
 */
export function adminEmitter(events: EventBus, log: Logger): AdminEmit {
  return async (type, principal, target, ctx, data = {}) => {
    await events.emit({
      type, tenantId: target.tenantId, subjectId: target.subjectId, context: { ...ctx, actorId: principal.id },
      data: { ...data, actor_type: principal.kind, via: 'admin_api' },
    }, (err) => log.error({ err, event: type }, 'event listener failed'));
  };
}
