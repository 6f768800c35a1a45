import type { Logger } from 'pino';
import { DeliveryError } from './senders.js';
import type { SmsMessage, SmsSender } from './senders.js';
import { isE164 } from './sms-config.js';
import type { SmsSettings } from './sms-config.js';

type HttpSettings = Exclude<SmsSettings, { provider: 'outbox' }>;

/** "+4930123456" → "+49******56": enough to tell messages apart in a log, not to harvest numbers. */
export function maskPhone(phone: string): string {
  return phone.length <= 6 ? '***' : `${phone.slice(0, 3)}${'*'.repeat(phone.length - 5)}${phone.slice(-2)}`;
}

/** Replaces {{to}}, {{text}}, {{from}} inside every string of the template (values never become JSON or form syntax). */
export function fillTemplate(template: unknown, values: Record<string, string>): unknown {
  if (typeof template === 'string') return template.replace(/\{\{(to|text|from)\}\}/g, (_m, k: string) => values[k] ?? '');
  if (Array.isArray(template)) return template.map((v) => fillTemplate(v, values));
  if (template && typeof template === 'object') {
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, fillTemplate(v, values)]));
  }
  return template;
}

/** 408, 425, 429 and 5xx are worth another try; other 4xx mean the request itself is wrong (retrying changes nothing). */
const retryable = (status: number) => status === 408 || status === 425 || status === 429 || status >= 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * SMS through an HTTP provider: one POST per message, a timeout per attempt,
 * up to `retries` more attempts (after 250 ms, 500 ms, …) on network errors,
 * timeouts, 429 and 5xx. When every attempt failed: DeliveryError, which the
 * HTTP layer answers as 503 `delivery_failed`. The log names the provider's
 * status and a masked number, never the text (it holds the code).
 */
export function createHttpSms(settings: HttpSettings, log: Pick<Logger, 'info' | 'warn'>, opts: { backoffMs?: number } = {}): SmsSender {
  const backoff = opts.backoffMs ?? 250;
  return {
    kind: 'http',
    async send(m: SmsMessage) {
      if (!isE164(m.to)) throw new DeliveryError('sms', new Error('recipient is not an E.164 number'));
      const payload = fillTemplate(settings.body, { to: m.to, text: m.text, from: settings.from ?? '' }) as Record<string, unknown>;
      const body = settings.format === 'json'
        ? JSON.stringify(payload)
        : new URLSearchParams(Object.entries(payload).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString();
      const headers = {
        ...settings.headers,
        'content-type': settings.format === 'json' ? 'application/json' : 'application/x-www-form-urlencoded',
        accept: 'application/json',
      };
      let last: unknown;
      for (let attempt = 0; attempt <= settings.retries; attempt++) {
        if (attempt > 0) await sleep(backoff * 2 ** (attempt - 1));
        try {
          const res = await fetch(settings.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(settings.timeoutMs), redirect: 'error' });
          // The answer's body is not needed; reading it frees the connection.
          await res.arrayBuffer().catch(() => undefined);
          if (res.ok) {
            log.info({ channel: 'sms', to: maskPhone(m.to), provider: settings.provider, status: res.status, attempt: attempt + 1 }, 'SMS handed to the provider');
            return;
          }
          last = new Error(`provider answered ${res.status}`);
          log.warn({ channel: 'sms', to: maskPhone(m.to), provider: settings.provider, status: res.status, attempt: attempt + 1 }, 'SMS provider refused the message');
          if (!retryable(res.status)) break;
        } catch (err) {
          last = err;
          const reason = (err as Error).name === 'TimeoutError' ? 'timeout' : ((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message);
          log.warn({ channel: 'sms', to: maskPhone(m.to), provider: settings.provider, reason, attempt: attempt + 1 }, 'SMS provider not reachable');
        }
      }
      throw new DeliveryError('sms', last);
    },
  };
}
