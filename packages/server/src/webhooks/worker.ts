import { randomBytes, randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import type { KeyEncryptionKey } from '../oidc/kek.js';
import type { UserRepository } from '../identity/repository.js';
import type { UserDataService } from '../userdata/service.js';
import type { Delivery, Subscription, WebhookEventBody } from './model.js';
import { MAX_BATCH } from './model.js';
import type { StoredEvent, WebhookRepository } from './repository.js';
import { signedHeaders } from './signature.js';
import { BlockedAddress, guardedPost } from './outbound-guard.js';

export interface DeliverySettings {
  /** How often an idle worker looks for work (ms). */
  pollMs: number;
  /** The lease's lifetime; another instance takes over this long after the holder stopped renewing. */
  leaseMs: number;
  /** The first retry's delay; each further one doubles it (with up to 20 % jitter), capped at `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Attempts before a delivery is dead (dead-letter). */
  maxAttempts: number;
  timeoutMs: number;
  privateHosts: readonly string[];
}

export interface DeliveryDeps {
  repo: WebhookRepository;
  kek: KeyEncryptionKey;
  users: UserRepository;
  userData: UserDataService;
  /** The `webhook-delivery` lease (storage/leases.ts): held while delivering, renewed every round. */
  lease: { acquire(): Promise<boolean>; release(): Promise<void> };
  log: Logger;
  settings: DeliverySettings;
  /** The worker's clock (tests inject one to move batches and retries forward). */
  now?: () => number;
}

export const newDeliveryId = () => `msg_${randomBytes(16).toString('base64url')}`;

/** Keys of an audit entry's details that a minimal payload passes on: ids and names of things, never values. */
const MINIMAL_KEYS = ['fields', 'attributes', 'external_ids', 'status', 'previous_status', 'survivor', 'merged', 'kind', 'provider', 'source', 'session', 'roles'];

/**
 * Delivers queued events (docs/webhooks.md#delivery). One instance at a
 * time works (a database lease); it turns each subscription's queued events
 * into deliveries (immediate: one event each; batched: everything queued,
 * once the oldest waited `interval_minutes`), one delivery per subscription
 * at a time so events arrive in order, signs and POSTs them, and retries
 * failures with exponential back-off and jitter until `maxAttempts`, then
 * marks them dead. A delivery keeps its id (the `webhook-id`) across
 * attempts and across instances, so a receiver can drop duplicates.
 */
export class DeliveryWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly deps: DeliveryDeps) {
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    this.timer = setInterval(() => this.nudge(), this.deps.settings.pollMs);
    this.timer.unref();
    this.nudge();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => {});
    await this.deps.lease.release().catch(() => {});
  }

  /** Runs a round now (or right after the current one): called when an event was queued. */
  nudge(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().catch((err) => this.deps.log.error({ err }, 'webhook delivery failed')).finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        this.nudge();
      }
    });
  }

  /** Rounds while there is work, renewing the lease each time; resolves when idle (tests await it). */
  async loop(): Promise<void> {
    for (let round = 0; round < 1000 && !this.stopped; round++) {
      if (!(await this.deps.lease.acquire())) return;
      const scheduled = await this.schedule();
      const sent = await this.sendDue();
      if (!scheduled && !sent) return;
    }
  }

  /** Turns queued events into deliveries where due. Returns how many deliveries were created. */
  async schedule(): Promise<number> {
    const now = this.now();
    let created = 0;
    for (const q of await this.deps.repo.queued()) {
      const sub = await this.deps.repo.findSubscription(q.subscriptionId);
      if (!sub || !sub.enabled) continue;
      if (sub.mode === 'batched' && q.oldest + (sub.intervalMinutes ?? 15) * 60_000 > now) continue;
      if (await this.deps.repo.hasPending(sub.id)) continue;
      const d = await this.deps.repo.takeIntoDelivery(sub, newDeliveryId(), sub.mode === 'batched' ? MAX_BATCH : 1, now);
      if (d) created++;
    }
    return created;
  }

  /** Attempts the due deliveries, at most one per subscription per round (in order). Returns how many were attempted. */
  async sendDue(): Promise<number> {
    const due = await this.deps.repo.due(this.now(), 200);
    const firstPerSub = new Map<string, Delivery>();
    for (const d of due) if (!firstPerSub.has(d.subscriptionId)) firstPerSub.set(d.subscriptionId, d);
    await Promise.all([...firstPerSub.values()].map((d) => this.attempt(d)));
    return firstPerSub.size;
  }

  private async attempt(d: Delivery): Promise<void> {
    const sub = await this.deps.repo.findSubscription(d.subscriptionId);
    const sealed = await this.deps.repo.sealedSecret(d.subscriptionId);
    if (!sub || !sealed) return;
    const body = JSON.stringify(await this.body(sub, d));
    const headers = signedHeaders(this.deps.kek.decrypt(sealed), d.id, body);
    const at = this.now();
    let status: number | null = null;
    let error: string | null = null;
    try {
      status = (await guardedPost(sub.url, body, headers, this.deps.settings)).status;
      if (status < 200 || status >= 300) error = `HTTP ${status}`;
    } catch (err) {
      error = err instanceof BlockedAddress ? err.message : `${(err as Error).message}`.slice(0, 300);
    }
    if (!error) {
      await this.deps.repo.recordAttempt(d, { at, status, error: null }, { status: 'delivered' });
      return;
    }
    const s = this.deps.settings;
    if (d.attempts + 1 >= s.maxAttempts) {
      this.deps.log.warn({ delivery: d.id, subscription: sub.id, error }, 'webhook delivery dead after its last attempt');
      await this.deps.repo.recordAttempt(d, { at, status, error }, { status: 'dead' });
      return;
    }
    const next = at + retryDelay(d.attempts, s.retryBaseMs, s.retryMaxMs);
    await this.deps.repo.recordAttempt(d, { at, status, error, next_attempt_at: next }, { status: 'pending', nextAttemptAt: next });
  }

  /** The delivery's body: its events in order, minimal or with the user's current profile. */
  async body(sub: Subscription, d: Delivery): Promise<{ id: string; subscription: string; tenant: string; replay: boolean; events: WebhookEventBody[] }> {
    const events = await this.deps.repo.events(d.eventIds);
    return { id: d.id, subscription: sub.id, tenant: sub.tenantId, replay: d.replay, events: await Promise.all(events.map((e) => this.eventBody(sub, e))) };
  }

  private async eventBody(sub: Subscription, e: StoredEvent): Promise<WebhookEventBody> {
    const data: Record<string, unknown> = {};
    if (e.subjectId) data.user_id = e.subjectId;
    for (const k of MINIMAL_KEYS) if (e.details[k] !== undefined) data[k] = e.details[k];
    if (e.details.via !== undefined) data.via = e.details.via;
    if (sub.payload === 'full' && e.subjectId) {
      const user = await this.deps.users.findById(e.subjectId);
      if (user) {
        const ud = await this.deps.userData.dataOf(user.id);
        data.user = {
          id: user.id, username: user.username, email: user.email, email_verified: user.emailVerified, given_name: user.givenName,
          family_name: user.familyName, phone_number: user.phoneNumber, status: user.status, attributes: ud.attributes, external_ids: ud.externalIds,
        };
      }
    }
    return { id: e.id, type: e.type, timestamp: new Date(e.at).toISOString(), tenant: e.tenantId, data };
  }
}

/** Exponential back-off with jitter: base · 2^(attempt), up to +20 %, capped. */
export function retryDelay(attemptsSoFar: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** attemptsSoFar);
  return Math.min(maxMs, exp + randomInt(0, Math.max(1, Math.floor(exp / 5))));
}

