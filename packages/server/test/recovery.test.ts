/**
 * Password reset (by a single-use emailed link, read from a real SMTP server)
 * and password change: enumeration-safe answers, rate limits per account and
 * per IP, policy errors, replayed/expired/tampered links, and revocation of
 * sessions and refresh tokens.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, formAction, hiddenField } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { firstLink, startSmtp } from './helpers/smtp.js';
import type { ReceivedMail, TestSmtp } from './helpers/smtp.js';
import { REDIRECT, baseConfig } from './fixtures.js';
import { createAuditRepository } from '../src/audit/repository.js';
import { createUserRepository } from '../src/identity/repository.js';
import { ACCOUNT } from '../src/identity/lockout-counters.js';

const PASSWORD = 'a long enough test password';
const NEW_PASSWORD = 'another quite long passphrase';
const USERS = ['rita', 'rose', 'cole', 'cara', 'dave', 'chad', 'tina', 'nora', 'olga'];

const config = {
  ...baseConfig,
  tenants: [{ id: 'default', name: 'Default', policy: { password_reset_per_hour: 3, registration: 'open' } }, ...baseConfig.tenants],
  users: [...baseConfig.users, ...USERS.map((username) => ({ username, password: PASSWORD, email: `${username}@example.test`, email_verified: true }))],
};

let t: TestApp;
let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startSmtp();
  t = await startTestApp({ config, env: { SMTP_URL: smtp.url } });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

const users = () => createUserRepository(t.app.store.db);
const user = async (username: string) => (await users().findByUsername('default', username))!;
const audit = async (username: string, action: string) => createAuditRepository(t.app.store.db).query({ subjectId: (await user(username)).id, action });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const decode = (html: string) => html.replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c)));
const fieldError = (html: string, name: string) => decode(new RegExp(`id="f-${name}-error">([^<]*)<`).exec(html)?.[1] ?? '');

/** The next mail (received after this call) matching the predicate. */
function nextMail(predicate: (m: ReceivedMail) => boolean): Promise<ReceivedMail> {
  const seen = smtp.messages.length;
  return smtp.waitFor((m) => smtp.messages.indexOf(m) >= seen && predicate(m));
}
const resetMail = (to: string) => nextMail((m) => m.to === to && m.subject === 'Reset your password');
const changedMail = (to: string) => nextMail((m) => m.to === to && m.subject === 'Your password was changed');

/** Submits the forgot-password form as a browser would (GET for the form token, then POST). */
async function forgot(app: TestApp, email: string, agent = new UserAgent()): Promise<{ status: number; html: string }> {
  const form = await agent.get(`${app.issuer}/password/forgot`);
  const csrf = hiddenField(await form.text(), '_csrf')!;
  const res = await agent.post(`${app.issuer}/password/forgot`, { _csrf: csrf, email });
  return { status: res.status, html: await res.text() };
}

/** Opens a reset link and submits the new-password form. */
async function reset(link: string, password: string, confirmation = password, agent = new UserAgent()): Promise<{ status: number; html: string }> {
  const form = await agent.get(link);
  const html = await form.text();
  // A dead link shows no form: take a form token from another page, as a form opened earlier would carry one.
  const csrf = hiddenField(html, '_csrf') ?? hiddenField(await (await agent.get(new URL('/password/forgot', link))).text(), '_csrf')!;
  const token = new URL(link).searchParams.get('token') ?? '';
  const res = await agent.post(new URL('/password/reset', link), { _csrf: csrf, token, password, password_confirm: confirmation });
  return { status: res.status, html: await res.text() };
}

/** Tries the hosted sign-in for the SPA; true when it succeeds. */
async function canSignIn(username: string, password: string): Promise<boolean> {
  const agent = new UserAgent();
  const url = oidc.buildAuthorizationUrl(await discover(t.issuer, { clientId: 'spa' }), {
    redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  });
  const { res } = await agent.follow(await agent.get(url), url.href);
  const action = new URL(formAction(await res.text(), '/login'), t.issuer);
  const posted = await agent.post(action, { username, password });
  if (posted.status === 401) return false;
  expect(posted.status).toBe(303);
  return true;
}

