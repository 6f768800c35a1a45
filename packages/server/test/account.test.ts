/**
 * Self-service account pages, part 1: profile, email change with
 * re-confirmation (mail read from a real SMTP server), phone confirmation
 * (codes from the SMS outbox). Part 2 (sessions, applications) is in
 * account-sessions.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { startSmtp, firstLink } from './helpers/smtp.js';
import type { TestSmtp } from './helpers/smtp.js';
import { UserAgent, hiddenField } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { page, signedInBrowser, submit, text } from './helpers/account.js';
import { CONF_SECRET, baseConfig } from './fixtures.js';
import { createAuditRepository } from '../src/audit/repository.js';
import { createOutboxRepository } from '../src/notify/outbox.js';
import { createUserRepository } from '../src/identity/repository.js';

const PASSWORD = 'a long enough test password';
const person = (username: string, extra: Record<string, unknown> = {}) => ({ username, password: PASSWORD, email: `${username}@example.test`, email_verified: true, ...extra });

let t: TestApp;
let smtp: TestSmtp;

beforeAll(async () => {
  smtp = await startSmtp();
  t = await startTestApp({
    config: { ...baseConfig, users: [...baseConfig.users, person('bob'), person('erin'), person('fay'), person('pat', { phone_number: '+4930123456' }), person('quinn', { phone_number: '+4930999999' })] },
    env: { SMTP_URL: smtp.url },
  });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

const creds = (username: string) => ({ username, password: PASSWORD });
const users = () => createUserRepository(t.app.store.db);
const audit = (subjectId: string, action: string) => createAuditRepository(t.app.store.db).query({ subjectId, action });
const userInfo = async (agent: UserAgent, username: string, scope: string) => {
  const rp = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET, auth: 'basic' });
  const { tokens } = await codeFlow(rp, agent, t.issuer, creds(username), { scope });
  const res = await fetch(`${t.issuer}/oidc/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  expect(res.status).toBe(200);
  return res.json() as Promise<Record<string, unknown>>;
};

describe('profile', () => {
  test('saves names, username, phone number and language; emits user.updated naming the fields', async () => {
    const { agent, html } = await signedInBrowser(t.issuer, { username: 'alice', password: 'correct horse battery staple' });
    expect(html).toContain('autocomplete="given-name"');
    expect(html).toContain('autocomplete="family-name"');
    expect(html).toContain('autocomplete="tel"');
    const res = await agent.post(`${t.issuer}/account`, {
      _csrf: hiddenField(html, '_csrf')!, given_name: 'Alicia', family_name: 'Liddell', username: 'alice2', phone_number: '+49 30 1234567', locale: 'de',
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account?saved=1');
    const after = await page(agent, `${t.issuer}/account?saved=1`);
    // The chosen language wins over the browser's.
    expect(after.html).toContain('<html lang="de">');
    expect(after.html).toContain('Ihr Profil wurde gespeichert.');
    expect(after.html).toContain('value="Alicia"');
    expect(after.html).toContain('value="+49301234567"');
    const user = (await users().findByUsername('default', 'alice2'))!;
    expect(user).toMatchObject({ givenName: 'Alicia', phoneNumber: '+49301234567', phoneNumberVerified: false, locale: 'de' });
    const [event] = await audit(user.id, 'user.updated');
    expect(event!.details).toEqual({ fields: ['given_name', 'username', 'phone_number', 'locale'] });
    expect(event!.ip).toBe('127.0.0.1');
    // Back to English for the other tests' sake; an unchanged form writes nothing and emits nothing.
    await submit(agent, `${t.issuer}/account`, `${t.issuer}/account`, { given_name: 'Alicia', family_name: 'Liddell', username: 'alice', phone_number: '+49301234567', locale: '' });
    await submit(agent, `${t.issuer}/account`, `${t.issuer}/account`, { given_name: 'Alicia', family_name: 'Liddell', username: 'alice', phone_number: '+49301234567', locale: '' });
    expect(await audit(user.id, 'user.updated')).toHaveLength(2);
  });

  test('invalid fields: 400, the error next to each field, the typed values kept, nothing saved', async () => {
    const { agent } = await signedInBrowser(t.issuer, creds('fay'));
    const res = await submit(agent, `${t.issuer}/account`, `${t.issuer}/account`, {
      given_name: 'x'.repeat(101), family_name: 'Ok', username: 'has space', phone_number: '030 123', locale: 'fr',
    });
    expect(res.status).toBe(400);
    const html = text(await res.text());
    expect(html).toMatch(/id="f-given_name-error">This is too long\./);
    expect(html).toMatch(/id="f-username-error">Use letters, digits and punctuation/);
    expect(html).toMatch(/id="f-phone_number-error">Enter a phone number in international format/);
    expect(html).toMatch(/id="f-locale-error">This value is not valid\./);
    expect(html).toContain('aria-invalid="true"');
    expect(html).toContain('value="has space"');
    expect(html).toContain('value="030 123"');
    expect((await users().findByUsername('default', 'fay'))!.familyName).toBeNull();
  });

  test('a username taken by another user (in any letter case) is refused with `taken`', async () => {
    const { agent } = await signedInBrowser(t.issuer, creds('fay'));
    const res = await submit(agent, `${t.issuer}/account`, `${t.issuer}/account`, { given_name: '', family_name: '', username: 'BOB', phone_number: '', locale: '' });
    expect(res.status).toBe(400);
    expect(text(await res.text())).toMatch(/id="f-username-error">This is already in use\./);
    expect(await users().findByUsername('default', 'fay')).toBeDefined();
  });

  test('a form posted without its CSRF token is refused (403) and changes nothing', async () => {
    const { agent } = await signedInBrowser(t.issuer, creds('fay'));
    const res = await agent.post(`${t.issuer}/account`, { given_name: 'Mallory', family_name: '', username: 'fay', phone_number: '', locale: '' });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('csrf_failed');
    expect((await users().findByUsername('default', 'fay'))!.givenName).toBeNull();
  });

  test('repeated form fields and missing fields are field errors, never 500', async () => {
    const { agent } = await signedInBrowser(t.issuer, creds('fay'));
    const { csrf } = await page(agent, `${t.issuer}/account`);
    const res = await agent.request(`${t.issuer}/account`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `_csrf=${csrf}&given_name=a&given_name=b&username=fay`,
    });
    expect(res.status).toBe(400);
  });
});

describe('email change', () => {
  test('link to the new address; the old one stays until confirmed; confirm sets it verified and tells the old address', async () => {
    const { agent } = await signedInBrowser(t.issuer, creds('erin'));
    const erin = (await users().findByUsername('default', 'erin'))!;
    const res = await submit(agent, `${t.issuer}/account/email`, `${t.issuer}/account/email`, { email: 'Erin.New@Example.test' });
    expect(res.status).toBe(200);
    expect(text(await res.text())).toContain('We sent a link to Erin.New@Example.test.');
    const mail = await smtp.waitFor((m) => m.to === 'erin.new@example.test');
    expect(mail.subject).toBe('Confirm your new email address');
    const link = firstLink(mail.text, '/account/email/confirm');
    expect((await users().findById(erin.id))!.email).toBe('erin@example.test');
    expect((await audit(erin.id, 'user.email_change_requested'))).toHaveLength(1);

    // Opening the link (as a mail scanner would) changes nothing; the button does. No sign-in needed.
    const browser = new UserAgent();
    const confirmPage = await browser.get(link);
    expect(confirmPage.status).toBe(200);
    const html = await confirmPage.text();
    expect((await users().findById(erin.id))!.email).toBe('erin@example.test');
    const token = hiddenField(html, 'token')!;
    const done = await browser.post(`${t.issuer}/account/email/confirm`, { _csrf: hiddenField(html, '_csrf')!, token });
    expect(done.status).toBe(200);
    expect(text(await done.text())).toContain('Your email address is now Erin.New@Example.test.');
    expect((await users().findById(erin.id))!).toMatchObject({ email: 'Erin.New@Example.test', emailVerified: true });

    const notice = await smtp.waitFor((m) => m.to === 'erin@example.test');
    expect(notice.subject).toBe('Your email address was changed');
    expect(notice.text).toContain('E***@Example.test');
    expect(notice.text).not.toContain('/account/email/confirm');
    const [updated] = await audit(erin.id, 'user.updated');
    expect(updated!.details).toEqual({ fields: ['email', 'email_verified'], via: 'email_change' });

    // The claim follows: email_verified true for the new address.
    const claims = await userInfo(agent, 'erin', 'openid email');
    expect(claims).toMatchObject({ email: 'Erin.New@Example.test', email_verified: true });

    // Replayed: a clear page, by GET and by POST, and nothing changes.
    const again = await browser.get(link);
    expect(again.status).toBe(400);
    expect(text(await again.text())).toContain('This link has already been used.');
    const replay = await browser.post(`${t.issuer}/account/email/confirm`, { _csrf: hiddenField(html, '_csrf')!, token });
    expect(replay.status).toBe(400);
    expect(text(await replay.text())).toContain('This link has already been used.');
  });

  test('tampered and malformed links get a clear page and change nothing', async () => {
    const browser = new UserAgent();
    for (const token of ['A'.repeat(43), 'not a token', '']) {
      const res = await browser.get(`${t.issuer}/account/email/confirm?token=${encodeURIComponent(token)}`);
      expect(res.status).toBe(400);
      expect(text(await res.text())).toContain('This link is not valid.');
    }
    const res = await browser.get(`${t.issuer}/account/email/confirm?token=a&token=b`);
    expect(res.status).toBe(400);
  });

  test('the same address, an address of another account, or a bad address are field errors', async () => {
    const { agent } = await signedInBrowser(t.issuer, creds('fay'));
    const cases: [string, string][] = [['FAY@example.test', 'This is already your email address.'], ['bob@example.test', 'This is already in use.'], ['not-an-email', 'Enter a valid email address.'], ['', 'This field is required.']];
    for (const [email, message] of cases) {
      const res = await submit(agent, `${t.issuer}/account/email`, `${t.issuer}/account/email`, { email });
      expect(res.status).toBe(400);
      const html = text(await res.text());
      expect(html).toContain(`id="f-email-error">${message}`);
      expect(html).toContain('autocomplete="email"');
    }
  });

  test('an address taken by someone else before the link is used: a clear page, nothing changed', async () => {
    const { agent } = await signedInBrowser(t.issuer, creds('fay'));
    await submit(agent, `${t.issuer}/account/email`, `${t.issuer}/account/email`, { email: 'contested@example.test' });
    const link = firstLink((await smtp.waitFor((m) => m.to === 'contested@example.test')).text, '/account/email/confirm');
    const bob = (await users().findByUsername('default', 'bob'))!;
    await users().updateProfile(bob.id, { email: 'contested@example.test' });
    const browser = new UserAgent();
    const html = await (await browser.get(link)).text();
    const res = await browser.post(`${t.issuer}/account/email/confirm`, { _csrf: hiddenField(html, '_csrf')!, token: hiddenField(html, 'token')! });
    expect(res.status).toBe(409);
    expect(text(await res.text())).toContain('now used by another account');
    expect((await users().findByUsername('default', 'fay'))!.email).toBe('fay@example.test');

    // The refusal did not use the link up: once the address is free again, the same link works.
    await users().updateProfile(bob.id, { email: 'bob-elsewhere@example.test' });
    const page2 = await (await browser.get(link)).text();
    const retry = await browser.post(`${t.issuer}/account/email/confirm`, { _csrf: hiddenField(page2, '_csrf')!, token: hiddenField(page2, 'token')! });
    expect(retry.status).toBe(200);
    expect((await users().findByUsername('default', 'fay'))!.email).toBe('contested@example.test');
  });
});

describe('phone confirmation', () => {
  const lastCode = async (phone: string) => {
    const [sms] = await createOutboxRepository(t.app.store.db).list(1, phone);
    return /\b(\d{6})\b/.exec(sms!.body)![1]!;
  };

  test('a code by SMS confirms the number: phone_number_verified in UserInfo; a new number is unconfirmed again', async () => {
    const { agent } = await signedInBrowser(t.issuer, creds('pat'));
    const before = await page(agent, `${t.issuer}/account/phone`);
    expect(text(before.html)).toContain('+4930123456 is not confirmed yet');
    const sent = await submit(agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/send`, {});
    expect(sent.status).toBe(200);
    const form = await sent.text();
    expect(form).toContain('autocomplete="one-time-code"');
    const res = await agent.post(`${t.issuer}/account/phone/confirm`, { _csrf: hiddenField(form, '_csrf')!, code: await lastCode('+4930123456') });
    expect(res.status).toBe(303);
    expect(text((await page(agent, `${t.issuer}/account/phone?confirmed=1`)).html)).toContain('your phone number is confirmed');
    const pat = (await users().findByUsername('default', 'pat'))!;
    expect(pat.phoneNumberVerified).toBe(true);
    expect(await audit(pat.id, 'user.phone_confirmed')).toHaveLength(1);
    expect(await userInfo(agent, 'pat', 'openid phone')).toMatchObject({ phone_number: '+4930123456', phone_number_verified: true });

    await submit(agent, `${t.issuer}/account`, `${t.issuer}/account`, { given_name: '', family_name: '', username: 'pat', phone_number: '+4930765432', locale: '' });
    expect((await users().findById(pat.id))!).toMatchObject({ phoneNumber: '+4930765432', phoneNumberVerified: false });
    expect(await userInfo(agent, 'pat', 'openid phone')).toMatchObject({ phone_number: '+4930765432', phone_number_verified: false });
  });

  test('wrong codes count: after 5 the code is void, even the right one; a new code works', async () => {
    const { agent } = await signedInBrowser(t.issuer, creds('quinn'));
    await submit(agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/send`, {});
    const code = await lastCode('+4930999999');
    const wrong = code === '000000' ? '111111' : '000000';
    for (let left = 4; left >= 1; left--) {
      const res = await submit(agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/confirm`, { code: wrong });
      expect(res.status).toBe(400);
      expect(text(await res.text())).toContain(`Attempts left: ${left}.`);
    }
    const fifth = await submit(agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/confirm`, { code: wrong });
    expect(text(await fifth.text())).toContain('This code is no longer valid. Send a new one.');
    const right = await submit(agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/confirm`, { code });
    expect(right.status).toBe(400);
    expect((await users().findByUsername('default', 'quinn'))!.phoneNumberVerified).toBe(false);

    const malformed = await submit(agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/confirm`, { code: '12ab' });
    expect(text(await malformed.text())).toContain('Enter the 6-digit code.');

    await submit(agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/send`, {});
    const ok = await submit(agent, `${t.issuer}/account/phone`, `${t.issuer}/account/phone/confirm`, { code: await lastCode('+4930999999') });
    expect(ok.status).toBe(303);
    expect((await users().findByUsername('default', 'quinn'))!.phoneNumberVerified).toBe(true);
  });
});
