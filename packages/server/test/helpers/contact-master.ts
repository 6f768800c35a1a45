import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** One contact as the master keeps it. */
export type Contact = Record<string, unknown>;

export type Change =
  | { id: string; type: 'upsert'; external_id: string; changed_at: string; contact: Contact }
  | { id: string; type: 'merge'; external_id: string; merged: string; changed_at: string }
  | { id: string; type: 'anonymize'; external_id: string; changed_at: string };

/** What one signed POST looked like and how Tessera answered it. */
export interface Attempt {
  messageId: string;
  body: string;
  headers: Record<string, string>;
  status: number;
  answer: { results?: Array<{ id: string; status: string; user_id?: string; code?: string; fields?: Record<string, string>; ignored_attributes?: string[] }>; error?: string };
}

/**
 * A mock contact master: the ticketing system that keeps the master copy of
 * its contacts. It holds a contact table, records each change (create,
 * update, merge, anonymize) with an event id and its change time, and on its
 * schedule (`tick` with an injected clock, every `intervalMinutes`) pushes
 * what changed as one batch signed with the npm `standardwebhooks` package,
 * as a real sender would. A 5xx or a refused connection is retried with the
 * same message id (Standard Webhooks' at-least-once delivery); a 2xx ends
 * the batch; a 4xx is given up.
 */
export class ContactMaster {
  readonly contacts = new Map<string, Contact>();
  readonly attempts: Attempt[] = [];
  private pending: Change[] = [];
  private lastPush: number;
  private seq = 0;

  constructor(private readonly opts: {
    url: string;
    secret: string;
    now: () => number;
    intervalMinutes?: number;
    retries?: number;
    retryDelayMs?: number;
    /** Called after each attempt (tests act between a failure and its retry). */
    onAttempt?: (a: Attempt) => void | Promise<void>;
  }) {
    this.lastPush = opts.now();
  }

  private change(c: Record<string, unknown>, at?: number): Change {
    this.seq++;
    const change = { ...c, id: `evt-${this.seq}-${randomBytes(4).toString('hex')}`, changed_at: new Date(at ?? this.opts.now()).toISOString() } as Change;
    this.pending.push(change);
    return change;
  }

  upsert(id: string, fields: Contact, at?: number): Change {
    const contact = { ...(this.contacts.get(id) ?? {}), ...fields };
    this.contacts.set(id, contact);
    return this.change({ type: 'upsert', external_id: id, contact }, at);
  }

  merge(survivor: string, loser: string): Change {
    this.contacts.delete(loser);
    return this.change({ type: 'merge', external_id: survivor, merged: loser });
  }

  anonymize(id: string): Change {
    this.contacts.set(id, { anonymized: true });
    return this.change({ type: 'anonymize', external_id: id });
  }

  /** The schedule: pushes when an interval has passed since the last push. */
  async tick(): Promise<Attempt | undefined> {
    const interval = (this.opts.intervalMinutes ?? 15) * 60_000;
    if (this.opts.now() - this.lastPush < interval) return undefined;
    return this.push();
  }

  /** Sends the pending changes as one signed batch now (retrying 5xx); undefined when nothing is pending. */
  async push(): Promise<Attempt | undefined> {
    this.lastPush = this.opts.now();
    if (!this.pending.length) return undefined;
    const body = JSON.stringify({ changes: this.pending });
    const messageId = `msg_${randomBytes(12).toString('hex')}`;
    let last: Attempt | undefined;
    for (let attempt = 0; attempt <= (this.opts.retries ?? 5); attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, this.opts.retryDelayMs ?? 200));
      last = await this.send(messageId, body, this.opts.secret);
      if (last.status < 500) break;
    }
    if (last && last.status >= 200 && last.status < 300) this.pending = [];
    return last;
  }

  /** One signed POST of `body` (also used by tests to send again what was sent, or to sign with a wrong secret). */
  async send(messageId: string, body: string, secret: string, when = new Date()): Promise<Attempt> {
    const signature = new Webhook(secret).sign(messageId, when, body);
    const headers = {
      'content-type': 'application/json', 'webhook-id': messageId, 'webhook-timestamp': String(Math.floor(when.getTime() / 1000)), 'webhook-signature': signature,
    };
    let status = 0;
    let answer: Attempt['answer'] = {};
    try {
      const res = await fetch(this.opts.url, { method: 'POST', headers, body });
      status = res.status;
      const text = await res.text();
      answer = text ? JSON.parse(text) as Attempt['answer'] : {};
    } catch (err) {
      answer = { error: String(err) };
    }
    const a = { messageId, body, headers, status, answer };
    this.attempts.push(a);
    await this.opts.onAttempt?.(a);
    return a;
  }
}