/** A browser signed in to the account pages. */
async function accountBrowser(username: string, password = PASSWORD): Promise<UserAgent> {
  const agent = new UserAgent({ 'user-agent': `Browser of ${username}` });
  let { res, url } = await agent.follow(await agent.get(`${t.issuer}/account`), `${t.issuer}/account`);
  const action = new URL(formAction(await res.text(), '/login'), t.issuer);
  ({ res, url } = await agent.follow(await agent.post(action, { username, password }), action.href));
  expect(new URL(url).pathname).toBe('/account');
  expect(res.status).toBe(200);
  return agent;
}

/** SPA tokens obtained in this browser (signing in if it has no session yet). */
async function spaTokens(agent: UserAgent, username: string, password = PASSWORD) {
  const config = await discover(t.issuer, { clientId: 'spa' });
  const { tokens } = await codeFlow(config, agent, t.issuer, { username, password });
  expect(tokens.refresh_token).toBeTruthy();
  return { config, refreshToken: tokens.refresh_token! };
}
const refresh = (config: oidc.Configuration, token: string) =>
  oidc.refreshTokenGrant(config, token).then(() => 'ok', (err: { error?: string }) => err.error ?? String(err));

/** prompt=none for the SPA in this browser: where the engine sends it (a code, or login_required). */
async function silent(agent: UserAgent): Promise<URL> {
  const url = oidc.buildAuthorizationUrl(await discover(t.issuer, { clientId: 'spa' }), {
    redirect_uri: REDIRECT, scope: 'openid', prompt: 'none', state: 's',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  });
  const { url: landed } = await agent.follow(await agent.get(url), url.href);
  return new URL(landed);
}
const accountStatus = async (agent: UserAgent) => (await agent.get(`${t.issuer}/account`)).status;

describe('forgot password: the same answer for every address', () => {
  test('existing and unknown emails get identical status and body; only the existing one gets mail', async () => {
    const mail = resetMail('rita@example.test');
    const existing = await forgot(t, 'rita@example.test');
    const unknown = await forgot(t, 'nobody-at-all@example.test');
    expect(existing.status).toBe(200);
    expect(unknown.status).toBe(existing.status);
    expect(unknown.html).toBe(existing.html);
    expect(existing.html).toContain('Check your email');
    const received = await mail;
    expect(firstLink(received.text, '/password/reset')).toMatch(new RegExp(`^${t.issuer}/password/reset\\?token=[A-Za-z0-9_-]{43}$`));
    await sleep(300);
    expect(smtp.messages.filter((m) => m.to === 'nobody-at-all@example.test')).toHaveLength(0);
    // The audit log knows what happened; the page does not say.
    expect((await audit('rita', 'password.reset_requested'))[0]!.details).toEqual({ outcome: 'sent' });
  });

  test('a disabled account gets the same answer and no mail; case and spaces in the address do not matter', async () => {
    await users().updateProfile((await user('dave')).id, { status: 'disabled' });
    const disabled = await forgot(t, 'dave@example.test');
    const unknown = await forgot(t, 'nobody-else@example.test');
    expect(disabled).toEqual(unknown);
    const mail = resetMail('tina@example.test');
    expect((await forgot(t, '  TINA@Example.TEST ')).status).toBe(200);
    await mail;
    await sleep(200);
    expect(smtp.messages.filter((m) => m.to === 'dave@example.test')).toHaveLength(0);
  });

  test('the JSON API always answers 202 with the same body', async () => {
    const post = (body: unknown) => fetch(`${t.issuer}/api/self-service/password-reset`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const mail = resetMail('nora@example.test');
    const a = await post({ email: 'nora@example.test' });
    const b = await post({ email: 'ghost@example.test', tenant: 'default' });
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(await a.text()).toBe(await b.text());
    await mail;
    const bad = await post({ email: 'not-an-email' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'validation_failed', fields: { email: 'invalid_email' } });
    expect((await post({ mail: 'x@example.test' })).status).toBe(400);
    const form = await fetch(`${t.issuer}/api/self-service/password-reset`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'email=x%40example.test' });
    expect(form.status).toBe(415);
  });

  test('bad input: field errors next to the field, never 500; the form needs its CSRF token', async () => {
    const empty = await forgot(t, '');
    expect(empty.status).toBe(400);
    expect(fieldError(empty.html, 'email')).toBe('This field is required.');
    const invalid = await forgot(t, 'no at sign');
    expect(fieldError(invalid.html, 'email')).toBe('Enter a valid email address.');
    const noCsrf = await new UserAgent().post(`${t.issuer}/password/forgot`, { email: 'rita@example.test' });
    expect(noCsrf.status).toBe(403);
    const odd = await fetch(`${t.issuer}/password/forgot?tenant=%00&interaction=..%2F`);
    expect(odd.status).toBe(200);
  });
});

