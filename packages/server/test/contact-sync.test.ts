import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, TEST_DATABASE_URL } from './helpers/app.js';
import type { TestApp, TestStore } from './helpers/app.js';
import { MACHINE_SECRET, machineToken } from './helpers/admin.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { signedInBrowser } from './helpers/account.js';
import { ContactMaster } from './helpers/contact-master.js';
import { TestReceiver } from './helpers/webhooks.js';
import type { Attempt } from './helpers/contact-master.js';
import { baseConfig } from './fixtures.js';
import { openStore } from '../src/storage/database.js';

/**
 * Inbound contact sync (docs/webhooks.md#inbound-contact-sync) against a mock
 * contact master that signs its batches with the npm `standardwebhooks`
 * package. The store has a short database timeout so that a lock held by
 * another connection makes one batch fail (503) honestly, mid-batch on
 * PostgreSQL.
 */
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const PASSWORD = 'a long enough test password';
const DB_TIMEOUT_MS = 1000;

let t: TestApp;
let store: TestStore;
let token: string;
let clock = Date.now();
let master: ContactMaster;
let onAttempt: ((a: Attempt) => void | Promise<void>) | undefined;
/** An outbound webhook receiver (standardwebhooks) subscribed to the sync's events. */
let receiver: TestReceiver;

