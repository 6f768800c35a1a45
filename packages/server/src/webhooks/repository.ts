import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { DomainEvent } from '../audit/events.js';
import type { AttemptRecord, Delivery, DeliveryStatus, Subscription, WebhookEventType, WebhookMode, WebhookPayload } from './model.js';
import { isWebhookEvent } from './model.js';

export interface NewSubscription {
  id: string;
  tenantId: string;
  url: string;
  events: WebhookEventType[];
  sealedSecret: string;
  mode: WebhookMode;
  intervalMinutes: number | null;
  payload: WebhookPayload;
  enabled: boolean;
  description: string | null;
}

export type SubscriptionPatch = Partial<Pick<NewSubscription, 'url' | 'events' | 'mode' | 'intervalMinutes' | 'payload' | 'enabled' | 'description' | 'sealedSecret'>>;

export interface StoredEvent {
  id: string;
  at: number;
  type: string;
  tenantId: string | null;
  subjectId: string | null;
  details: Record<string, unknown>;
}

const toSubscription = (r: Database['webhook_subscriptions']): Subscription => ({
  id: r.id, tenantId: r.tenant_id, url: r.url, events: JSON.parse(r.events) as WebhookEventType[], mode: r.mode as WebhookMode,
  intervalMinutes: r.interval_minutes === null ? null : Number(r.interval_minutes), payload: r.payload as WebhookPayload,
  enabled: Boolean(Number(r.enabled)), description: r.description, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at),
});

const toDelivery = (r: Database['webhook_deliveries']): Delivery => ({
  id: r.id, subscriptionId: r.subscription_id, tenantId: r.tenant_id, eventIds: JSON.parse(r.event_ids) as string[],
  status: r.status as DeliveryStatus, replay: Boolean(Number(r.replay)), attempts: Number(r.attempts),
  attemptsLog: JSON.parse(r.attempts_log) as AttemptRecord[], nextAttemptAt: Number(r.next_attempt_at),
  lastStatus: r.last_status === null ? null : Number(r.last_status), lastError: r.last_error,
  createdAt: Number(r.created_at), deliveredAt: r.delivered_at === null ? null : Number(r.delivered_at),
});

