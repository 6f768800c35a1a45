/**
 * Phone confirmation at registration (docs/identity.md#phone-confirmation-at-registration):
 * tenants whose required_fields include phone_number keep new accounts
 * pending until the number (and the address, when required) is confirmed,
 * with a code by SMS entered on the hosted page or through the JSON API.
 * Real SMTP and a real HTTP SMS receiver.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { startSmtp, firstLink } from './helpers/smtp.js';
import type { TestSmtp } from './helpers/smtp.js';
import { startSmsReceiver } from './helpers/sms.js';
import type { SmsReceiver } from './helpers/sms.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { hiddenInputs, submitForm } from './helpers/forms.js';
import { codeFlow, discover } from './helpers/flows.js';
import { REDIRECT, baseConfig } from './fixtures.js';
import { createAuditRepository } from '../src/audit/repository.js';

const PASSWORD = 'a long and unusual passphrase';
const app = (id: string, tenant: string) => ({
  client_id: id, token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], first_party: true, tenant,
});

let t: TestApp;
let smtp: TestSmtp;
let rx: SmsReceiver;
let phoneSeq = 0;
/** A fresh E.164 number per registration, so the per-number limit of one test does not touch another's. */
const nextPhone = () => `+4915${String(10_000_000 + (phoneSeq++ * 7919) % 89_999_999).padStart(8, '0')}`;
const nextEmail = () => `reg-${phoneSeq}-${Date.now() % 100_000}@example.test`;

beforeAll(async () => {
  smtp = await startSmtp();
  rx = await startSmsReceiver();
  t = await startTestApp({
    config: {
      ...baseConfig,
      tenants: [
        ...baseConfig.tenants,
        { id: 'phoney', name: 'Phoney', policy: { registration: 'open', required_fields: ['phone_number'], sms: { per_number_per_hour: 3, per_ip_per_hour: 1000 } } },
        { id: 'quick', name: 'Quick', policy: { registration: 'open', required_fields: ['phone_number'], require_email_verification: false } },
      ],
      clients: [...baseConfig.clients, app('phoney-app', 'phoney'), app('quick-app', 'quick')],
    },
    env: { SMTP_URL: smtp.url, SMS_PROVIDER: 'http', SMS_HTTP_URL: `${rx.url}/sms`, SMS_RETRIES: '0', SMS_TIMEOUT_MS: '1000' },
  });
});
afterAll(async () => {
  await t?.close();
  await rx?.close();
  await smtp?.close();
});