describe('reset by the emailed link', () => {
  test('new password works, the old one does not; every session and refresh token is revoked; a notice is mailed; the link works once', async () => {
    // Two browsers with sessions, one with SPA tokens.
    const a = await accountBrowser('rose');
    const { config, refreshToken } = await spaTokens(a, 'rose');
    const b = await accountBrowser('rose');
    expect((await silent(a)).searchParams.get('code')).toBeTruthy();

    const mail = resetMail('rose@example.test');
    await forgot(t, 'rose@example.test');
    const link = firstLink((await mail).text, '/password/reset');

    // Opening the link shows the form without using it.
    const shown = await new UserAgent().get(link);
    const html = await shown.text();
    expect(shown.status).toBe(200);
    expect(html.match(/autocomplete="new-password"/g)).toHaveLength(2);
    expect((await new UserAgent().get(link)).status).toBe(200);

    // Policy errors next to the fields; the link stays usable.
    const short = await reset(link, 'short');
    expect(short.status).toBe(400);
    expect(fieldError(short.html, 'password')).toBe('Use at least 8 characters.');
    const common = await reset(link, 'password123');
    expect(fieldError(common.html, 'password')).toBe('This password is too common. Choose one that is harder to guess.');
    const mismatch = await reset(link, NEW_PASSWORD, `${NEW_PASSWORD}!`);
    expect(fieldError(mismatch.html, 'password_confirm')).toBe('The passwords do not match.');
    const sameAsName = await reset(link, 'rose@example.test');
    expect(fieldError(sameAsName.html, 'password')).toMatch(/username or email/);

    const notice = changedMail('rose@example.test');
    const done = await reset(link, NEW_PASSWORD);
    expect(done.status).toBe(200);
    expect(done.html).toContain('Your password has been changed');
    expect((await notice).text).toContain('was changed');

    // Everything issued before is gone: refresh, silent sign-in, the account pages of both browsers.
    expect(await refresh(config, refreshToken)).toBe('invalid_grant');
    expect((await silent(a)).searchParams.get('error')).toBe('login_required');
    expect(await accountStatus(b)).toBe(303);
    const rose = await user('rose');
    const left = await t.app.store.db.selectFrom('oidc_payloads').select('model').where('account_id', '=', rose.id).execute();
    expect(left).toEqual([]);

    expect(await canSignIn('rose', PASSWORD)).toBe(false);
    expect(await canSignIn('rose', NEW_PASSWORD)).toBe(true);
    expect((await audit('rose', 'password.reset')).length).toBe(1);

    // Replay: a clear page, and nothing changes.
    const replayGet = await new UserAgent().get(link);
    expect(replayGet.status).toBe(400);
    expect(decode(await replayGet.text())).toContain('This password reset link has already been used.');
    const replay = await reset(link, 'yet another long passphrase');
    expect(replay.status).toBe(400);
    expect(await canSignIn('rose', 'yet another long passphrase')).toBe(false);
    expect(await canSignIn('rose', NEW_PASSWORD)).toBe(true);
  });

  test('an expired link gets a clear page and changes nothing', async () => {
    const mail = resetMail('cole@example.test');
    await forgot(t, 'cole@example.test');
    const link = firstLink((await mail).text, '/password/reset');
    await t.app.store.db.updateTable('action_tokens').set({ expires_at: Date.now() - 1000 })
      .where('user_id', '=', (await user('cole')).id).where('purpose', '=', 'password_reset').execute();
    const page = await new UserAgent().get(link);
    expect(page.status).toBe(400);
    expect(decode(await page.text())).toContain('This password reset link has expired.');
    expect((await reset(link, NEW_PASSWORD)).status).toBe(400);
    expect(await canSignIn('cole', PASSWORD)).toBe(true);
  });

  test('a tampered or malformed link gets a clear page and changes nothing', async () => {
    const mail = resetMail('tina@example.test');
    await forgot(t, 'tina@example.test');
    const link = new URL(firstLink((await mail).text, '/password/reset'));
    const token = link.searchParams.get('token')!;
    const flipped = `${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`;
    for (const bad of [flipped, token.slice(0, 30), `${token}x`, '', '<script>', 'a'.repeat(500)]) {
      const url = `${t.issuer}/password/reset?token=${encodeURIComponent(bad)}`;
      const page = await new UserAgent().get(url);
      expect(page.status, bad).toBe(400);
      expect(decode(await page.text())).toContain('This password reset link is not valid.');
      expect((await reset(url, NEW_PASSWORD)).status).toBe(400);
    }
    expect(await canSignIn('tina', PASSWORD)).toBe(true);
    // The real link still works, and using it voids the user's other reset links.
    const second = resetMail('tina@example.test');
    await forgot(t, 'tina@example.test');
    const other = firstLink((await second).text, '/password/reset');
    expect((await reset(link.href, NEW_PASSWORD)).status).toBe(200);
    expect((await new UserAgent().get(other)).status).toBe(400);
  });

  test(`per account: at most password_reset_per_hour (3) links an hour; the 4th request sends nothing and answers the same`, async () => {
    const pages: string[] = [];
    for (let i = 0; i < 3; i++) {
      const mail = resetMail('cara@example.test');
      pages.push((await forgot(t, 'cara@example.test')).html);
      await mail;
    }
    const fourth = await forgot(t, 'cara@example.test');
    expect(fourth.status).toBe(200);
    expect(new Set([...pages, fourth.html]).size).toBe(1);
    await sleep(500);
    expect(smtp.messages.filter((m) => m.to === 'cara@example.test')).toHaveLength(3);
    expect((await audit('cara', 'password.reset_requested')).map((e) => e.details.outcome)).toEqual(['rate_limited', 'sent', 'sent', 'sent']);
  });

  test('a reset proves the mailbox: a pending account is confirmed, and a temporary lockout ends', async () => {
    const pending = await t.app.identity.createUser({ tenantId: 'default', username: 'pia', email: 'pia@example.test', password: PASSWORD, status: 'pending' });
    await users().lock(pending.id, Date.now() + 600_000);
    // Failures counting and a known address's own lock end too, wherever the counters live (the database, or Redis).
    const counters = t.app.platform.signInSources.counters;
    await t.app.store.db.insertInto('sign_in_sources')
      .values({ user_id: pending.id, source: 'a-known-address', known_at: Date.now(), failures: 0, window_start: null, locked_until: null }).execute();
    await counters.countFailure(pending.id, ACCOUNT, Date.now(), 600_000);
    await counters.lock(pending.id, 'a-known-address', Date.now() + 600_000, Date.now());
    expect(await t.app.platform.signInSources.hasFailures(pending.id)).toEqual({ locked: true, failures: true });
    const mail = resetMail('pia@example.test');
    await forgot(t, 'pia@example.test');
    expect((await reset(firstLink((await mail).text, '/password/reset'), NEW_PASSWORD)).status).toBe(200);
    expect(await users().findById(pending.id)).toMatchObject({ status: 'active', emailVerified: true, lockedUntil: null, failedLogins: 0 });
    expect(await t.app.platform.signInSources.hasFailures(pending.id)).toEqual({ locked: false, failures: false });
    expect(await counters.failures(pending.id, ACCOUNT)).toBe(0);
    expect(await canSignIn('pia', NEW_PASSWORD)).toBe(true);
  });
});

