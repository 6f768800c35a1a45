/**
 * Local registration over HTTP: the hosted page and the JSON API, tenant
 * policies, field rules, duplicates and races, languages. Mail is read from
 * a real SMTP server (test/helpers/h.smtp.ts).
 */
import * as oidc from 'openid-client';
import { describe, expect, test } from 'vitest';
import { UserAgent, formAction, hiddenField } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { decodeHtml as decode } from './helpers/forms.js';
import { firstLink } from './helpers/smtp.js';
import { PASSWORD, UA, registrationHarness, unique } from './helpers/registration.js';
import { REDIRECT } from './fixtures.js';

const h = registrationHarness();
const { agent, url, api, registerViaPage, confirmationLink } = h;
const users = () => h.t.app.platform.users;

describe('registration through the hosted page', () => {
  test('open registration: pending, confirmed through the mailed link, then OIDC sign-in shows email_verified', async () => {
    const email = unique('pat');
    const ua = agent();
    const form = await ua.get(url('/register'));
    const html = await form.text();
    expect(form.status).toBe(200);
    expect(form.headers.get('cache-control')).toBe('no-store');
    for (const [name, autocomplete] of [['email', 'email'], ['password', 'new-password'], ['given_name', 'given-name'], ['family_name', 'family-name']]) {
      expect(html).toMatch(new RegExp(`<label for="f-${name}">`));
      expect(html).toMatch(new RegExp(`name="${name}" type="[a-z]+" autocomplete="${autocomplete}"`));
    }

    const res = await registerViaPage(ua, { email, password: PASSWORD, given_name: 'Pat', family_name: 'Doe' });
    const done = await res.text();
    expect(res.status).toBe(200);
    expect(done).toContain('Check your email');
    expect(done).toContain(email);
    let user = (await users().findByEmail('default', email))!;
    expect(user).toMatchObject({ status: 'pending', emailVerified: false, givenName: 'Pat', familyName: 'Doe' });
    expect(user.passwordHash).toMatch(/^\$argon2id\$/);

    const mail = await h.smtp.waitFor((m) => m.to === email);
    expect(mail.subject).toBe('Confirm your email address for Default');
    expect(mail.text).toContain('Hello Pat,');
    const link = firstLink(mail.text, '/confirm-email');

    // A pending account cannot sign in, even with the right password.
    const rp = await discover(h.t.issuer, { clientId: 'spa' });
    await expect(codeFlow(rp, agent(), h.t.issuer, { username: email, password: PASSWORD })).rejects.toThrow(/unexpected 403[\s\S]*Confirm your email address first/);

    // GET only shows the button (mail scanners prefetch links): nothing changes yet.
    const confirmPage = await ua.get(link);
    const confirmHtml = await confirmPage.text();
    expect(confirmPage.status).toBe(200);
    expect(confirmHtml).toContain(email);
    expect((await users().findById(user.id))!.status).toBe('pending');
    await ua.get(link);
    const post = await ua.post(new URL(formAction(confirmHtml, '/confirm-email'), h.t.issuer), {
      _csrf: hiddenField(confirmHtml, '_csrf')!, token: decode(hiddenField(confirmHtml, 'token')!),
    });
    const confirmed = await post.text();
    expect(post.status).toBe(200);
    expect(confirmed).toContain('Email confirmed');
    expect(confirmed).toContain('href="/account"');
    user = (await users().findById(user.id))!;
    expect(user).toMatchObject({ status: 'active', emailVerified: true });

    const { tokens } = await codeFlow(rp, agent(), h.t.issuer, { username: email, password: PASSWORD });
    expect(tokens.claims()!.sub).toBe(user.id);
    const info = await oidc.fetchUserInfo(rp, tokens.access_token, user.id);
    expect(info).toMatchObject({ email, email_verified: true });

    // The link is single-use: replaying it shows a clear page and changes nothing.
    const replay = await ua.post(url('/confirm-email'), { _csrf: hiddenField(confirmHtml, '_csrf')!, token: new URL(link).searchParams.get('token')! });
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('already been used');
    const replayGet = await ua.get(link);
    expect(replayGet.status).toBe(400);
    expect(await replayGet.text()).toContain('already been used');

    // The audit log has both, with the address and browser they came from.
    const audit = await h.t.app.platform.audit.query({ subjectId: user.id });
    const registered = audit.find((e) => e.action === 'user.registered')!;
    const confirmedEvent = audit.find((e) => e.action === 'user.confirmed')!;
    for (const e of [registered, confirmedEvent]) expect(e).toMatchObject({ tenantId: 'default', ip: '127.0.0.1', userAgent: UA });
    expect(registered.details).toEqual({ status: 'pending', invited: false, email_verified: false });
    expect(confirmedEvent.details).toEqual({ channel: 'email', activated: true });
    expect(JSON.stringify(audit)).not.toContain(PASSWORD);
  });

  test('the sign-in page links to registration for an open tenant only; the home page too', async () => {
    const linksOf = async (clientId: string) => {
      const rp = await discover(h.t.issuer, { clientId });
      const auth = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
      const ua = agent();
      const { res } = await ua.follow(await ua.get(auth), auth.href);
      return res.text();
    };
    const open = decode(await linksOf('spa'));
    const register = /href="(\/register\?tenant=default&interaction=[A-Za-z0-9_-]+)"/.exec(open);
    expect(register).not.toBeNull();
    expect(open).toContain('/password/forgot?tenant=default');
    const uid = /interaction=([A-Za-z0-9_-]+)/.exec(register![1]!)![1]!;
    // After registering, the user is offered the way back to that sign-in.
    const res = await registerViaPage(agent(), { email: unique('back'), password: PASSWORD }, `?tenant=default&interaction=${uid}`);
    expect(await res.text()).toContain(`href="/interaction/${uid}"`);

    const closed = decode(await linksOf('acme-app'));
    expect(closed).not.toContain('/register');
    expect(closed).toContain('/password/forgot?tenant=acme');

    expect(await (await fetch(url('/'))).text()).toContain('href="/register"');
  });

  test('a tenant with closed registration answers 403, on the page and the API', async () => {
    const page = await agent().get(url('/register?tenant=acme'));
    expect(page.status).toBe(403);
    expect(await page.text()).toContain('Acme Corp does not accept new accounts');
    const res = await api({ tenant: 'acme', email: unique('closed'), password: PASSWORD });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'registration_closed' });
    expect((await agent().get(url('/register?tenant=nope'))).status).toBe(404);
  });

  test('required fields and the password policy: field errors next to the field, values kept, never the password', async () => {
    const ua = agent();
    const res = await registerViaPage(ua, { email: 'not-an-email', password: 'short', given_name: 'Kim', phone_number: '12ab' }, '?tenant=strict');
    const html = await res.text();
    expect(res.status).toBe(400);
    expect(html).toContain('Some fields need your attention.');
    expect(html).toMatch(/id="f-email"[^>]*value="not-an-email"[^>]*aria-invalid="true" aria-describedby="f-email-error"/);
    expect(html).toContain('<p class="field-error" id="f-email-error">Enter a valid email address.</p>');
    expect(html).toContain('<p class="field-error" id="f-password-error">Use at least 12 characters.</p>');
    expect(html).toContain('id="f-username-error"');
    expect(html).toContain('id="f-family_name-error"');
    expect(html).toContain('id="f-phone_number-error"');
    expect(html).toMatch(/id="f-given_name"[^>]*value="Kim"/);
    expect(html).not.toContain('value="short"');
    expect(html).toMatch(/name="phone_number" type="tel" autocomplete="tel"/);

    const body = async (r: Response) => ({ http: r.status, ...(await r.json()) as { id?: string; fields?: Record<string, string> } });
    expect(await body(await api({ tenant: 'strict', email: 'x@example.test', password: 'short' }))).toMatchObject({
      http: 400, error: 'validation_failed',
      fields: { password: 'too_short', username: 'required', given_name: 'required', family_name: 'required', phone_number: 'required' },
    });
    const base = { tenant: 'strict', username: 'kim.lee', given_name: 'Kim', family_name: 'Lee', phone_number: '+49 30 1234567' };
    expect((await body(await api({ ...base, email: unique('kim'), password: 'password1234' }))).fields).toEqual({ password: 'common_password' });
    expect((await body(await api({ ...base, email: unique('kim'), password: 'kim.lee' + 'x'.repeat(60) }))).fields).toEqual({ password: 'too_long' });
    expect((await body(await api({ ...base, email: unique('kim'), password: PASSWORD, phone_number: '12ab' }))).fields).toEqual({ phone_number: 'invalid_phone' });
    expect((await body(await api({ ...base, email: unique('kim'), password: PASSWORD, username: 'a@b' }))).fields).toEqual({ username: 'invalid_username' });
    expect((await body(await api({ ...base, email: 'kim.lee.strict@example.test', password: 'kim.lee.strict@example.test' }))).fields)
      .toEqual({ password: 'same_as_identifier' });
    const ok = await body(await api({ ...base, email: unique('kim'), password: PASSWORD }));
    expect(ok.http).toBe(201);
    const created = (await users().findById(ok.id as string))!;
    expect(created).toMatchObject({ tenantId: 'strict', username: 'kim.lee', phoneNumber: '+49301234567', status: 'pending' });
  });

  // An address that already has an account: the same answer as a new one, the owner mailed instead
  // (registration-enumeration.test.ts). Races for one address end the same way.
  test('two registrations racing for one email: one account, the same answer for all', async () => {
    const email = unique('race');
    const results = await Promise.all(Array.from({ length: 4 }, (_, i) => api({ email: i % 2 ? email : email.toUpperCase(), password: PASSWORD })));
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    const bodies = await Promise.all(results.map(async (r) => await r.json() as Record<string, unknown>));
    for (const b of bodies) expect(b).toMatchObject({ status: 'pending', email_verified: false, phone_number_verified: false });
    expect(new Set(bodies.map((b) => b.id)).size).toBe(4);
    const rows = await h.t.app.store.db.selectFrom('users').select('id').where('email_normalized', '=', email).execute();
    expect(rows).toHaveLength(1);
  });

  test('a tenant without required confirmation activates at once, and still mails a link to verify the address', async () => {
    const email = unique('relaxed');
    const res = await api({ tenant: 'relaxed', email, password: PASSWORD });
    expect(await res.json()).toMatchObject({ status: 'active', email_verified: false });
    await confirmationLink(email);
  });
});

