import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { TenantRepository } from '../identity/repository.js';
import type { KeyEncryptionKey } from '../oidc/kek.js';
import { AppError } from '../http/errors.js';
import { NotFoundError } from '../storage/errors.js';
import type { AdminEmit } from '../admin/audit.js';
import { AdminInvalid } from '../admin/errors.js';
import type { AdminRouter } from '../admin/routing.js';
import type { AdminPrincipal } from '../admin/access.js';
import { cursorSchema, decodeCursor, encodeCursor, idSchema, iso, isoTime, limitSchema, listOf, pageOf, pathId, timeParam } from '../admin/schemas.js';
import { visible, visibleTenant } from '../admin/tenancy.js';
import {
  DEFAULT_INTERVAL_MINUTES, MAX_BATCH, MAX_INTERVAL_MINUTES, MIN_INTERVAL_MINUTES, WEBHOOK_EVENTS, WEBHOOK_MODES, WEBHOOK_PAYLOADS,
} from './model.js';
import type { Delivery, Subscription } from './model.js';
import type { WebhookRepository } from './repository.js';
import { receiverUrlProblem } from './outbound-guard.js';
import { newWebhookSecret } from './signature.js';
import { newDeliveryId } from './worker.js';

const tag = 'Webhooks';
const scope = 'identity.admin' as const;

const subscriptionView = z.object({
  id: z.string(),
  tenant: z.string(),
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  mode: z.enum(WEBHOOK_MODES),
  interval_minutes: z.number().int().nullable().describe('Batched mode: the longest an event waits; null in immediate mode.'),
  payload: z.enum(WEBHOOK_PAYLOADS),
  enabled: z.boolean(),
  description: z.string().nullable(),
  created_at: isoTime,
  updated_at: isoTime,
});
const withSecret = subscriptionView.extend({
  secret: z.string().describe('The signing secret (`whsec_…`, Standard Webhooks). Shown only in this answer.'),
});

const attemptView = z.object({ at: isoTime, status: z.number().int().nullable(), error: z.string().nullable(), next_attempt_at: isoTime.nullable() });
const deliveryView = z.object({
  id: z.string().describe('The `webhook-id` header of every attempt.'),
  subscription: z.string(),
  status: z.enum(['pending', 'delivered', 'dead']),
  replay: z.boolean(),
  events: z.array(z.string()).describe('The ids of the events it carries, in order (audit log entry ids).'),
  attempts: z.number().int(),
  attempt_log: z.array(attemptView),
  next_attempt_at: isoTime.nullable(),
  last_status: z.number().int().nullable(),
  last_error: z.string().nullable(),
  created_at: isoTime,
  delivered_at: isoTime.nullable(),
});

const toView = (s: Subscription): z.infer<typeof subscriptionView> => ({
  id: s.id, tenant: s.tenantId, url: s.url, events: s.events, mode: s.mode, interval_minutes: s.intervalMinutes, payload: s.payload,
  enabled: s.enabled, description: s.description, created_at: iso(s.createdAt)!, updated_at: iso(s.updatedAt)!,
});
const toDeliveryView = (d: Delivery): z.infer<typeof deliveryView> => ({
  id: d.id, subscription: d.subscriptionId, status: d.status, replay: d.replay, events: d.eventIds, attempts: d.attempts,
  attempt_log: d.attemptsLog.map((a) => ({ at: iso(a.at)!, status: a.status, error: a.error, next_attempt_at: iso(a.next_attempt_at) })),
  next_attempt_at: d.status === 'pending' ? iso(d.nextAttemptAt) : null, last_status: d.lastStatus, last_error: d.lastError,
  created_at: iso(d.createdAt)!, delivered_at: iso(d.deliveredAt),
});

const urlSchema = z.string().min(1).max(2048).describe('The receiver: https (or http), no credentials; private addresses need TESSERA_OUTBOUND_PRIVATE_HOSTS.');
const eventsSchema = z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(WEBHOOK_EVENTS.length)
  .transform((v) => [...new Set(v)]).describe(`Events to receive: ${WEBHOOK_EVENTS.join(', ')}.`);
const intervalSchema = z.number().int().min(MIN_INTERVAL_MINUTES).max(MAX_INTERVAL_MINUTES)
  .describe(`Batched mode: minutes an event waits at most (${MIN_INTERVAL_MINUTES}-${MAX_INTERVAL_MINUTES}, default ${DEFAULT_INTERVAL_MINUTES}).`);
