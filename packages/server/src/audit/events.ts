/**
 * Typed domain events. Services emit them; subscribers (the audit log today,
 * webhooks later) consume them. Nothing matches request paths: a feature
 * that wants to react to sign-ins listens for `login.succeeded`.
 */
export type DomainEventType =
  | 'user.registered'
  | 'user.confirmed'
  | 'user.invited'
  | 'user.phone_confirmed'
  | 'user.updated'
  | 'user.email_change_requested'
  | 'login.succeeded'
  | 'login.failed'
  | 'user.locked'
  | 'password.reset_requested'
  | 'password.reset'
  | 'password.changed'
  | 'session.revoked'
  | 'grant.revoked';

/** Who did it and from where; filled in by the HTTP layer, absent for CLI/config actions. */
export interface EventContext {
  actorId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
}

export interface DomainEvent {
  type: DomainEventType;
  at: number;
  tenantId: string | null;
  /** The user the event is about. */
  subjectId: string | null;
  context: EventContext;
  /** Event-specific, never secrets. */
  data: Record<string, unknown>;
}

export type EventListener = (event: DomainEvent) => void | Promise<void>;

export class EventBus {
  private readonly listeners: EventListener[] = [];

  on(listener: EventListener): void {
    this.listeners.push(listener);
  }

  /**
   * Delivers an event to every listener, in order, and waits for them: the
   * audit entry is written before the request that caused it answers.
   * A failing listener is reported through `onError`, never to the caller.
   */
  async emit(event: Omit<DomainEvent, 'at'> & { at?: number }, onError?: (err: unknown) => void): Promise<void> {
    const full: DomainEvent = { ...event, at: event.at ?? Date.now() };
    for (const listener of this.listeners) {
      try {
        await listener(full);
      } catch (err) {
        onError?.(err);
      }
    }
  }
}
