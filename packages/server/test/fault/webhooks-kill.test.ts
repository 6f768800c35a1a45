import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import SQLite from 'better-sqlite3';
import { PG_URL, adminToken, createUser, ownDatabase, startServer, tempDir } from './harness.js';
import type { Server } from './harness.js';
import { TestReceiver } from '../helpers/webhooks.js';

/**
 * Outbound webhooks across a crash (issue 14): two `tessera serve`
 * processes on one database; the one holding the `webhook-delivery` lease is
 * SIGKILLed in the middle of a run of deliveries. The other takes the lease
 * over when it runs out and resumes: the receiver (verifying every message
 * with the npm `standardwebhooks` package, deduplicating by `webhook-id` as
 * the standard asks) gets every event exactly once, in order.
 */
const EVENTS = 24;
const LEASE_MS = 2000;
const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const env = {
  TESSERA_OUTBOUND_PRIVATE_HOSTS: '127.0.0.1', TESSERA_WEBHOOK_LEASE_MS: String(LEASE_MS), TESSERA_WEBHOOK_POLL_MS: '100',
  TESSERA_WEBHOOK_RETRY_BASE_MS: '100', TESSERA_WEBHOOK_RETRY_MAX_MS: '500',
};

async function killTheDeliverer(databaseUrl: string, dir: string, leaseHolder: () => Promise<string | undefined>) {
  const receiver = await new TestReceiver().start();
  cleanups.push(() => receiver.close());
  // The receiver answers slowly, so the run of deliveries is still going when the deliverer dies.
  receiver.delayMs = 150;
  for (const d of ['a', 'b']) mkdirSync(join(dir, d));
  const a = await startServer({ databaseUrl, dir: join(dir, 'a'), env });
  const b = await startServer({ databaseUrl, dir: join(dir, 'b'), env });
  cleanups.push(() => a.stop('SIGKILL'), () => b.stop('SIGKILL'));
  const token = await adminToken(a);
  const tokenB = await adminToken(b);
  const sub = await fetch(`${a.url}/api/admin/v1/webhooks`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: receiver.url, events: ['user.created'] }),
  }).then((r) => r.json()) as { id: string; secret: string };
  receiver.secret = sub.secret;

  const created: string[] = [];
  for (let n = 0; n < EVENTS; n++) {
    // Changes through both instances (each checks its own issuer's tokens).
    const out = n % 2 ? await createUser(b, tokenB, n) : await createUser(a, token, n);
    expect(out.status).toBe(201);
    created.push(out.value!);
  }
  // Mid-run: some deliveries arrived, most have not.
  await expect.poll(() => receiver.received.length, { timeout: 20_000, interval: 20 }).toBeGreaterThanOrEqual(5);
  const holder = await leaseHolder();
  const pid = Number(holder?.split(':')[1]);
  const [victim, survivor]: [Server, Server] = a.child.pid === pid ? [a, b] : [b, a];
  expect(victim.child.pid).toBe(pid);
  const before = receiver.received.length;
  victim.child.kill('SIGKILL');
  await victim.exited;
  expect(before).toBeLessThan(EVENTS);

  await expect.poll(() => new Set(receiver.received.map((r) => r.id)).size, { timeout: 30_000, interval: 100 }).toBe(EVENTS);
  expect(receiver.rejected).toEqual([]);
  const events = receiver.events();
  expect(events.map((e) => e.data.user_id)).toEqual(created);
  expect(events.map((e) => e.id)).toEqual([...events.map((e) => e.id)].sort());
  // No event in two different messages; a message sent twice (in flight at the kill) has the same webhook-id.
  const all = receiver.received.flatMap((r) => r.body.events.map((e) => `${r.id}/${e.id}`));
  expect(new Set(receiver.received.flatMap((r) => r.body.events.map((e) => e.id))).size).toBe(EVENTS);
  const repeats = receiver.received.length - new Set(receiver.received.map((r) => r.id)).size;
  expect(repeats).toBeLessThanOrEqual(1);
  expect(new Set(all).size).toBe(EVENTS);
  // The survivor holds the lease now and its delivery log says every delivery was delivered.
  expect(Number((await leaseHolder())?.split(':')[1])).toBe(survivor.child.pid);
  const survivorToken = await adminToken(survivor);
  const log = await fetch(`${survivor.url}/api/admin/v1/webhooks/${sub.id}/deliveries?limit=100`, { headers: { authorization: `Bearer ${survivorToken}` } })
    .then((r) => r.json()) as { items: Array<{ status: string }> };
  expect(log.items.map((d) => d.status)).toEqual(Array(EVENTS).fill('delivered'));
  await survivor.stop();
  return { before, repeats };
}

describe('webhook delivery when the delivering instance is killed', () => {
  test('SQLite: another instance resumes; nothing lost or doubled', async () => {
    const tmp = tempDir('tessera-fault-hooks-');
    cleanups.push(() => tmp.dispose());
    const file = join(tmp.dir, 'tessera.db');
    const holder = async () => {
      const db = new SQLite(file, { readonly: true });
      try {
        return (db.prepare("select holder from leases where name = 'webhook-delivery'").get() as { holder?: string } | undefined)?.holder;
      } finally {
        db.close();
      }
    };
    const { before, repeats } = await killTheDeliverer(`sqlite:${file}`, tmp.dir, holder);
    console.info(`sqlite: killed after ${before} of ${EVENTS} messages; ${repeats} message(s) sent again with the same webhook-id`);
  });

  test.runIf(PG_URL)('PostgreSQL: another instance resumes; nothing lost or doubled', async () => {
    const own = await ownDatabase();
    const tmp = tempDir('tessera-fault-hooks-pg-');
    cleanups.push(() => own.drop(), () => tmp.dispose());
    const holder = async () => {
      const client = new pg.Client({ connectionString: own.url });
      await client.connect();
      try {
        return (await client.query("select holder from leases where name = 'webhook-delivery'")).rows[0]?.holder as string | undefined;
      } finally {
        await client.end();
      }
    };
    const { before, repeats } = await killTheDeliverer(own.url, tmp.dir, holder);
    console.info(`postgres: killed after ${before} of ${EVENTS} messages; ${repeats} message(s) sent again with the same webhook-id`);
  });
});

