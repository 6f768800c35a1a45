import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';

export interface OutboxMessage {
  id: string;
  at: number;
  channel: 'email' | 'sms';
  recipient: string;
  subject: string;
  body: string;
}

/**
 * The development outbox: where mail and SMS go when no SMTP server or SMS
 * provider is configured. Shown at /dev/outbox and logged, so a developer can
 * follow confirmation and reset links without any mail setup.
 */
export interface OutboxRepository {
  add(message: Omit<OutboxMessage, 'id' | 'at'>): Promise<OutboxMessage>;
  /** Newest first. */
  list(limit?: number, recipient?: string): Promise<OutboxMessage[]>;
}

export function createOutboxRepository(db: Kysely<Database>): OutboxRepository {
  return {
    async add(m) {
      const row = { id: randomUUID(), at: Date.now(), ...m };
      await db.insertInto('dev_outbox').values(row).execute();
      return row;
    },
    async list(limit = 50, recipient) {
      let q = db.selectFrom('dev_outbox').selectAll();
      if (recipient) q = q.where('recipient', '=', recipient);
      const rows = await q.orderBy('at', 'desc').orderBy('id').limit(limit).execute();
      return rows.map((r) => ({ ...r, at: Number(r.at), channel: r.channel as OutboxMessage['channel'] }));
    },
  };
}
