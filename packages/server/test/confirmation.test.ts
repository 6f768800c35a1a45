/**
 * Email confirmation links, the resend form, invitations (service and the
 * `tessera users invite` command) and the development outbox, over HTTP,
 * with mail read from a real SMTP server (test/helpers/h.smtp.ts).
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestStore, startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { hiddenField } from './helpers/agent.js';
import type { UserAgent } from './helpers/agent.js';
import { submitForm } from './helpers/forms.js';
import { firstLink } from './helpers/smtp.js';
import { PASSWORD, registrationHarness, unique } from './helpers/registration.js';
import { registrationService } from '../src/registration/routes.js';

const h = registrationHarness();
const { agent, url, api, registerViaPage, confirmationLink } = h;
const users = () => h.t.app.platform.users;
const submit = (ua: UserAgent, path: string, fields: Record<string, string>, action: string, issuer = h.t.issuer) =>
  submitForm(ua, issuer, path, fields, action);

describe('confirmation links', () => {
  test('expired, tampered, unknown and missing tokens get a clear 400 page and change nothing', async () => {
    const email = unique('links');
    const { id } = await (await api({ email, password: PASSWORD })).json() as { id: string };
    const good = new URL(await confirmationLink(email)).searchParams.get('token')!;
    const expired = await h.t.app.platform.tokens.createLink({ userId: id, tenantId: 'default', purpose: 'email_confirm', target: email, ttlSeconds: -60 });
    const tampered = good.slice(0, 20) + (good[20] === 'A' ? 'B' : 'A') + good.slice(21);
    const ua = agent();
    const csrf = hiddenField(await (await ua.get(url('/confirm-email/resend'))).text(), '_csrf')!;
    const cases: [string, string][] = [
      [expired, 'has expired'], [tampered, 'is not valid'], [randomBytes(32).toString('base64url'), 'is not valid'], ['%00<script>', 'is not valid'],
    ];
    for (const [token, text] of cases) {
      const get = await ua.get(url(`/confirm-email?token=${encodeURIComponent(token)}`));
      expect(get.status, token).toBe(400);
      expect(await get.text()).toContain(text);
      const post = await ua.post(url('/confirm-email'), { _csrf: csrf, token });
      expect(post.status, token).toBe(400);
      expect(await post.text()).toContain(text);
    }
    // An expired link offers a new one in its own tenant.
    expect(await (await ua.get(url(`/confirm-email?token=${expired}`))).text()).toContain('href="/confirm-email/resend?tenant&#61;default"');
    expect((await ua.get(url('/confirm-email'))).status).toBe(400);
    expect((await ua.post(url('/confirm-email'), { _csrf: csrf })).status).toBe(400);
    expect(await users().findById(id)).toMatchObject({ status: 'pending', emailVerified: false });
    expect((await h.t.app.platform.audit.query({ subjectId: id, action: 'user.confirmed' }))).toHaveLength(0);
    // The genuine link still works afterwards.
    expect((await ua.post(url('/confirm-email'), { _csrf: csrf, token: good })).status).toBe(200);
    expect(await users().findById(id)).toMatchObject({ status: 'active', emailVerified: true });
  });

  test('forms without their CSRF token are refused with 403 and change nothing', async () => {
    const email = unique('csrf');
    const { id } = await (await api({ email, password: PASSWORD })).json() as { id: string };
    const token = new URL(await confirmationLink(email)).searchParams.get('token')!;
    const ua = agent();
    await ua.get(url('/register'));
    const posts: [string, Record<string, string>][] = [
      ['/register', { email: unique('csrf2'), password: PASSWORD }],
      ['/confirm-email', { token }],
      ['/confirm-email/resend', { email }],
    ];
    for (const [path, form] of posts) {
      const res = await ua.post(url(path), form);
      expect(res.status, path).toBe(403);
      expect(await res.text()).toContain('csrf_failed');
      const forged = await ua.post(url(path), { ...form, _csrf: 'A'.repeat(43) });
      expect(forged.status, path).toBe(403);
    }
    expect(await users().findById(id)).toMatchObject({ status: 'pending' });
    expect(await users().findByEmail('default', posts[0]![1].email!)).toBeUndefined();
  });

  test('resend answers identically for existing, confirmed and unknown addresses, and mails at most 3 links an hour', async () => {
    const email = unique('resend');
    await api({ email, password: PASSWORD });
    await confirmationLink(email);
    const confirmedEmail = unique('resend-done');
    await api({ tenant: 'relaxed', email: confirmedEmail, password: PASSWORD });
    const ua = agent();
    const resend = async (address: string, tenant = 'default') => {
      const res = await submit(ua, `/confirm-email/resend?tenant=${tenant}`, { email: address }, '/confirm-email/resend');
      return { status: res.status, body: await res.text() };
    };
    const existing = await resend(email);
    const unknown = await resend(unique('nobody'));
    const otherTenant = await resend(email, 'acme');
    expect(existing.status).toBe(200);
    expect(existing.body).toContain('If an account with that address needs confirming');
    expect(unknown).toEqual(existing);
    // Another tenant shows its own brand; an address known only elsewhere gets its unknown-address answer.
    expect(otherTenant).toEqual(await resend(unique('nobody-acme'), 'acme'));
    expect(otherTenant.body.replaceAll('Acme Corp', 'Tessera')).toBe(existing.body);
    await h.smtp.waitFor((m) => m.to === email && h.smtp.messages.filter((x) => x.to === email).length === 2);

    expect(await resend(email)).toEqual(existing);
    await h.smtp.waitFor(() => h.smtp.messages.filter((x) => x.to === email).length === 3);
    // The fourth within the hour is not sent, and the answer does not say so.
    expect(await resend(email)).toEqual(existing);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.smtp.messages.filter((x) => x.to === email)).toHaveLength(3);
    expect(await h.t.app.platform.tokens.countSince((await users().findByEmail('default', email))!.id, 'email_confirm', 0)).toBe(3);

    // A malformed address is a field error (decided before any lookup).
    const bad = await submit(ua, '/confirm-email/resend', { email: 'nope' }, '/confirm-email/resend');
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('id="f-email-error"');
  });
});

describe('invitations', () => {
  test('invite-only: refused without an invitation, accepted with one for the invited address only, once', async () => {
    const page = await agent().get(url('/register?tenant=club'));
    expect(page.status).toBe(403);
    expect(await page.text()).toContain('by invitation only');
    const noInvite = await api({ tenant: 'club', email: unique('club'), password: PASSWORD });
    expect(noInvite.status).toBe(403);
    expect(await noInvite.json()).toMatchObject({ error: 'invite_required' });
    const badInvite = await api({ tenant: 'club', email: unique('club'), password: PASSWORD, invite: randomBytes(32).toString('base64url') });
    expect(badInvite.status).toBe(403);
    expect(await badInvite.json()).toMatchObject({ error: 'invite_invalid', error_description: 'The invitation is not valid.' });

    const email = unique('guest');
    await registrationService(h.t.app.platform).invite({ tenantId: 'club', email, ttlSeconds: 3600 }, { ip: '127.0.0.1' });
    const mail = await h.smtp.waitFor((m) => m.to === email);
    expect(mail.subject).toBe('You are invited to Invite Club');
    const link = firstLink(mail.text, '/register');
    expect(link).toMatch(new RegExp(`^${h.t.issuer}/register\\?tenant=club&invite=[A-Za-z0-9_-]{43}$`));
    const path = link.slice(h.t.issuer.length);

    const ua = agent();
    const form = await (await ua.get(url(path))).text();
    expect(form).toContain('You were invited to join Invite Club.');
    expect(form).toMatch(new RegExp(`id="f-email"[^>]*value="${email}"`));
    // Another address cannot use the invitation (and does not use it up).
    const other = await registerViaPage(ua, { email: unique('intruder'), password: PASSWORD }, path.slice('/register'.length));
    expect(other.status).toBe(400);
    expect(await other.text()).toContain('Use the email address the invitation was sent to.');

    const res = await registerViaPage(ua, { email, password: PASSWORD }, path.slice('/register'.length));
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(html).toContain('Account created');
    // The invitation proved the address: active and verified, no confirmation mail.
    const user = (await users().findByEmail('club', email))!;
    expect(user).toMatchObject({ status: 'active', emailVerified: true });
    expect((await h.t.app.platform.audit.query({ subjectId: user.id, action: 'user.registered' }))[0]!.details).toMatchObject({ invited: true });

    const again = await agent().get(url(path));
    expect(again.status).toBe(403);
    expect(await again.text()).toContain('already been used');
    const token = new URL(link).searchParams.get('invite')!;
    const replay = await api({ tenant: 'club', email, password: PASSWORD, invite: token });
    expect(replay.status).toBe(403);
    expect(await replay.json()).toMatchObject({ error: 'invite_invalid', error_description: 'The invitation has already been used.' });
    // An invitation belongs to its tenant.
    const elsewhere = await registrationService(h.t.app.platform).invite({ tenantId: 'club', email: unique('x'), ttlSeconds: 3600 });
    const crossTenant = await agent().get(url(`/register?tenant=default&invite=${new URL(elsewhere.link).searchParams.get('invite')}`));
    expect(crossTenant.status).toBe(403);
  });
});

describe('the development outbox', () => {
  let dev: TestApp;
  beforeAll(async () => {
    dev = await startTestApp({ config: { tenants: [{ id: 'default', name: 'Default', policy: { registration: 'open' } }] } });
  });
  afterAll(async () => dev?.close());

  test('without SMTP_URL the mail lands in the outbox, shown at /dev/outbox to this machine only', async () => {
    const email = unique('outbox');
    const res = await fetch(`${dev.issuer}/api/self-service/registration`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }),
    });
    expect(res.status).toBe(201);
    const [stored] = await dev.app.platform.outbox.list(1, email);
    expect(stored).toMatchObject({ channel: 'email', recipient: email, subject: 'Confirm your email address for Default' });
    const link = firstLink(stored!.body, '/confirm-email');

    const page = await fetch(`${dev.issuer}/dev/outbox`);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(html).toContain(`<a href="${link.replace(/[&=]/g, (c) => `&#${c.charCodeAt(0)};`)}">`);
    expect(html.indexOf(email)).toBeGreaterThan(0);
    // Behind a proxy (or pretending to be one) the page does not exist.
    expect((await fetch(`${dev.issuer}/dev/outbox`, { headers: { 'x-forwarded-for': '127.0.0.1' } })).status).toBe(404);
    // With SMTP configured, the page stays (SMS still goes to the outbox) but holds no mail.
    const withSmtp = await fetch(url('/dev/outbox'));
    expect(withSmtp.status).toBe(200);
    expect(await withSmtp.text()).not.toContain('/confirm-email');
  });

  test('resend requests are limited per client address (429 once over the hourly allowance)', async () => {
    const ua = agent();
    const csrf = hiddenField(await (await ua.get(`${dev.issuer}/confirm-email/resend`)).text(), '_csrf')!;
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      statuses.push((await ua.post(`${dev.issuer}/confirm-email/resend`, { _csrf: csrf, tenant: 'default', email: unique('flood') })).status);
    }
    expect(statuses).toEqual(Array(20).fill(200));
    const blocked = await ua.post(`${dev.issuer}/confirm-email/resend`, { _csrf: csrf, tenant: 'default', email: unique('flood') });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBe('3600');
    expect(await blocked.text()).toContain('Too many requests from your network.');
  });
});

// Spawns the CLI (TypeScript loaded per process): slow on a loaded machine.
describe('tessera users invite', { timeout: 120_000 }, () => {
  // The CLI opens the store named by DATABASE_URL; a PostgreSQL test schema is named with ?schema=.
  test('mails an invitation link that registers the invited address', async () => {
    const testStore = await createTestStore();
    const app = await startTestApp({ config: { tenants: [{ id: 'club', name: 'Invite Club', policy: { registration: 'invite_only' } }] }, env: { SMTP_URL: h.smtp.url }, testStore });
    try {
      const email = unique('cli');
      const run = (args: string[]) => new Promise<{ code: number; out: string }>((done) => {
        const child = spawn(process.execPath, [resolve(import.meta.dirname, '../bin/tessera.js'), ...args], {
          env: {
            ...process.env, DATABASE_URL: testStore.schema ? `${testStore.url}?schema=${testStore.schema}` : testStore.url, TESSERA_DATA_DIR: testStore.dir, TESSERA_SECRET: 'test-secret-test-secret-test-secret',
            TESSERA_ISSUER: app.issuer, SMTP_URL: h.smtp.url, LOG_LEVEL: 'warn', TESSERA_CONFIG: '',
          },
        });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        child.on('close', (code) => done({ code: code ?? -1, out }));
      });
      const r = await run(['users', 'invite', '--email', email, '--tenant', 'club']);
      expect(r.out).toContain(`invited ${email} to tenant club`);
      expect(r.code).toBe(0);
      expect(r.out).not.toMatch(/invite=/);
      const link = firstLink((await h.smtp.waitFor((m) => m.to === email)).text, '/register');
      const ua = agent();
      const res = await submit(ua, link.slice(app.issuer.length), { email, password: PASSWORD }, '/register', app.issuer);
      expect(res.status).toBe(200);
      expect(await app.app.platform.users.findByEmail('club', email)).toMatchObject({ status: 'active', emailVerified: true });

      expect((await run(['users', 'invite', '--email', email, '--tenant', 'club'])).out).toContain('already has an account');
      expect((await run(['users', 'invite'])).code).toBe(2);
    } finally {
      await app.close();
      await testStore.dispose();
    }
  });
});
