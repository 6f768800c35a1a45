/**
 * Activation mail (docs/users.md#activation), through a real SMTP server:
 * imported users are mailed a set-your-password link at the configured
 * rate, in their language; the hosted page sets the password, confirms the
 * address and records activated_at; the admin API resends (voiding the old
 * link) and refuses users who cannot be activated.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { firstLink, startSmtp } from './helpers/smtp.js';
import type { ReceivedMail, TestSmtp } from './helpers/smtp.js';
import { UserAgent } from './helpers/agent.js';
import { adminApi, adminConfig, machineToken } from './helpers/admin.js';
import { submitForm } from './helpers/forms.js';

let t: TestApp;
let smtp: TestSmtp;
let admin: string;
const PASSWORD = 'a fresh and unusual passphrase';

beforeAll(async () => {
  smtp = await startSmtp();
  // One mail a second: a bulk import cannot flood the SMTP provider.
  t = await startTestApp({ config: adminConfig(), env: { SMTP_URL: smtp.url, TESSERA_ACTIVATION_MAILS_PER_MINUTE: '60' } });
  admin = await machineToken(t.issuer, 'acme-bot');
}, 60_000);
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

async function importRows(rows: unknown[], query = '&send_activation=true') {
  const res = await fetch(`${t.issuer}/api/admin/v1/users/imports?tenant=acme${query}`, {
    method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/x-ndjson' }, body: rows.map((r) => JSON.stringify(r)).join('\n'),
  });
  const job = await res.json() as { id: string };
  for (let i = 0; i < 200; i++) {
    const j = (await adminApi(t.issuer)<{ status: string; counts: { created: number } }>('GET', `/users/imports/${job.id}`, { token: admin })).body;
    if (j.status === 'done') return j;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('import did not finish');
}

const mailTo = (to: string, timeoutMs = 15_000) => smtp.waitFor((m) => m.to === to, timeoutMs);
const user = (email: string) => t.app.platform.users.findByEmail('acme', email);

describe('bulk activation', () => {
  test('imported users get their mail at the configured rate, in their language', async () => {
    const emails = ['act1@example.test', 'act2@example.test', 'act3@example.test', 'act4@example.test'];
    const job = await importRows(emails.map((email, i) => ({ external_id: `hr:${i}`, email, given_name: `Act${i}`, ...(i === 1 ? { locale: 'de' } : {}) })));
    expect(job.counts.created).toBe(4);
    const mails: ReceivedMail[] = [];
    const times: number[] = [];
    for (const email of emails) {
      mails.push(await mailTo(email));
      times.push(Date.now());
    }
    expect(mails[0]!.subject).toBe('Set your password');
    expect(mails[1]!.subject).toBe('Legen Sie Ihr Passwort fest');
    expect(mails[0]!.text).toContain('Hello Act0');
    expect(mails[0]!.text).toContain('for 7 days');
    expect(firstLink(mails[0]!.text, '/activate')).toContain(`${t.issuer}/activate?token=`);
    // Four mails at one a second: the last leaves at least two seconds after the first.
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(2000);
    // A row leaves the queue once the SMTP server accepted its mail.
    await expect.poll(async () => (await t.app.store.db.selectFrom('activation_queue').selectAll().execute()).length, { timeout: 3000 }).toBe(0);
  }, 60_000);

  test('with nothing queued the sender writes nothing (it used to reserve its share of the rate every second)', async () => {
    await expect.poll(async () => (await t.app.store.db.selectFrom('activation_queue').selectAll().execute()).length, { timeout: 5000 }).toBe(0);
    const rate = async () => (await t.app.store.db.selectFrom('tessera_meta').select('value').where('key', '=', 'activation_mail_rate').executeTakeFirst())?.value;
    const before = await rate();
    expect(before).toMatch(/^\d+:\d+$/);
    await new Promise((r) => setTimeout(r, 2500));
    expect(await rate()).toBe(before);
  });

  test('the link sets the password, confirms the address, records activated_at; it works once', async () => {
    const link = firstLink((await mailTo('act1@example.test')).text, '/activate');
    const agent = new UserAgent();
    const path = link.slice(t.issuer.length);
    const page = await (await agent.get(link)).text();
    expect(page).toContain('Choose a password for act1@example.test');
    const short = await submitForm(agent, t.issuer, path, { password: 'short', password_confirm: 'short' }, '/activate');
    expect(short.status).toBe(400);
    expect((await user('act1@example.test'))!.passwordHash).toBeNull();
    const done = await submitForm(agent, t.issuer, path, { password: PASSWORD, password_confirm: PASSWORD }, '/activate');
    expect(done.status).toBe(200);
    const html = await done.text();
    expect(html).toContain('Your account is ready');
    expect(html).toContain('href="/account/security"');
    const activated = (await user('act1@example.test'))!;
    expect(activated.activatedAt).toBeGreaterThan(Date.now() - 60_000);
    expect(activated.emailVerified).toBe(true);
    expect((await t.app.identity.verifyLogin('acme', 'act1@example.test', PASSWORD)).ok).toBe(true);
    const again = await agent.get(link);
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('already been used');
    const view = await adminApi(t.issuer)<{ activated_at: string | null }>('GET', `/users/${activated.id}`, { token: admin });
    expect(view.body.activated_at).not.toBeNull();
  }, 60_000);
});

describe('resend through the admin API', () => {
  test('a new mail voids the old link; activated users and users without email are refused', async () => {
    const api = adminApi(t.issuer);
    const pending = (await user('act3@example.test'))!;
    const old = firstLink((await mailTo('act3@example.test')).text, '/activate');
    smtp.clear();
    const res = await api<{ sent_to: string; expires_in: number }>('POST', `/users/${pending.id}/activation`, { token: admin });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ sent_to: 'act3@example.test', expires_in: 7 * 86_400 });
    const fresh = firstLink((await mailTo('act3@example.test')).text, '/activate');
    expect(fresh).not.toBe(old);
    expect((await new UserAgent().get(old)).status).toBe(400);
    expect((await new UserAgent().get(fresh)).status).toBe(200);

    const done = (await user('act1@example.test'))!;
    const refused = await api<{ fields?: Record<string, string> }>('POST', `/users/${done.id}/activation`, { token: admin });
    expect(refused.status).toBe(409);
    expect(refused.body.fields).toEqual({ status: 'already_activated' });
    const noMail = await api<{ id: string }>('POST', '/users', { token: admin, body: { tenant: 'acme', username: 'nomail' } });
    expect((await api<{ fields?: Record<string, string> }>('POST', `/users/${noMail.body.id}/activation`, { token: admin })).body.fields).toEqual({ email: 'required' });
  }, 60_000);

  test('an import without send_activation mails nobody', async () => {
    smtp.clear();
    await importRows([{ external_id: 'hr:quiet', email: 'quiet@example.test' }], '');
    await new Promise((r) => setTimeout(r, 1500));
    expect(smtp.messages.filter((m) => m.to === 'quiet@example.test')).toEqual([]);
  }, 30_000);
});
