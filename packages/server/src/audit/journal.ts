import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { DomainEvent } from './events.js';
import type { AuditRepository } from './repository.js';

let lastMs = 0;
let counter = 0;

/**
 * A time-ordered event id (the UUIDv7 layout, RFC 9562 §5.7): 48 bits of
 * milliseconds, then a counter that keeps ids from one process strictly
 * increasing within a millisecond. Sorting ids sorts events, which is what
 * ordered webhook deliveries rely on (audit rows' `at` alone ties).
 */
export function eventId(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    counter = 0;
  } else if (++counter > 0xfff) {
    lastMs += 1;
    counter = 0;
  }
  const hex = lastMs.toString(16).padStart(12, '0') + '7' + counter.toString(16).padStart(3, '0') + randomBytes(8).toString('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Adds work to the transaction that records an event (webhooks/ queues deliveries in it). */
export type JournalHook = (trx: Transaction<Database>, event: DomainEvent, id: string) => Promise<boolean>;

/**
 * The one durable event model: every domain event becomes an audit entry,
 * and in the same transaction whatever else must not be lost or written
 * without it (the webhook outbox). `recordIn` joins a caller's transaction,
 * so a change and its event commit together (the contact sync does).
 */
export class EventJournal {
  private readonly hooks: JournalHook[] = [];
  private readonly after: Array<() => void> = [];

  constructor(private readonly db: Kysely<Database>, private readonly audit: AuditRepository) {}

  /** Runs `hook` inside every event's transaction. */
  use(hook: JournalHook): void {
    this.hooks.push(hook);
  }

  /** Called after an event's transaction committed (e.g. to wake the delivery worker). */
  onCommitted(fn: () => void): void {
    this.after.push(fn);
  }

  async record(event: DomainEvent): Promise<string> {
    const { id, queued } = await this.db.transaction().execute((trx) => this.write(trx, event));
    if (queued) this.committed();
    return id;
  }

  /** Records the event inside `trx`; call `committed()` once the caller's transaction committed. */
  async recordIn(trx: Transaction<Database>, event: Omit<DomainEvent, 'at'> & { at?: number }): Promise<string> {
    return (await this.write(trx, { ...event, at: event.at ?? Date.now() })).id;
  }

  private async write(trx: Transaction<Database>, event: DomainEvent): Promise<{ id: string; queued: boolean }> {
    const id = eventId(event.at);
    await this.audit.append(event, { db: trx, id });
    let queued = false;
    for (const hook of this.hooks) queued = (await hook(trx, event, id)) || queued;
    return { id, queued };
  }

  committed(): void {
    for (const fn of this.after) fn();
  }
}