describe('languages and the JSON API', () => {
  test('pages in German from Accept-Language, and ui_locales wins', async () => {
    const de = new UserAgent({ 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' });
    const html = await (await de.get(url('/register'))).text();
    expect(html).toContain('<html lang="de">');
    expect(html).toContain('Konto erstellen');
    expect(html).toContain('<label for="f-password">Passwort</label>');
    const res = await registerViaPage(de, { email: 'kaputt', password: 'kurz' });
    const errors = await res.text();
    expect(errors).toContain('Geben Sie eine gültige E-Mail-Adresse ein.');
    expect(errors).toContain('Verwenden Sie mindestens 8 Zeichen.');
    const email = unique('de');
    const ok = await registerViaPage(de, { email, password: PASSWORD });
    expect(await ok.text()).toContain('Prüfen Sie Ihre E-Mails');
    // The account keeps the language: its mail is German.
    const mail = await h.smtp.waitFor((m) => m.to === email);
    expect(mail.subject).toBe('Bestätigen Sie Ihre E-Mail-Adresse für Default');
    expect(mail.text).toContain('Der Link funktioniert einmal');

    const en = await (await de.get(url('/register?ui_locales=en'))).text();
    expect(en).toContain('<html lang="en">');
    const confirm = await de.get(url('/confirm-email?token=nope'));
    expect(await confirm.text()).toContain('Link ungültig');
  });

  test('JSON API: wrong types, malformed bodies and content types are 4xx with stable codes, never 500', async () => {
    const wrongTypes = await api({ email: 5, password: ['x'], given_name: { a: 1 } });
    expect(wrongTypes.status).toBe(400);
    expect(await wrongTypes.json()).toMatchObject({ error: 'validation_failed', fields: { email: 'invalid', password: 'invalid', given_name: 'invalid' } });
    const empty = await api({});
    expect(await empty.json()).toMatchObject({ fields: { email: 'required', password: 'required' } });
    const nul = await api({ email: 'a\u0000@example.test', password: PASSWORD, given_name: 'x\u0007' });
    expect(await nul.json()).toMatchObject({ fields: { email: 'invalid', given_name: 'invalid' } });
    expect((await api('{"email":')).status).toBe(400);
    expect(await (await api('{"email":')).json()).toMatchObject({ error: 'invalid_request' });
    expect(await (await api('[1,2]')).json()).toMatchObject({ error: 'invalid_request' });
    expect(await (await api('"text"')).json()).toMatchObject({ error: 'invalid_request' });
    const form = await api('email=a%40b.test&password=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    expect((await api({ tenant: 'nope', email: unique('t'), password: PASSWORD })).status).toBe(404);
    expect((await api({ tenant: 5, email: unique('t'), password: PASSWORD })).status).toBe(400);
    const long = await api({ email: `${'a'.repeat(250)}@example.test`, password: PASSWORD, family_name: 'x'.repeat(101) });
    expect(await long.json()).toMatchObject({ fields: { email: 'too_long', family_name: 'too_long' } });
    // Registration never issues tokens.
    const ok = await api({ email: unique('api'), password: PASSWORD });
    const created = await ok.json() as Record<string, unknown>;
    expect(ok.status).toBe(201);
    expect(Object.keys(created).sort()).toEqual(['email_verified', 'id', 'phone_number_verified', 'status']);
    expect(ok.headers.get('set-cookie')).toBeNull();
  });
});
