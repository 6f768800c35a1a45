/**
 * Outbound webhooks (docs/webhooks.md): what a subscription is and which
 * events it may ask for. No storage or HTTP types here.
 */
export const WEBHOOK_EVENTS = [
  'user.created', 'user.updated', 'user.disabled', 'user.deleted', 'user.merged', 'user.anonymized',
  'user.linked', 'user.unlinked', 'session.revoked', 'mfa.enrolled', 'mfa.reset',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];
export const isWebhookEvent = (type: string): type is WebhookEventType => (WEBHOOK_EVENTS as readonly string[]).includes(type);

export const WEBHOOK_MODES = ['immediate', 'batched'] as const;
export type WebhookMode = (typeof WEBHOOK_MODES)[number];
/** `minimal`: ids and the names of changed fields; `full`: the user's current profile too. */
export const WEBHOOK_PAYLOADS = ['minimal', 'full'] as const;
export type WebhookPayload = (typeof WEBHOOK_PAYLOADS)[number];

export const DEFAULT_INTERVAL_MINUTES = 15;
export const MIN_INTERVAL_MINUTES = 1;
export const MAX_INTERVAL_MINUTES = 1440;
/** At most this many events in one batched delivery; more wait for the next. */
export const MAX_BATCH = 500;

export interface Subscription {
  id: string;
  tenantId: string;
  url: string;
  events: WebhookEventType[];
  mode: WebhookMode;
  /** Batched mode only: events wait at most this long and leave together. */
  intervalMinutes: number | null;
  payload: WebhookPayload;
  enabled: boolean;
  description: string | null;
  createdAt: number;
  updatedAt: number;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

export interface AttemptRecord {
  at: number;
  /** The receiver's HTTP status, or null when no answer came (refused, timeout, blocked address). */
  status: number | null;
  error: string | null;
  /** When the next attempt is due (absent after the last one). */
  next_attempt_at?: number;
}

export interface Delivery {
  id: string;
  subscriptionId: string;
  tenantId: string;
  eventIds: string[];
  status: DeliveryStatus;
  replay: boolean;
  attempts: number;
  attemptsLog: AttemptRecord[];
  nextAttemptAt: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  deliveredAt: number | null;
}

/** One event as a receiver gets it. */
export interface WebhookEventBody {
  id: string;
  type: string;
  timestamp: string;
  tenant: string | null;
  data: Record<string, unknown>;
}