const createBody = z.strictObject({
  tenant: idSchema.optional().describe('Default: the caller\'s tenant.'),
  url: urlSchema,
  events: eventsSchema,
  mode: z.enum(WEBHOOK_MODES).default('immediate'),
  interval_minutes: intervalSchema.optional(),
  payload: z.enum(WEBHOOK_PAYLOADS).default('minimal').describe('minimal: ids and names of changed fields; full: the user\'s current profile too.'),
  enabled: z.boolean().default(true),
  description: z.string().max(500).optional(),
});
const patchBody = z.strictObject({
  url: urlSchema.optional(),
  events: eventsSchema.optional(),
  mode: z.enum(WEBHOOK_MODES).optional(),
  interval_minutes: intervalSchema.optional(),
  payload: z.enum(WEBHOOK_PAYLOADS).optional(),
  enabled: z.boolean().optional(),
  description: z.string().max(500).nullable().optional(),
});
const replayBody = z.strictObject({
  event: z.string().max(64).optional().describe('One event id (an audit log entry id).'),
  from: timeParam.optional().describe('With `to`: every event of the subscription\'s types in [from, to).'),
  to: timeParam.optional(),
});
const deliveryCursor = z.object({ at: z.number(), id: z.string() });

export interface WebhookAdminDeps {
  repo: WebhookRepository;
  tenants: TenantRepository;
  kek: KeyEncryptionKey;
  emit: AdminEmit;
  privateHosts: readonly string[];
  /** Wakes the delivery worker (a replay is due now). */
  nudge(): void;
}

/**
 * Webhook subscriptions, their delivery log and replays (docs/webhooks.md,
 * docs/admin.md#webhooks). The secret is shown once, when created or rotated.
 */