const json = (path: string, body: unknown) => fetch(`${t.issuer}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const register = (tenant: string, email: string, phone: string) => json('/api/self-service/registration', { tenant, email, password: PASSWORD, phone_number: phone });
const confirmPhone = (token: string, code: string) => json('/api/self-service/registration/phone/confirm', { token, code });
const resend = (token: string) => json('/api/self-service/registration/phone/resend', { token });
const user = async (tenant: string, email: string) => (await t.app.platform.users.findByEmail(tenant, email))!;
const signIn = async (client: string, email: string) => codeFlow(await discover(t.issuer, { clientId: client }), new UserAgent(), t.issuer, { username: email, password: PASSWORD }, { scope: 'openid phone email' });

const userInfo = async (accessToken: string) =>
  (await fetch(`${t.issuer}/oidc/me`, { headers: { authorization: `Bearer ${accessToken}` } })).json() as Promise<Record<string, unknown>>;

type Registered = { id: string; status: string; email_verified: boolean; phone_number_verified: boolean; phone_confirmation?: { token: string; code_sent: boolean } };

/** POST /confirm-email as the page's button does; returns the page shown. */
async function confirmEmailLink(ua: UserAgent, email: string): Promise<string> {
  const mail = await smtp.waitFor((m) => m.to === email && m.text.includes('/confirm-email?token='));
  const link = firstLink(mail.text, '/confirm-email');
  const html = await (await ua.get(link)).text();
  const res = await ua.post(new URL(formAction(html, '/confirm-email'), t.issuer), hiddenInputs(html));
  expect(res.status).toBe(200);
  return res.text();
}

describe('the JSON API', () => {
  test('pending until both channels are confirmed: phone by code (wrong codes counted), then the address', async () => {
    const email = nextEmail();
    const phone = nextPhone();
    const res = await register('phoney', email, phone);
    expect(res.status).toBe(201);
    const body = await res.json() as Registered;
    expect(body).toMatchObject({ status: 'pending', email_verified: false, phone_number_verified: false, phone_confirmation: { code_sent: true } });
    expect(body.phone_confirmation!.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const sms = await rx.waitFor((m) => m.to === phone);
    expect(sms.text).toMatch(/Your Tessera code is \d{6}/);

    const wrong = await confirmPhone(body.phone_confirmation!.token, sms.code === '000000' ? '111111' : '000000');
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ error: 'validation_failed', fields: { code: 'wrong_code' }, attempts_left: 4 });
    const malformed = await confirmPhone(body.phone_confirmation!.token, '12ab');
    expect(await malformed.json()).toMatchObject({ fields: { code: 'invalid_code' } });

    const ok = await confirmPhone(body.phone_confirmation!.token, sms.code!);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ id: body.id, status: 'pending', email_verified: false, phone_number_verified: true });
    // Still pending: the address is not confirmed; signing in is refused.
    await expect(signIn('phoney-app', email)).rejects.toThrow(/unexpected 403[\s\S]*Confirm your email address first/);
    // The step is over: the token no longer works.
    expect(await (await confirmPhone(body.phone_confirmation!.token, sms.code!)).json()).toMatchObject({ fields: { token: 'used' } });

    const page = await confirmEmailLink(new UserAgent(), email);
    expect(page).toContain('Your email address is confirmed. You can sign in now.');
    expect((await user('phoney', email)).status).toBe('active');
    const claims = await userInfo((await signIn('phoney-app', email)).tokens.access_token);
    expect(claims).toMatchObject({ phone_number: phone, phone_number_verified: true, email_verified: true });
    const entries = await createAuditRepository(t.app.store.db).query({ subjectId: body.id, action: 'user.confirmed' });
    expect(entries.map((e) => e.details).sort((a, b) => String(a.channel).localeCompare(String(b.channel))))
      .toEqual([{ channel: 'email', activated: true }, { channel: 'phone', activated: false }]);
  });

  test('a tenant that does not require the address: the phone alone activates', async () => {
    const email = nextEmail();
    const phone = nextPhone();
    const body = await (await register('quick', email, phone)).json() as Registered;
    expect(body.status).toBe('pending');
    const ok = await confirmPhone(body.phone_confirmation!.token, (await rx.waitFor((m) => m.to === phone)).code!);
    expect(await ok.json()).toMatchObject({ status: 'active', phone_number_verified: true });
    expect((await userInfo((await signIn('quick-app', email)).tokens.access_token)).phone_number_verified).toBe(true);
  });

  test('the provider down at registration: the account exists, code_sent false; resend is 503 delivery_failed until it is back', async () => {
    const phone = nextPhone();
    rx.fail({ status: 500 });
    const body = await (await register('phoney', nextEmail(), phone)).json() as Registered;
    expect(body.phone_confirmation).toMatchObject({ code_sent: false });
    const down = await resend(body.phone_confirmation!.token);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ error: 'delivery_failed' });
    rx.recover();
    const up = await resend(body.phone_confirmation!.token);
    expect(up.status).toBe(202);
    const sms = await rx.waitFor((m) => m.to === phone);
    expect((await (await confirmPhone(body.phone_confirmation!.token, sms.code!)).json() as Registered).phone_number_verified).toBe(true);
  });

  test('codes per phone number and hour (the tenant\'s sms policy): the fourth is 429; only the newest code works', async () => {
    const phone = nextPhone();
    const body = await (await register('phoney', nextEmail(), phone)).json() as Registered;
    const token = body.phone_confirmation!.token;
    const first = await rx.waitFor((m) => m.to === phone);
    expect((await resend(token)).status).toBe(202);
    expect((await resend(token)).status).toBe(202);
    const limited = await resend(token);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3600');
    expect(await limited.json()).toMatchObject({ error: 'too_many_requests' });
    expect(rx.messages.filter((m) => m.to === phone)).toHaveLength(3);
    const newest = rx.last(phone)!;
    if (first.code !== newest.code) expect(await (await confirmPhone(token, first.code!)).json()).toMatchObject({ fields: { code: 'wrong_code' } });
    expect((await confirmPhone(token, newest.code!)).status).toBe(200);
  });

  test('bad input: unknown tokens, missing fields, wrong types and content types are 4xx with stable codes', async () => {
    expect(await (await confirmPhone('x'.repeat(43), '123456')).json()).toMatchObject({ error: 'validation_failed', fields: { token: 'invalid' } });
    expect(await (await json('/api/self-service/registration/phone/confirm', {})).json()).toMatchObject({ fields: { token: 'required', code: 'required' } });
    expect(await (await json('/api/self-service/registration/phone/confirm', { token: 5, code: [1] })).json()).toMatchObject({ fields: { token: 'invalid', code: 'invalid' } });
    expect((await json('/api/self-service/registration/phone/resend', [])).status).toBe(400);
    expect((await fetch(`${t.issuer}/api/self-service/registration/phone/resend`, { method: 'POST', body: 'token=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(415);
    // A number that is not E.164 never gets as far as an SMS.
    const bad = await register('phoney', nextEmail(), '0301234');
    expect(await bad.json()).toMatchObject({ fields: { phone_number: 'invalid_phone' } });
  });
});

describe('the hosted pages', () => {
  test('register on the page: the code form next (masked number, the mail mentioned); a wrong code is counted; the right one, then the address', async () => {
    const ua = new UserAgent();
    const email = nextEmail();
    const phone = nextPhone();
    const res = await submitForm(ua, t.issuer, '/register?tenant=phoney', { email, password: PASSWORD, phone_number: phone }, '/register');
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(html).toContain('Confirm your phone number');
    expect(html).toContain(`${phone.slice(0, 3)}${'*'.repeat(phone.length - 5)}${phone.slice(-2)}`);
    expect(html).not.toContain(phone);
    expect(html).toContain(`We also sent a link to ${email}`);
    const sms = await rx.waitFor((m) => m.to === phone);

    const wrong = await ua.post(new URL(formAction(html, '/register/phone'), t.issuer), { ...hiddenInputs(html), code: sms.code === '000000' ? '111111' : '000000' });
    const wrongHtml = await wrong.text();
    expect(wrong.status).toBe(400);
    expect(wrongHtml).toContain('This code is not correct. Attempts left: 4.');
    const ok = await ua.post(new URL(formAction(wrongHtml, '/register/phone'), t.issuer), { ...hiddenInputs(wrongHtml), code: sms.code! });
    const done = await ok.text();
    expect(ok.status).toBe(200);
    expect(done).toContain('Phone number confirmed');
    expect(done).toContain(`open the link we sent to ${email}`);
    expect((await user('phoney', email)).status).toBe('pending');
    expect(await confirmEmailLink(ua, email)).toContain('Your email address is confirmed. You can sign in now.');
    expect((await user('phoney', email)).status).toBe('active');
  });

  test('the address first: the confirmation page carries on with the code form; a lost step comes back by email', async () => {
    const ua = new UserAgent();
    const email = nextEmail();
    const phone = nextPhone();
    await register('phoney', email, phone);
    await rx.waitFor((m) => m.to === phone);
    const step = await confirmEmailLink(ua, email);
    expect(step).toContain('Confirm your phone number');
    expect((await user('phoney', email))).toMatchObject({ status: 'pending', emailVerified: true });

    // The person closes the tab. "Send the link again" mails a link back to the phone step.
    const again = await submitForm(ua, t.issuer, '/confirm-email/resend?tenant=phoney', { email }, '/confirm-email/resend');
    expect(again.status).toBe(200);
    const mail = await smtp.waitFor((m) => m.to === email && m.text.includes('/register/phone?token='));
    expect(mail.subject).toBe('Confirm your phone number for Phoney');
    const page = await ua.get(firstLink(mail.text, '/register/phone'));
    const html = await page.text();
    expect(page.status).toBe(200);
    const sent = await ua.post(new URL(formAction(html, '/register/phone/resend'), t.issuer), hiddenInputs(html));
    const sentHtml = await sent.text();
    expect(sentHtml).toContain('We sent a code by SMS');
    const code = rx.last(phone)!.code!;
    const ok = await ua.post(new URL(formAction(sentHtml, '/register/phone'), t.issuer), { ...hiddenInputs(sentHtml), code });
    expect(await ok.text()).toContain('Your account is ready. You can sign in now.');
    expect((await user('phoney', email)).status).toBe('active');
    // Used up: the same link now says so.
    expect((await ua.get(firstLink(mail.text, '/register/phone'))).status).toBe(400);
  });

  test('a tampered or unknown step token is a clear 400 page; forms without their CSRF token are refused', async () => {
    const ua = new UserAgent();
    const res = await ua.get(`${t.issuer}/register/phone?token=${'A'.repeat(43)}`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('This step is not valid');
    expect((await ua.post(`${t.issuer}/register/phone`, { token: 'A'.repeat(43), code: '123456' })).status).toBe(403);
  });
});
