import nodemailer from 'nodemailer';
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

/** Sends SMS. Only the development outbox today; a provider adapter implements the same interface. */
export interface SmsSender {
  readonly kind: 'outbox';
  send(message: SmsMessage): Promise<void>;
}

export function createSmtpMailer(url: string, from: string): Mailer {
  const transport = nodemailer.createTransport(url);
  return {
    kind: 'smtp',
    async send(m) {
      await transport.sendMail({ from, to: m.to, subject: m.subject, text: m.text });
    },
    async close() {
      transport.close();
    },
  };
}

/** Messages land in the outbox table and in the log (development only: the log then holds the links). */
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