describe('from the sign-in page and back', () => {
  test('"Forgot your password?" keeps the client\'s tenant and leads back to the same sign-in, in German too', async () => {
    const agent = new UserAgent({ 'accept-language': 'de-DE,de;q=0.9' });
    const url = oidc.buildAuthorizationUrl(await discover(t.issuer, { clientId: 'spa' }), {
      redirect_uri: REDIRECT, scope: 'openid', state: 'back',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const { res, url: loginUrl } = await agent.follow(await agent.get(url), url.href);
    const login = await res.text();
    const forgotHref = decode(/<a href="([^"]*\/password\/forgot[^"]*)"/.exec(login)![1]!);
    const page = await agent.get(new URL(forgotHref, t.issuer));
    const html = decode(await page.text());
    expect(html).toContain('Passwort zurücksetzen');
    const uid = new URL(loginUrl).pathname.split('/').pop()!;
    expect(hiddenField(html, 'interaction')).toBe(uid);
    expect(hiddenField(html, 'tenant')).toBe('default');

    const mail = nextMail((m) => m.to === 'olga@example.test' && m.subject === 'Passwort zurücksetzen');
    const sent = await agent.post(`${t.issuer}/password/forgot`, {
      _csrf: hiddenField(html, '_csrf')!, email: 'olga@example.test', tenant: 'default', interaction: uid,
    });
    expect(decode(await sent.text())).toContain(`href="/interaction/${uid}"`);
    const received = await mail;
    expect(received.text).toContain('Um ein neues Passwort zu wählen');

    const done = await reset(firstLink(received.text, '/password/reset'), NEW_PASSWORD, NEW_PASSWORD, agent);
    expect(done.status).toBe(200);
    expect(decode(done.html)).toContain(`href="/interaction/${uid}"`);
    // The sign-in this browser started is still there: finish it with the new password.
    const back = await agent.get(`${t.issuer}/interaction/${uid}`);
    const action = new URL(formAction(await back.text(), '/login'), t.issuer);
    const { url: landed } = await agent.follow(await agent.post(action, { username: 'olga', password: NEW_PASSWORD }), action.href);
    expect(new URL(landed).searchParams.get('state')).toBe('back');
    expect(new URL(landed).searchParams.get('code')).toBeTruthy();
  });
});

describe('the client\'s ui_locales follow the user off the sign-in page', () => {
  test('forgot-password and registration links carry ui_locales: German pages for an English browser, the POST too', async () => {
    const agent = new UserAgent({ 'accept-language': 'en-US,en;q=0.9' });
    const url = oidc.buildAuthorizationUrl(await discover(t.issuer, { clientId: 'spa' }), {
      redirect_uri: REDIRECT, scope: 'openid', ui_locales: 'de',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const { res } = await agent.follow(await agent.get(url), url.href);
    const login = await res.text();
    const forgotHref = decode(/<a href="([^"]*\/password\/forgot[^"]*)"/.exec(login)![1]!);
    expect(new URL(forgotHref, t.issuer).searchParams.get('ui_locales')).toBe('de');
    const html = decode(await (await agent.get(new URL(forgotHref, t.issuer))).text());
    expect(html).toContain('Passwort zurücksetzen');
    expect(hiddenField(html, 'ui_locales')).toBe('de');
    const sent = await agent.post(`${t.issuer}/password/forgot`, {
      _csrf: hiddenField(html, '_csrf')!, email: 'nobody-here@example.test', tenant: 'default', ui_locales: 'de',
    });
    expect(decode(await sent.text())).toContain('Prüfen Sie Ihre E-Mails');

    const target = new URL(decode(/<a href="([^"]*\/register[^"]*)"/.exec(login)![1]!), t.issuer);
    expect(target.searchParams.get('ui_locales')).toBe('de');
    expect(await (await agent.get(target)).text()).toContain('lang="de"');
    // Without ui_locales the browser's language decides, as before.
    const plain = decode(await (await agent.get(`${t.issuer}/password/forgot`)).text());
    expect(plain).toContain('Reset your password');
  });
});

describe('per-IP limit on reset requests', () => {
  test('over TESSERA_AUTH_FAILURES_PER_MINUTE requests a minute, the IP gets 429 (page and API)', async () => {
    const small = await startTestApp({ config, env: { TESSERA_AUTH_FAILURES_PER_MINUTE: '3' } });
    try {
      const agent = new UserAgent();
      for (let i = 0; i < 3; i++) expect((await forgot(small, `someone-${i}@example.test`, agent)).status).toBe(200);
      const limited = await forgot(small, 'rita@example.test', agent);
      expect(limited.status).toBe(429);
      expect(limited.html).toContain('Too many requests');
      const api = await fetch(`${small.issuer}/api/self-service/password-reset`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'rita@example.test' }),
      });
      expect(api.status).toBe(429);
      expect(api.headers.get('retry-after')).toBe('60');
    } finally {
      await small.close();
    }
  });
});

describe('change password (signed in)', () => {
  test('requires sign-in and the form token', async () => {
    const anonymous = await new UserAgent().get(`${t.issuer}/account/password`);
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get('location')).toBe('/account/signin?return_to=%2Faccount%2Fpassword');
    const a = await accountBrowser('nora');
    const res = await a.post(`${t.issuer}/account/password`, { current_password: PASSWORD, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
    expect(res.status).toBe(403);
    expect(await canSignIn('nora', PASSWORD)).toBe(true);
  });

  test('needs the current password and a policy-conforming new one; then ends the other sessions and keeps this one', async () => {
    const a = await accountBrowser('chad');
    const mine = await spaTokens(a, 'chad');
    const b = await accountBrowser('chad');
    const theirs = await spaTokens(b, 'chad');

    const page = await a.get(`${t.issuer}/account/password`);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain('aria-current="page">Password<');
    expect(html).toContain('autocomplete="current-password"');
    const csrf = hiddenField(html, '_csrf')!;
    const change = (form: Record<string, string>) => a.post(`${t.issuer}/account/password`, { _csrf: csrf, ...form }).then(async (r) => ({ status: r.status, html: await r.text(), location: r.headers.get('location') }));

    const missing = await change({ current_password: '', password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
    expect(missing.status).toBe(400);
    expect(fieldError(missing.html, 'current_password')).toBe('This field is required.');
    const wrong = await change({ current_password: 'not my password', password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
    expect(wrong.status).toBe(400);
    expect(fieldError(wrong.html, 'current_password')).toBe('This is not your current password.');
    // A wrong current password counts toward the lockout, like a failed sign-in: here on the address chad
    // signed in from (a known source, counted on its own: docs/security.md#lockout-and-throttling).
    const chad = (await user('chad')).id;
    const sources = await t.app.store.db.selectFrom('sign_in_sources').select('source').where('user_id', '=', chad).execute();
    const counts = await Promise.all(sources.map((s) => t.app.platform.signInSources.counters.failures(chad, s.source)));
    expect(counts.reduce((n, c) => n + c, 0)).toBe(1);
    const short = await change({ current_password: PASSWORD, password: 'tiny', password_confirm: 'tiny' });
    expect(fieldError(short.html, 'password')).toBe('Use at least 8 characters.');
    const common = await change({ current_password: PASSWORD, password: 'iloveyou', password_confirm: 'iloveyou' });
    expect(fieldError(common.html, 'password')).toBe('This password is too common. Choose one that is harder to guess.');
    expect(await canSignIn('chad', PASSWORD)).toBe(true);

    const notice = changedMail('chad@example.test');
    const done = await change({ current_password: PASSWORD, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/account/password?changed=1');
    expect(await (await a.get(`${t.issuer}/account/password?changed=1`)).text()).toContain('Your password has been changed.');
    await notice;

    // The other browser is signed out, and its refresh token is dead; this browser keeps its session and tokens.
    expect(await accountStatus(b)).toBe(303);
    expect((await silent(b)).searchParams.get('error')).toBe('login_required');
    expect(await refresh(theirs.config, theirs.refreshToken)).toBe('invalid_grant');
    expect(await accountStatus(a)).toBe(200);
    expect((await silent(a)).searchParams.get('code')).toBeTruthy();
    expect(await refresh(mine.config, mine.refreshToken)).toBe('ok');

    expect(await canSignIn('chad', PASSWORD)).toBe(false);
    expect(await canSignIn('chad', NEW_PASSWORD)).toBe(true);
    const [event] = await audit('chad', 'password.changed');
    expect(event).toMatchObject({ ip: '127.0.0.1', userAgent: 'Browser of chad', details: { kept_session: true } });
  });
});
