import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One verified message as a receiver got it. */
export interface Received {
  id: string;
  body: { id: string; subscription: string; tenant: string; replay: boolean; events: Array<{ id: string; type: string; timestamp: string; tenant: string; data: Record<string, unknown> }> };
}

/**
 * A webhook receiver that verifies every message with the npm
 * `standardwebhooks` package (the reference implementation), as a
 * customer's service would. `failNext` answers 500 to that many messages;
 * `hold` keeps a message's answer back until released.
 */
export class TestReceiver {
  readonly received: Received[] = [];
  readonly rejected: string[] = [];
  /** Every request's webhook-id, failures included (in arrival order). */
  readonly arrivals: string[] = [];
  failNext = 0;
  /** Answers this much later (a slow receiver keeps a run of deliveries going). */
  delayMs = 0;
  secret: string | undefined;
  onArrival: ((id: string) => void) | undefined;
  private server!: Server;
  url = '';

  async start(path = '/hook'): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => setTimeout(() => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const id = String(req.headers['webhook-id'] ?? '');
        this.arrivals.push(id);
        this.onArrival?.(id);
        if (this.failNext > 0) {
          this.failNext--;
          res.writeHead(500).end();
          return;
        }
        try {
          const body = new Webhook(this.secret!).verify(raw, req.headers as Record<string, string>) as Received['body'];
          this.received.push({ id, body });
          res.writeHead(204).end();
        } catch (err) {
          this.rejected.push(String(err));
          res.writeHead(400).end();
        }
      }, this.delayMs));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
    return this;
  }

  /** Events received, in order, duplicates (same webhook-id) dropped as the standard asks receivers to. */
  events(): Received['body']['events'] {
    const seen = new Set<string>();
    return this.received.filter((r) => (seen.has(r.id) ? false : (seen.add(r.id), true))).flatMap((r) => r.body.events);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