async function openShortTimeoutStore(): Promise<TestStore> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-inbound-'));
  if (TEST_DATABASE_URL) {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const s = openStore(TEST_DATABASE_URL, { schema, poolSize: 5, timeoutMs: DB_TIMEOUT_MS });
    return {
      store: s, url: TEST_DATABASE_URL, schema, dir,
      async dispose() {
        await s.close();
        const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
        await client.connect();
        await client.query(`drop schema if exists ${schema} cascade`);
        await client.end();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const url = `sqlite:${join(dir, 'tessera.db')}`;
  const s = openStore(url, { timeoutMs: DB_TIMEOUT_MS });
  return { store: s, url, dir, async dispose() { await s.close(); rmSync(dir, { recursive: true, force: true }); } };
}

async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${t.issuer}/api/admin/v1${path}`, {
    method, headers: {
      authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(method === 'PATCH' ? { 'if-match': '*' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

interface UserView { id: string; username: string | null; email: string | null; given_name: string | null; family_name: string | null; phone_number: string | null; status: string; roles: string[]; attributes: Record<string, unknown>; external_ids: Record<string, string>; version?: number }
const byExternalId = async (id: string) => (await api<{ items: UserView[] }>('GET', `/users?external_id=${encodeURIComponent(`crm:${id}`)}`)).body.items;
const user = async (id: string) => (await api<UserView>('GET', `/users/${id}`)).body;
const auditOf = async (subject: string) => (await api<{ items: Array<{ action: string; ip: string | null; user_agent: string | null; details: Record<string, unknown> }> }>('GET', `/audit?subject=${subject}&limit=200`)).body.items;

/** The account pages' sign-in: true when it lands on /account. */
async function canSignIn(username: string, password = PASSWORD): Promise<boolean> {
  const agent = new UserAgent();
  let { res, url } = await agent.follow(await agent.get(`${t.issuer}/account`), `${t.issuer}/account`);
  const action = new URL(formAction(await res.text(), '/login'), t.issuer);
  ({ res, url } = await agent.follow(await agent.post(action, { username, password }), action.href));
  return new URL(url).pathname === '/account' && res.status === 200;
}

const ids: Record<string, string> = {};

beforeAll(async () => {
  store = await openShortTimeoutStore();
  const people = [
    { username: 'mia', given_name: 'Miriam', family_name: 'Survivorson' },
    { username: 'max', given_name: 'Maximilian', family_name: 'Loserberg', roles: ['editor'] },
    { username: 'annabel', given_name: 'Annabel', family_name: 'Quillfeather', phone_number: '+4930111222333' },
  ].map((p) => ({ ...p, password: PASSWORD, email: `${p.username}@example.test`, email_verified: true }));
  t = await startTestApp({
    testStore: store,
    now: () => clock,
    env: { TESSERA_OUTBOUND_PRIVATE_HOSTS: '127.0.0.1', TESSERA_WEBHOOK_POLL_MS: '50' },
    config: {
      ...baseConfig,
      clients: [...baseConfig.clients, { client_id: 'ops', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], tenant: 'default', admin_scopes: ['identity.admin'] }],
      users: [...baseConfig.users, ...people],
      attributes: [
        { tenant: 'default', name: 'tier', type: 'enum', values: ['silver', 'gold'], source: 'crm' },
        { tenant: 'default', name: 'notes', type: 'string' },
      ],
      inbound_sources: [{
        tenant: 'default', name: 'crm', secret: SECRET,
        mapping: {
          fields: { email: 'email', given_name: 'first_name', family_name: 'last_name', phone_number: 'phone' },
          attributes: { tier: 'loyalty.tier', notes: 'notes' },
        },
      }],
    },
  });
  token = await machineToken(t.issuer, 'ops', 'identity.admin');
  receiver = await new TestReceiver().start();
  const sub = await api<{ secret: string }>('POST', '/webhooks', { url: receiver.url, events: ['user.merged', 'user.anonymized', 'user.disabled'] });
  receiver.secret = sub.body.secret;
  master = new ContactMaster({
    url: `${t.issuer}/api/inbound/crm/contacts`, secret: SECRET, now: () => clock, intervalMinutes: 1, retries: 6, retryDelayMs: 300,
    onAttempt: (a) => onAttempt?.(a),
  });
  // The contact master already knows these people: their crm ids are set on the accounts.
  for (const [username, contact] of [['mia', 'C-1'], ['max', 'C-2'], ['annabel', 'C-3']] as const) {
    const found = (await api<{ items: UserView[] }>('GET', `/users?username=${username}`)).body.items[0]!;
    ids[username] = found.id;
    expect((await api('PATCH', `/users/${found.id}`, { external_ids: { crm: contact }, attributes: { notes: `${username} likes tea` } })).status).toBe(200);
  }
}, 60_000);
afterAll(async () => {
  await receiver?.close();
  await t?.close();
  await store?.dispose();
});

describe('inbound contact sync', () => {
  test('on its schedule the master pushes a signed batch: new contacts are created, known ones updated, only attributes it owns change', async () => {
    master.upsert('C-9', { first_name: 'Nia', last_name: 'Newcomer', email: 'nia@example.test', loyalty: { tier: 'gold' }, notes: 'not yours' });
    master.upsert('C-1', { first_name: 'Miriam', last_name: 'Survivorson-Smith', email: 'mia@example.test', loyalty: { tier: 'silver' }, notes: 'overwrite?' });
    expect(await master.tick()).toBeUndefined();
    clock += 60_000;
    const sent = await master.tick();
    expect(sent?.status).toBe(202);
    const [nia, mia] = sent!.answer.results!;
    expect(nia).toMatchObject({ status: 'created', ignored_attributes: ['notes'] });
    expect(mia).toMatchObject({ status: 'updated', user_id: ids.mia, ignored_attributes: ['notes'] });

    const [created] = await byExternalId('C-9');
    expect(created).toMatchObject({ id: nia!.user_id, email: 'nia@example.test', given_name: 'Nia', family_name: 'Newcomer', status: 'active', attributes: { tier: 'gold' }, external_ids: { crm: 'C-9' } });
    const updated = await user(ids.mia!);
    expect(updated).toMatchObject({ family_name: 'Survivorson-Smith', attributes: { tier: 'silver', notes: 'mia likes tea' } });
    const actions = (await auditOf(ids.mia!)).map((e) => e.action);
    expect(actions).toContain('user.updated');
  });

  test('merge: the loser is disabled, signed out and cannot sign in; its external id resolves to the survivor, which gets its roles and memberships', async () => {
    await t.app.platform.users.addMembership(ids.max!, 'acme');
    const loserBrowser = await signedInBrowser(t.issuer, { username: 'max', password: PASSWORD });
    expect((await api<{ items: unknown[] }>('GET', `/users/${ids.max}/sessions`)).body.items).toHaveLength(1);
    master.merge('C-1', 'C-2');
    clock += 60_000;
    const sent = await master.tick();
    expect(sent?.status).toBe(202);
    expect(sent!.answer.results).toEqual([expect.objectContaining({ status: 'merged', user_id: ids.mia })]);

    const resolved = await byExternalId('C-2');
    expect(resolved.map((u) => u.id)).toEqual([ids.mia]);
    const survivor = await user(ids.mia!);
    expect(survivor.roles).toContain('editor');
    expect((await api<{ items: Array<{ tenant: string }> }>('GET', `/users/${ids.mia}/memberships`)).body.items.map((m) => m.tenant)).toContain('acme');
    const loser = await user(ids.max!);
    expect(loser.status).toBe('disabled');
    expect(loser.roles).toEqual([]);
    expect((await api<{ items: unknown[] }>('GET', `/users/${ids.max}/sessions`)).body.items).toEqual([]);
    // The loser's browser session is over, and signing in again is refused.
    const account = await loserBrowser.agent.get(`${t.issuer}/account`);
    expect(account.status === 302 || account.status === 303).toBe(true);
    expect(await canSignIn('max')).toBe(false);
    expect(await canSignIn('mia')).toBe(true);
    const merged = (await auditOf(ids.mia!)).find((e) => e.action === 'user.merged');
    expect(merged?.details).toMatchObject({ survivor: ids.mia, merged: ids.max, via: 'contact_sync', source: 'crm' });
    // Outbound webhooks hear of it: the loser disabled, then the merge.
    await expect.poll(() => receiver.events().map((e) => e.type), { timeout: 10_000 }).toEqual(['user.disabled', 'user.merged']);
    expect(receiver.events()[1]!.data).toMatchObject({ user_id: ids.mia, survivor: ids.mia, merged: ids.max, source: 'crm', via: 'contact_sync' });
    // Later changes of the merged-away contact are refused.
    master.upsert('C-2', { first_name: 'Zombie', email: 'max@example.test' });
    clock += 60_000;
    expect((await master.tick())!.answer.results).toEqual([expect.objectContaining({ status: 'refused', code: 'contact_merged' })]);
  });

  test('anonymize: no personal data left in the admin API or the audit log; no sessions; no sign-in', async () => {
    await signedInBrowser(t.issuer, { username: 'annabel', password: PASSWORD });
    expect(await canSignIn('annabel', 'a wrong password for the log')).toBe(false);
    expect((await api('PATCH', `/users/${ids.annabel}`, { given_name: 'Annabel', family_name: 'Quillfeather-Admin' })).status).toBe(200);
    master.anonymize('C-3');
    clock += 60_000;
    const sent = await master.tick();
    expect(sent!.answer.results).toEqual([expect.objectContaining({ status: 'anonymized', user_id: ids.annabel })]);

    const after = await user(ids.annabel!);
    expect(after).toMatchObject({ email: null, given_name: null, family_name: null, phone_number: null, status: 'disabled', attributes: {} });
    expect(after.username).toMatch(/^anon-[0-9a-f]{16}$/);
    expect((await api<{ items: unknown[] }>('GET', `/users/${ids.annabel}/sessions`)).body.items).toEqual([]);
    const entries = await auditOf(ids.annabel!);
    expect(entries.map((e) => e.action)).toEqual(expect.arrayContaining(['user.anonymized', 'session.revoked', 'login.succeeded', 'user.updated']));
    const text = JSON.stringify(entries);
    for (const personal of ['annabel', 'Annabel', 'Quillfeather', '+4930111222333', 'annabel@example.test']) expect(text).not.toContain(personal);
    expect(entries.every((e) => e.ip === null && e.user_agent === null)).toBe(true);
    await expect.poll(() => receiver.events().map((e) => e.type), { timeout: 10_000 }).toContain('user.anonymized');
    const hook = receiver.events().find((e) => e.type === 'user.anonymized')!;
    expect(hook.data).toMatchObject({ user_id: ids.annabel, source: 'crm', via: 'contact_sync' });
    expect(JSON.stringify(receiver.received)).not.toMatch(/annabel|Quillfeather/i);
    expect(await canSignIn('annabel')).toBe(false);
    expect(await canSignIn('annabel@example.test')).toBe(false);
    expect(await canSignIn(after.username!)).toBe(false);
  });

  test('the same batch again changes nothing; a bad signature, a stale timestamp or an unknown source change nothing (401)', async () => {
    const before = JSON.stringify(await Promise.all(Object.values(ids).map(user)));
    const auditCount = (await api<{ items: unknown[] }>('GET', '/audit?limit=200')).body.items.length;
    const first = master.attempts.find((a) => a.status === 202)!;
    // The same message again (as a sender retrying a lost answer), and the same changes under a new message id.
    const again = await master.send(first.messageId, first.body, SECRET);
    expect(again.status).toBe(202);
    expect(again.answer.results!.every((r) => r.status === 'duplicate')).toBe(true);
    expect((await master.send('msg_other', first.body, SECRET)).answer.results!.map((r) => r.status)).toEqual(['duplicate', 'duplicate']);

    const change = JSON.stringify({ changes: [{ id: 'evt-bad', type: 'upsert', external_id: 'C-1', changed_at: new Date(clock).toISOString(), contact: { first_name: 'Mallory' } }] });
    const forged = await master.send('msg_forged', change, `whsec_${randomBytes(32).toString('base64')}`);
    expect(forged.status).toBe(401);
    expect(forged.answer.error).toBe('invalid_signature');
    expect((await master.send('msg_old', change, SECRET, new Date(Date.now() - 6 * 60_000))).status).toBe(401);
    const unknown = await fetch(`${t.issuer}/api/inbound/nobody/contacts`, { method: 'POST', headers: { ...forged.headers }, body: change });
    expect(unknown.status).toBe(401);
    // A valid signature over other bytes.
    const tampered = await fetch(`${t.issuer}/api/inbound/crm/contacts`, { method: 'POST', headers: again.headers, body: first.body.replace('Nia', 'Eve') });
    expect(tampered.status).toBe(401);

    expect(JSON.stringify(await Promise.all(Object.values(ids).map(user)))).toBe(before);
    // Only the two duplicate batches' contacts.synced entries (and the admin reads' none) were added.
    const entries = (await api<{ items: Array<{ action: string }> }>('GET', '/audit?limit=200')).body.items;
    expect(entries.length - auditCount).toBe(2);
    expect(entries.slice(0, 2).map((e) => e.action)).toEqual(['contacts.synced', 'contacts.synced']);
  });

  test('ordered by the change time: a change older than the last one applied for the contact is skipped', async () => {
    clock += 60_000;
    master.upsert('C-9', { last_name: 'Newer' });
    master.upsert('C-9', { last_name: 'Older' }, clock - 30_000);
    const sent = await master.tick();
    // Applied in change order: the older one first, then the newer one; the batch lists them the other way round.
    expect(sent!.answer.results!.map((r) => r.status)).toEqual(['updated', 'updated']);
    expect((await byExternalId('C-9'))[0]!.family_name).toBe('Newer');
    master.upsert('C-9', { last_name: 'Late arrival' }, clock - 7_200_000);
    clock += 60_000;
    expect((await master.tick())!.answer.results!.map((r) => r.status)).toEqual(['stale']);
    expect((await byExternalId('C-9'))[0]!.family_name).toBe('Newer');
  });

  test('a batch the database fails mid-way answers 503: nothing of it stays, the master retries, and the change lands once', async () => {
    const niaId = (await byExternalId('C-9'))[0]!.id;
    const release = await holdLock();
    let released = false;
    let atFailure: { phone: string | null; given: string | null } | undefined;
    onAttempt = async (a) => {
      if (a.status >= 500 && !released) {
        // Read while the lock is still held: the failed attempt left nothing behind.
        atFailure = { phone: (await t.app.platform.users.findById(niaId))!.phoneNumber, given: (await t.app.platform.users.findById(ids.mia!))!.givenName };
        released = true;
        await release();
      }
    };
    try {
      master.upsert('C-9', { phone: '+4930999888777', loyalty: { tier: 'silver' } });
      master.upsert('C-1', { first_name: 'Mirjam' });
      clock += 60_000;
      const sent = await master.tick();
      const tries = master.attempts.filter((a) => a.messageId === sent!.messageId);
      expect(tries.map((a) => a.status)).toEqual([503, 202]);
      expect(tries[0]!.answer.error).toBe('temporarily_unavailable');
      expect(sent!.answer.results!.map((r) => r.status)).toEqual(['updated', 'updated']);
      expect(atFailure).toEqual({ phone: null, given: 'Miriam' });
    } finally {
      onAttempt = undefined;
      if (!released) await release();
    }
    const nia = (await byExternalId('C-9'))[0]!;
    expect(nia).toMatchObject({ phone_number: '+4930999888777', attributes: { tier: 'silver' } });
    expect((await user(ids.mia!)).given_name).toBe('Mirjam');
    const synced = (await api<{ items: Array<{ details: Record<string, unknown> }> }>('GET', '/audit?action=contacts.synced&limit=200')).body.items;
    expect(synced.filter((e) => e.details.message === master.attempts.at(-1)!.messageId)).toHaveLength(1);
    const updates = (await auditOf(nia.id)).filter((e) => e.action === 'user.updated' && (e.details.fields as string[]).includes('phone_number'));
    expect(updates).toHaveLength(1);
  });
});

/**
 * Another connection takes a lock the batch needs, until released: on
 * PostgreSQL the audit log's (the batch's user writes go through, then its
 * first event waits and times out, mid-batch); on SQLite the database's
 * write lock (the batch's first write times out).
 */
async function holdLock(): Promise<() => Promise<void>> {
  if (TEST_DATABASE_URL) {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query('begin');
    await client.query(`lock table ${store.schema}.audit_log in exclusive mode`);
    return async () => {
      await client.query('rollback');
      await client.end();
    };
  }
  const db = new Sqlite(store.url.slice('sqlite:'.length));
  db.exec('begin immediate');
  return async () => {
    db.exec('rollback');
    db.close();
  };
}

describe('sources in the admin API', () => {
  test('the file\'s source is listed without its secret and cannot be changed here; a new source gets its secret once and an IP allowlist', async () => {
    const list = await api<{ items: Array<Record<string, unknown>> }>('GET', '/inbound-sources');
    expect(list.body.items).toEqual([expect.objectContaining({ name: 'crm', tenant: 'default', declared_in: 'file', endpoint: '/api/inbound/crm/contacts' })]);
    expect(JSON.stringify(list.body)).not.toContain(SECRET);
    const crm = list.body.items[0]!.id as string;
    expect((await api<{ fields: Record<string, string> }>('PATCH', `/inbound-sources/${crm}`, { enabled: false })).body.fields).toEqual({ name: 'declared_in_file' });

    const bad = await api<{ error: string; fields: Record<string, string> }>('POST', '/inbound-sources', { name: 'Help Desk', mapping: { fields: { nickname: 'nick' } }, ip_allowlist: ['10.0.0.0/33'] });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body.fields).sort()).toEqual(['ip_allowlist.0', 'mapping.fields.nickname', 'name']);
    const created = await api<{ id: string; secret: string }>('POST', '/inbound-sources', { name: 'helpdesk', mapping: { fields: { email: 'mail' } }, ip_allowlist: ['203.0.113.0/24'] });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_/);
    expect((await api('GET', `/inbound-sources/${created.body.id}`)).body).not.toHaveProperty('secret');
    expect((await api('POST', '/inbound-sources', { name: 'helpdesk', mapping: {} })).status).toBe(409);

    const helpdesk = new ContactMaster({ url: `${t.issuer}/api/inbound/helpdesk/contacts`, secret: created.body.secret, now: () => clock });
    helpdesk.upsert('H-1', { mail: 'hal@example.test' });
    const denied = await helpdesk.push();
    expect(denied).toMatchObject({ status: 403, answer: { error: 'access_denied' } });
    expect((await api('PATCH', `/inbound-sources/${created.body.id}`, { ip_allowlist: ['127.0.0.0/8', '::1'] })).status).toBe(200);
    expect((await helpdesk.push())!.answer.results).toEqual([expect.objectContaining({ status: 'created' })]);
    // A rotated secret: batches signed with the old one are refused.
    const rotated = await api<{ secret: string }>('POST', `/inbound-sources/${created.body.id}/secret`);
    expect(rotated.status).toBe(200);
    helpdesk.upsert('H-1', { mail: 'hal2@example.test' });
    expect((await helpdesk.push())!.status).toBe(401);
    expect((await api('DELETE', `/inbound-sources/${created.body.id}`)).status).toBe(204);
    const audit = (await api<{ items: Array<{ action: string }> }>('GET', `/audit?subject=${created.body.id}`)).body.items.map((e) => e.action);
    expect(audit).toEqual(['inbound_source.deleted', 'inbound_source.secret_rotated', 'inbound_source.saved', 'inbound_source.saved']);
  });
});