export function registerWebhookRoutes(route: AdminRouter, deps: WebhookAdminDeps): void {
  const find = async (principal: AdminPrincipal, id: string) => visible(principal, await deps.repo.findSubscription(id), 'webhook', id);
  const checkUrl = (url: string) => {
    const problem = receiverUrlProblem(url, deps.privateHosts);
    if (problem) throw new AdminInvalid({ url: problem }, problem === 'private_address'
      ? 'The receiver is a private or special-use address; list its host in TESSERA_OUTBOUND_PRIVATE_HOSTS to allow it.'
      : 'The receiver must be an http(s) URL without credentials or fragment.');
  };
  const checkMode = (mode: string, interval: number | undefined) => {
    if (mode === 'immediate' && interval !== undefined) throw new AdminInvalid({ interval_minutes: 'batched_only' }, 'interval_minutes is for mode batched.');
  };

  route({
    method: 'GET', path: '/webhooks', tag, scope, summary: 'List webhook subscriptions',
    query: z.strictObject({ tenant: idSchema.optional().describe('Platform administrators: one tenant (default: all).') }),
    response: listOf(subscriptionView), errors: [400, 404],
    async handler({ principal, query }) {
      const tenantId = principal.platform && query.tenant === undefined ? undefined : visibleTenant(principal, query.tenant);
      return { items: (await deps.repo.listSubscriptions(tenantId)).map(toView) };
    },
  });

  route({
    method: 'POST', path: '/webhooks', tag, scope, summary: 'Create a webhook subscription', status: 201,
    description: 'Answers the signing secret once. Batched mode sends the events queued within `interval_minutes` together.',
    body: createBody, response: withSecret, errors: [400, 404, 415],
    async handler({ principal, body, event }) {
      const tenantId = visibleTenant(principal, body.tenant);
      if (!(await deps.tenants.findById(tenantId))) throw new AdminInvalid({ tenant: 'unknown_tenant' });
      checkUrl(body.url);
      checkMode(body.mode, body.interval_minutes);
      const secret = newWebhookSecret();
      const sub = await deps.repo.createSubscription({
        id: `wh_${randomBytes(12).toString('base64url')}`, tenantId, url: body.url, events: body.events, sealedSecret: deps.kek.encrypt(secret),
        mode: body.mode, intervalMinutes: body.mode === 'batched' ? body.interval_minutes ?? DEFAULT_INTERVAL_MINUTES : null,
        payload: body.payload, enabled: body.enabled, description: body.description ?? null,
      });
      await deps.emit('webhook.created', principal, { tenantId, subjectId: sub.id }, event, { target: 'webhook', events: sub.events, mode: sub.mode });
      return { ...toView(sub), secret };
    },
  });

  route({
    method: 'GET', path: '/webhooks/:id', tag, scope, summary: 'Read a webhook subscription',
    params: z.object({ id: pathId }), response: subscriptionView, errors: [404],
    async handler({ principal, params }) {
      return toView(await find(principal, params.id));
    },
  });

  route({
    method: 'PATCH', path: '/webhooks/:id', tag, scope, summary: 'Change a webhook subscription',
    params: z.object({ id: pathId }), body: patchBody, response: subscriptionView, errors: [400, 404, 415],
    async handler({ principal, params, body, event }) {
      const current = await find(principal, params.id);
      if (body.url !== undefined) checkUrl(body.url);
      const mode = body.mode ?? current.mode;
      checkMode(mode, body.interval_minutes);
      const interval = mode === 'batched' ? body.interval_minutes ?? current.intervalMinutes ?? DEFAULT_INTERVAL_MINUTES : null;
      const updated = await deps.repo.updateSubscription(current.id, {
        url: body.url, events: body.events, mode: body.mode, intervalMinutes: interval, payload: body.payload, enabled: body.enabled,
        description: body.description,
      });
      await deps.emit('webhook.updated', principal, { tenantId: current.tenantId, subjectId: current.id }, event,
        { target: 'webhook', fields: Object.keys(body).sort() });
      return toView(updated!);
    },
  });

  route({
    method: 'DELETE', path: '/webhooks/:id', tag, scope, summary: 'Delete a webhook subscription (with its queue and delivery log)',
    params: z.object({ id: pathId }), errors: [404],
    async handler({ principal, params, event }) {
      const current = await find(principal, params.id);
      await deps.repo.deleteSubscription(current.id);
      await deps.emit('webhook.deleted', principal, { tenantId: current.tenantId, subjectId: current.id }, event, { target: 'webhook' });
    },
  });

  route({
    method: 'POST', path: '/webhooks/:id/secret', tag, scope, summary: 'Rotate the signing secret', stepUp: 'always',
    description: 'Answers the new secret once; deliveries from now on are signed with it.',
    params: z.object({ id: pathId }), response: z.object({ secret: z.string() }), errors: [404],
    async handler({ principal, params, event, stepUp }) {
      const current = await find(principal, params.id);
      stepUp();
      const secret = newWebhookSecret();
      await deps.repo.updateSubscription(current.id, { sealedSecret: deps.kek.encrypt(secret) });
      await deps.emit('webhook.secret_rotated', principal, { tenantId: current.tenantId, subjectId: current.id }, event, { target: 'webhook' });
      return { secret };
    },
  });

  route({
    method: 'GET', path: '/webhooks/:id/deliveries', tag, scope, summary: 'The delivery log of a subscription',
    description: 'Newest first, with every attempt (time, HTTP status or error, when the next one is due).',
    params: z.object({ id: pathId }),
    query: z.strictObject({ status: z.enum(['pending', 'delivered', 'dead']).optional(), cursor: cursorSchema.optional(), limit: limitSchema }),
    response: pageOf(deliveryView), errors: [400, 404],
    async handler({ principal, params, query }) {
      const current = await find(principal, params.id);
      const after = decodeCursor(query.cursor, deliveryCursor);
      if (after === 'invalid') throw new AppError('validation_failed', 400, 'The cursor is not one this API issued.', { cursor: 'invalid' });
      const page = await deps.repo.listDeliveries(current.id, { status: query.status, after, limit: query.limit });
      return { items: page.items.map(toDeliveryView), next_cursor: page.next ? encodeCursor(page.next) : null };
    },
  });

  route({
    method: 'POST', path: '/webhooks/:id/replay', tag, scope, summary: 'Send one event, or the events of a time range, again', status: 202,
    description: `A new delivery (\`replay: true\`) with the event, or with the subscription's events in [from, to) (at most ${MAX_BATCH}).`,
    params: z.object({ id: pathId }), body: replayBody, response: deliveryView, errors: [400, 404, 415],
    async handler({ principal, params, body, event }) {
      const current = await find(principal, params.id);
      let ids: string[];
      if (body.event !== undefined) {
        if (body.from !== undefined || body.to !== undefined) throw new AdminInvalid({ event: 'one_of' }, 'Give either event or from and to.');
        const [found] = await deps.repo.events([body.event]);
        if (!found || found.tenantId !== current.tenantId || !(current.events as string[]).includes(found.type)) throw new NotFoundError('event', body.event);
        ids = [found.id];
      } else {
        if (body.from === undefined || body.to === undefined) throw new AdminInvalid({ ...(body.from === undefined ? { from: 'required' } : {}), ...(body.to === undefined ? { to: 'required' } : {}) });
        if (body.to <= body.from) throw new AdminInvalid({ to: 'before_from' }, 'to must be after from.');
        ids = await deps.repo.eventsBetween(current.tenantId, current.events, body.from, body.to, MAX_BATCH);
        if (!ids.length) throw new AdminInvalid({ from: 'no_events' }, 'The subscription has no events in that range.');
      }
      const delivery = await deps.repo.createReplay(current, newDeliveryId(), ids, Date.now());
      await deps.emit('webhook.replayed', principal, { tenantId: current.tenantId, subjectId: current.id }, event,
        { target: 'webhook', delivery: delivery.id, events: ids.length });
      deps.nudge();
      return toDeliveryView(delivery);
    },
  });
}