/** Subscriptions, the outbox, deliveries and their attempts (migration 031). */
export function createWebhookRepository(db: Kysely<Database>) {
  return {
    async createSubscription(s: NewSubscription, now = Date.now()): Promise<Subscription> {
      const row = {
        id: s.id, tenant_id: s.tenantId, url: s.url, events: JSON.stringify(s.events), secret: s.sealedSecret, mode: s.mode,
        interval_minutes: s.intervalMinutes, payload: s.payload, enabled: s.enabled ? 1 : 0, description: s.description, created_at: now, updated_at: now,
      };
      await db.insertInto('webhook_subscriptions').values(row).execute();
      return toSubscription(row);
    },
    async findSubscription(id: string): Promise<Subscription | undefined> {
      const r = await db.selectFrom('webhook_subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? toSubscription(r) : undefined;
    },
    async sealedSecret(id: string): Promise<string | undefined> {
      return (await db.selectFrom('webhook_subscriptions').select('secret').where('id', '=', id).executeTakeFirst())?.secret;
    },
    async listSubscriptions(tenantId: string | undefined): Promise<Subscription[]> {
      let q = db.selectFrom('webhook_subscriptions').selectAll();
      if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
      return (await q.orderBy('created_at').orderBy('id').execute()).map(toSubscription);
    },
    async updateSubscription(id: string, patch: SubscriptionPatch, now = Date.now()): Promise<Subscription | undefined> {
      const set: Partial<Database['webhook_subscriptions']> = { updated_at: now };
      if (patch.url !== undefined) set.url = patch.url;
      if (patch.events !== undefined) set.events = JSON.stringify(patch.events);
      if (patch.mode !== undefined) set.mode = patch.mode;
      if (patch.intervalMinutes !== undefined) set.interval_minutes = patch.intervalMinutes;
      if (patch.payload !== undefined) set.payload = patch.payload;
      if (patch.enabled !== undefined) set.enabled = patch.enabled ? 1 : 0;
      if (patch.description !== undefined) set.description = patch.description;
      if (patch.sealedSecret !== undefined) set.secret = patch.sealedSecret;
      await db.updateTable('webhook_subscriptions').set(set).where('id', '=', id).execute();
      return this.findSubscription(id);
    },
    async deleteSubscription(id: string): Promise<boolean> {
      await db.deleteFrom('webhook_outbox').where('subscription_id', '=', id).execute();
      await db.deleteFrom('webhook_deliveries').where('subscription_id', '=', id).execute();
      const r = await db.deleteFrom('webhook_subscriptions').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },

    /**
     * Queues an event for every enabled subscription of its tenant that asks
     * for it, inside the transaction that records the event.
     * @returns how many subscriptions got it.
     */
    async enqueue(trx: Transaction<Database>, event: DomainEvent, eventId: string): Promise<number> {
      if (!event.tenantId || !isWebhookEvent(event.type)) return 0;
      const subs = await trx.selectFrom('webhook_subscriptions').select(['id', 'events'])
        .where('tenant_id', '=', event.tenantId).where('enabled', '=', 1).execute();
      const wanted = subs.filter((s) => (JSON.parse(s.events) as string[]).includes(event.type));
      if (!wanted.length) return 0;
      await trx.insertInto('webhook_outbox')
        .values(wanted.map((s) => ({ subscription_id: s.id, event_id: eventId, tenant_id: event.tenantId!, at: event.at }))).execute();
      return wanted.length;
    },

    /** Subscriptions with queued events, and their oldest event's time. */
    async queued(): Promise<Array<{ subscriptionId: string; oldest: number }>> {
      const rows = await db.selectFrom('webhook_outbox').select(['subscription_id', (eb) => eb.fn.min('at').as('oldest')])
        .groupBy('subscription_id').execute();
      return rows.map((r) => ({ subscriptionId: r.subscription_id, oldest: Number(r.oldest) }));
    },

    /** Whether a delivery of the subscription is still pending (deliveries of one subscription go one at a time, in order). */
    async hasPending(subscriptionId: string): Promise<boolean> {
      return Boolean(await db.selectFrom('webhook_deliveries').select('id').where('subscription_id', '=', subscriptionId)
        .where('status', '=', 'pending').limit(1).executeTakeFirst());
    },

    /** Moves the oldest `max` queued events of a subscription into a new pending delivery (one transaction). */
    async takeIntoDelivery(sub: Subscription, deliveryId: string, max: number, now: number): Promise<Delivery | undefined> {
      return db.transaction().execute(async (trx) => {
        const rows = await trx.selectFrom('webhook_outbox').select('event_id').where('subscription_id', '=', sub.id)
          .orderBy('event_id').limit(max).execute();
        if (!rows.length) return undefined;
        const ids = rows.map((r) => r.event_id);
        await trx.deleteFrom('webhook_outbox').where('subscription_id', '=', sub.id).where('event_id', 'in', ids).execute();
        const row = {
          id: deliveryId, subscription_id: sub.id, tenant_id: sub.tenantId, event_ids: JSON.stringify(ids), status: 'pending', replay: 0,
          attempts: 0, attempts_log: '[]', next_attempt_at: now, last_status: null, last_error: null, created_at: now, delivered_at: null,
        };
        await trx.insertInto('webhook_deliveries').values(row).execute();
        return toDelivery(row);
      });
    },

    async createReplay(sub: Subscription, deliveryId: string, eventIds: string[], now: number): Promise<Delivery> {
      const row = {
        id: deliveryId, subscription_id: sub.id, tenant_id: sub.tenantId, event_ids: JSON.stringify(eventIds), status: 'pending', replay: 1,
        attempts: 0, attempts_log: '[]', next_attempt_at: now, last_status: null, last_error: null, created_at: now, delivered_at: null,
      };
      await db.insertInto('webhook_deliveries').values(row).execute();
      return toDelivery(row);
    },

    /** Pending deliveries that are due, oldest first. */
    async due(now: number, limit: number): Promise<Delivery[]> {
      const rows = await db.selectFrom('webhook_deliveries').selectAll().where('status', '=', 'pending')
        .where('next_attempt_at', '<=', now).orderBy('created_at').orderBy('id').limit(limit).execute();
      return rows.map(toDelivery);
    },

    /** Records an attempt: delivered, pending again (with its next time) or dead. Only while still pending. */
    async recordAttempt(d: Delivery, attempt: AttemptRecord, outcome: { status: DeliveryStatus; nextAttemptAt?: number }): Promise<void> {
      const log = [...d.attemptsLog, attempt].slice(-20);
      await db.updateTable('webhook_deliveries').set({
        status: outcome.status, attempts: d.attempts + 1, attempts_log: JSON.stringify(log), last_status: attempt.status, last_error: attempt.error,
        next_attempt_at: outcome.nextAttemptAt ?? d.nextAttemptAt, delivered_at: outcome.status === 'delivered' ? attempt.at : null,
      }).where('id', '=', d.id).where('status', '=', 'pending').execute();
    },

    async findDelivery(id: string): Promise<Delivery | undefined> {
      const r = await db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? toDelivery(r) : undefined;
    },

    /** A subscription's deliveries, newest first, keyset-paginated on (created_at, id). */
    async listDeliveries(subscriptionId: string, q: { status?: DeliveryStatus; after?: { at: number; id: string }; limit: number }): Promise<{ items: Delivery[]; next?: { at: number; id: string } }> {
      let sel = db.selectFrom('webhook_deliveries').selectAll().where('subscription_id', '=', subscriptionId);
      if (q.status) sel = sel.where('status', '=', q.status);
      const after = q.after;
      if (after) sel = sel.where((eb) => eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(after.at, after.id)));
      const rows = await sel.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit + 1).execute();
      const items = rows.slice(0, q.limit).map(toDelivery);
      const last = items.at(-1);
      return rows.length > q.limit && last ? { items, next: { at: last.createdAt, id: last.id } } : { items };
    },

    async events(ids: string[]): Promise<StoredEvent[]> {
      if (!ids.length) return [];
      const rows = await db.selectFrom('audit_log').select(['id', 'at', 'action', 'tenant_id', 'subject_id', 'details']).where('id', 'in', ids).execute();
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.flatMap((id) => {
        const r = byId.get(id);
        return r ? [{ id: r.id, at: Number(r.at), type: r.action, tenantId: r.tenant_id, subjectId: r.subject_id, details: JSON.parse(r.details) as Record<string, unknown> }] : [];
      });
    },

    /** Events of a tenant of the given types in [from, to), oldest first (for a replay). */
    async eventsBetween(tenantId: string, types: string[], from: number, to: number, limit: number): Promise<string[]> {
      const rows = await db.selectFrom('audit_log').select(['id']).where('tenant_id', '=', tenantId).where('action', 'in', types)
        .where('at', '>=', from).where('at', '<', to).orderBy('at').orderBy('id').limit(limit).execute();
      return rows.map((r) => r.id);
    },
  };
}

export type WebhookRepository = ReturnType<typeof createWebhookRepository>;
