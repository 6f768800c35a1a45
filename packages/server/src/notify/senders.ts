import type nodemailer from 'nodemailer';
import { requireOnUse } from '../startup/lazy.js';

// Loaded when SMTP_URL is set, not at every start (issue 20).
const smtp = requireOnUse<typeof nodemailer>('nodemailer');
import type { Logger } from 'pino';
import type { OutboxRepository } from './outbox.js';

export interface EmailMessage {
  to: string;
  subject: string;
  text: string;
}

export interface SmsMessage {
  to: string;
  text: string;
}

/** Sends email. SMTP when configured, the development outbox otherwise. */
export interface Mailer {
  readonly kind: 'smtp' | 'outbox';
  send(message: EmailMessage): Promise<void>;
  close(): Promise<void>;
}

/** Sends SMS: the development outbox, or an HTTP provider (notify/sms-http.ts). */
export interface SmsSender {
  readonly kind: 'outbox' | 'http';
  send(message: SmsMessage): Promise<void>;
}

/** Mail or SMS could not be handed to the provider; answered as 503 `delivery_failed` (http/errors.ts). */
export class DeliveryError extends Error {
  constructor(channel: 'email' | 'sms', cause: unknown) {
    super(`${channel} delivery failed`, { cause });
    this.name = 'DeliveryError';
  }
}

export function createSmtpMailer(url: string, from: string): Mailer {
  const transport = smtp().createTransport(url);
  return {
    kind: 'smtp',
    async send(m) {
      try {
        await transport.sendMail({ from, to: m.to, subject: m.subject, text: m.text });
      } catch (err) {
        throw new DeliveryError('email', err);
      }
    },
    async close() {
      transport.close();
    },
  };
}

/** Messages land in the outbox table (shown at /dev/outbox); the log only notes recipient and subject, never the body or its links. */
export function createOutboxMailer(outbox: OutboxRepository, log: Logger): Mailer {
  return {
    kind: 'outbox',
    async send(m) {
      const stored = await outbox.add({ channel: 'email', recipient: m.to, subject: m.subject, body: m.text });
      log.info({ outbox: stored.id, channel: 'email', to: m.to, subject: m.subject }, 'development outbox: email stored (see /dev/outbox)');
    },
    async close() {},
  };
}

export function createOutboxSms(outbox: OutboxRepository, log: Logger): SmsSender {
  return {
    kind: 'outbox',
    async send(m) {
      const stored = await outbox.add({ channel: 'sms', recipient: m.to, subject: 'SMS', body: m.text });
      log.info({ outbox: stored.id, channel: 'sms', to: m.to }, 'development outbox: SMS stored (see /dev/outbox)');
    },
  };
}
