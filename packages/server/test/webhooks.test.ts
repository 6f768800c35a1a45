import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { MACHINE_SECRET, machineToken } from './helpers/admin.js';
import { TestReceiver } from './helpers/webhooks.js';
import { BlockedAddress, guardedPost, isSpecialUse } from '../src/webhooks/outbound-guard.js';

/**
 * Outbound webhooks (docs/webhooks.md) against receivers that verify every
 * message with the npm `standardwebhooks` package. The platform's clock for
 * scheduled work is moved forward instead of waiting out batch intervals.
 */
let t: TestApp;
let token: string;
let offset = 0;

async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${t.issuer}/api/admin/v1${path}`, {
    method, headers: {
      authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      // Users' PATCH wants If-Match (the resource as last read): these tests overwrite on purpose.
      ...(method === 'PATCH' ? { 'if-match': '*' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function subscribe(receiver: TestReceiver, extra: Record<string, unknown>): Promise<string> {
  const res = await api<{ id: string; secret: string }>('POST', '/webhooks', { tenant: 'acme', url: receiver.url, ...extra });
  expect(res.status).toBe(201);
  receiver.secret = res.body.secret;
  return res.body.id;
}

const createUser = async (username: string) => (await api<{ id: string }>('POST', '/users', { tenant: 'acme', username, email: `${username}@acme.test` })).body.id;

beforeAll(async () => {
  t = await startTestApp({
    env: { TESSERA_OUTBOUND_PRIVATE_HOSTS: '127.0.0.1', TESSERA_WEBHOOK_RETRY_BASE_MS: '40', TESSERA_WEBHOOK_RETRY_MAX_MS: '200', TESSERA_WEBHOOK_POLL_MS: '50' },
    now: () => Date.now() + offset,
    config: {
      tenants: [{ id: 'acme', name: 'Acme' }],
      clients: [{ client_id: 'ops', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], tenant: 'acme', admin_scopes: ['identity.admin'] }],
    },
  });
  token = await machineToken(t.issuer, 'ops', 'identity.admin');
});
afterAll(async () => {
  await t?.close();
});

describe('subscriptions', () => {
  test('the secret is shown once; interval_minutes and private receivers are refused with field errors', async () => {
    const created = await api<{ id: string; secret: string; mode: string; interval_minutes: number | null }>('POST', '/webhooks',
      { url: 'https://hooks.example.com/tessera', events: ['user.created'], mode: 'batched' });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(created.body).toMatchObject({ mode: 'batched', interval_minutes: 15 });
    const read = await api<Record<string, unknown>>('GET', `/webhooks/${created.body.id}`);
    expect(read.status).toBe(200);
    expect(read.body).not.toHaveProperty('secret');
    expect(JSON.stringify((await api('GET', '/webhooks')).body)).not.toContain(created.body.secret);

    for (const interval of [0, 1441]) {
      const bad = await api<{ error: string; fields: Record<string, string> }>('POST', '/webhooks',
        { url: 'https://hooks.example.com/x', events: ['user.created'], mode: 'batched', interval_minutes: interval });
      expect(bad.status).toBe(400);
      expect(bad.body.error).toBe('validation_failed');
      expect(bad.body.fields).toHaveProperty('interval_minutes');
    }
    for (const url of ['http://10.0.0.7/hook', 'http://[::1]:8080/hook', 'http://169.254.169.254/latest', 'http://localhost:9/x']) {
      const bad = await api<{ fields: Record<string, string> }>('POST', '/webhooks', { url, events: ['user.created'] });
      expect(bad.status, url).toBe(400);
      expect(bad.body.fields).toEqual({ url: 'private_address' });
    }
    const ftp = await api<{ fields: Record<string, string> }>('POST', '/webhooks', { url: 'ftp://hooks.example.com/', events: ['user.created'] });
    expect(ftp.body.fields).toEqual({ url: 'invalid_url' });
    const unknownEvent = await api<{ fields: Record<string, string> }>('POST', '/webhooks', { url: 'https://hooks.example.com/', events: ['login.succeeded'] });
    expect(unknownEvent.status).toBe(400);
    expect(Object.keys(unknownEvent.body.fields)[0]).toMatch(/^events/);
    expect((await api('DELETE', `/webhooks/${created.body.id}`)).status).toBe(204);
    expect((await api('GET', `/webhooks/${created.body.id}`)).status).toBe(404);
  });

  test('the delivery-time guard refuses names that resolve to private addresses', async () => {
    expect(isSpecialUse('127.0.0.1')).toBe(true);
    expect(isSpecialUse('::ffff:10.1.2.3')).toBe(true);
    expect(isSpecialUse('93.184.215.14')).toBe(false);
    await expect(guardedPost('http://localhost:9/x', '{}', {}, { timeoutMs: 1000, privateHosts: [] })).rejects.toBeInstanceOf(BlockedAddress);
  });
});

describe('delivery', () => {
  test('immediate: each change arrives signed, in order, with a minimal payload (no personal data)', async () => {
    const receiver = await new TestReceiver().start();
    try {
      const sub = await subscribe(receiver, { events: ['user.created', 'user.updated', 'user.disabled'] });
      const id = await createUser('imma');
      expect((await api('PATCH', `/users/${id}`, { given_name: 'Imma' })).status).toBe(200);
      expect((await api('POST', `/users/${id}/disable`)).status).toBe(200);
      await expect.poll(() => receiver.events().length, { timeout: 10_000 }).toBe(3);
      expect(receiver.rejected).toEqual([]);
      expect(receiver.events().map((e) => e.type)).toEqual(['user.created', 'user.updated', 'user.disabled']);
      expect(receiver.events().every((e) => e.data.user_id === id && e.tenant === 'acme')).toBe(true);
      expect(receiver.events()[1]!.data.fields).toEqual(['given_name']);
      expect(JSON.stringify(receiver.received)).not.toContain('imma@acme.test');
      expect(receiver.received.every((r) => r.body.subscription === sub && r.id === r.body.id)).toBe(true);
      const log = await api<{ items: Array<{ id: string; status: string; attempts: number }> }>('GET', `/webhooks/${sub}/deliveries`);
      expect(log.body.items.map((d) => [d.status, d.attempts])).toEqual([['delivered', 1], ['delivered', 1], ['delivered', 1]]);
    } finally {
      await receiver.close();
    }
  });

  test('batched: three changes within one interval arrive as one batch, in order, when the interval is over', async () => {
    const receiver = await new TestReceiver().start();
    try {
      const sub = await subscribe(receiver, { events: ['user.created', 'user.updated'], mode: 'batched', interval_minutes: 1, payload: 'full' });
      const id = await createUser('bart');
      await api('PATCH', `/users/${id}`, { given_name: 'Bart' });
      await api('PATCH', `/users/${id}`, { family_name: 'Batch' });
      // Nothing leaves before the interval is over (the worker polls every 50 ms; give it many rounds).
      await new Promise((r) => setTimeout(r, 500));
      expect(receiver.arrivals).toEqual([]);
      offset += 61_000;
      await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBe(1);
      const [batch] = receiver.received;
      expect(batch!.body.events.map((e) => [e.type, e.data.fields ?? null])).toEqual([
        ['user.created', null], ['user.updated', ['given_name']], ['user.updated', ['family_name']],
      ]);
      // payload: full carries the current profile.
      expect(batch!.body.events[2]!.data.user).toMatchObject({ id, username: 'bart', given_name: 'Bart', family_name: 'Batch', email: 'bart@acme.test' });
      expect(batch!.body.subscription).toBe(sub);
    } finally {
      await receiver.close();
    }
  });

  test('a receiver failing twice gets retries with growing back-off, then the delivery; replay sends it again', async () => {
    const receiver = await new TestReceiver().start();
    try {
      const sub = await subscribe(receiver, { events: ['user.created'] });
      receiver.failNext = 2;
      const id = await createUser('rita');
      await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBe(1);
      expect(receiver.arrivals).toHaveLength(3);
      // The same webhook-id every attempt.
      expect(new Set(receiver.arrivals).size).toBe(1);
      const log = await api<{ items: Array<{ status: string; attempts: number; attempt_log: Array<{ at: string; status: number | null; next_attempt_at: string | null }> }> }>(
        'GET', `/webhooks/${sub}/deliveries`);
      const [d] = log.body.items;
      expect(d).toMatchObject({ status: 'delivered', attempts: 3 });
      expect(d!.attempt_log.map((a) => a.status)).toEqual([500, 500, 204]);
      const delays = d!.attempt_log.slice(0, 2).map((a) => Date.parse(a.next_attempt_at!) - Date.parse(a.at));
      expect(delays[0]).toBeGreaterThanOrEqual(40);
      expect(delays[1]).toBeGreaterThanOrEqual(80);
      expect(delays[1]!).toBeGreaterThan(delays[0]!);

      const eventId = receiver.received[0]!.body.events[0]!.id;
      const replay = await api<{ id: string; replay: boolean }>('POST', `/webhooks/${sub}/replay`, { event: eventId });
      expect(replay.status).toBe(202);
      await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBe(2);
      expect(receiver.received[1]!.body).toMatchObject({ replay: true, events: [{ id: eventId, type: 'user.created', data: { user_id: id } }] });
      expect((await api('POST', `/webhooks/${sub}/replay`, { event: 'nope' })).status).toBe(404);
      const range = await api<{ fields: Record<string, string> }>('POST', `/webhooks/${sub}/replay`, { from: '2020-01-01T00:00:00Z' });
      expect(range.body.fields).toEqual({ to: 'required' });
    } finally {
      await receiver.close();
    }
  });

  test('user.linked and user.unlinked when an external id is set and removed', async () => {
    const receiver = await new TestReceiver().start();
    try {
      await subscribe(receiver, { events: ['user.linked', 'user.unlinked'] });
      const id = await createUser('lina');
      expect((await api('PATCH', `/users/${id}`, { external_ids: { crm: 'C-1' } })).status).toBe(200);
      expect((await api('PATCH', `/users/${id}`, { external_ids: { crm: null } })).status).toBe(200);
      await expect.poll(() => receiver.events().map((e) => [e.type, e.data.source]), { timeout: 10_000 })
        .toEqual([['user.linked', 'crm'], ['user.unlinked', 'crm']]);
    } finally {
      await receiver.close();
    }
  });

  test('a receiver that never answers 2xx ends dead after the last attempt', async () => {
    const receiver = await new TestReceiver().start();
    try {
      const sub = await subscribe(receiver, { events: ['user.created'] });
      receiver.failNext = 1000;
      await createUser('dora');
      await expect.poll(async () => (await api<{ items: Array<{ status: string }> }>('GET', `/webhooks/${sub}/deliveries?status=dead`)).body.items.length,
        { timeout: 20_000 }).toBe(1);
      // TESSERA_WEBHOOK_MAX_ATTEMPTS defaults to 12, each a request.
      expect(receiver.arrivals).toHaveLength(12);
    } finally {
      await receiver.close();
    }
  });
});
