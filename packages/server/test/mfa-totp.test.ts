/**
 * MFA with TOTP and recovery codes: enrollment from the account pages (the
 * secret read from the page text, codes computed with `otpauth`), sign-in
 * with a code (acr/amr in the ID token), replay protection, lockout, recovery
 * codes (single use, regeneration), malformed input.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { signedInBrowser, text } from './helpers/account.js';
import { hiddenInputs } from './helpers/forms.js';
import { Authenticator, enrollTotp, recoveryCodesFromPage, recoveryHandler, signInToAccount, totpHandler } from './helpers/mfa.js';
import { REDIRECT, baseConfig } from './fixtures.js';
import { createAuditRepository } from '../src/audit/repository.js';
import { createUserRepository } from '../src/identity/repository.js';
import { isLocked } from '../src/identity/model.js';
import { ACR_MFA } from '../src/oidc/acr.js';

const PASSWORD = 'a long enough test password';
const NAMES = ['tom', 'ray', 'liz', 'max', 'ned', 'ola', 'pia', 'quy', 'rex', 'sam'];
/** Codes are single use per 30 s step (±1 step accepted): a test that needs more than three waits for the clock. */
const SLOW = 75_000;
const MAX_FAILURES = 4;

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      tenants: [{ id: 'default', name: 'Default', policy: { lockout: { max_failures: MAX_FAILURES, window_seconds: 600, duration_seconds: 600 } } }, ...baseConfig.tenants],
      users: [...baseConfig.users, ...NAMES.map((username) => ({ username, password: PASSWORD, email: `${username}@example.test`, email_verified: true }))],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

const creds = (username: string) => ({ username, password: PASSWORD });
const user = async (username: string) => (await createUserRepository(t.app.store.db).findByUsername('default', username))!;
const audit = async (username: string, action: string) => createAuditRepository(t.app.store.db).query({ subjectId: (await user(username)).id, action });
/** acr/amr/auth_time are released in the ID token when asked for (claims parameter). */
const CLAIMS = { claims: JSON.stringify({ id_token: { acr: null, amr: null, auth_time: null } }) };

async function spa() {
  return discover(t.issuer, { clientId: 'spa', auth: 'none' });
}

/** Starts an authorization request and signs in with the password; returns the page that follows (the MFA step). */
async function toMfaPage(username: string, agent = new UserAgent()): Promise<{ agent: UserAgent; html: string; url: string; status: number }> {
  const url = oidc.buildAuthorizationUrl(await spa(), {
    redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256', state: 'st',
  });
  let { res, url: at } = await agent.follow(await agent.get(url), url.href);
  const action = new URL(formAction(await res.text(), '/login'), t.issuer);
  ({ res, url: at } = await agent.follow(await agent.post(action, creds(username)), action.href));
  return { agent, html: await res.text(), url: at, status: res.status };
}

describe('TOTP enrollment from the account pages', () => {
  test('QR code, secret as text and otpauth URI; a first code enables it; the first factor comes with 10 recovery codes', async () => {
    const { agent } = await signedInBrowser(t.issuer, creds('tom'));
    const security = await agent.get(`${t.issuer}/account/security`);
    const securityHtml = await security.text();
    expect(security.status).toBe(200);
    expect(text(securityHtml)).toContain('No authenticator app is set up.');

    const start = await agent.post(new URL(formAction(securityHtml, '/account/security/totp'), t.issuer), hiddenInputs(securityHtml));
    const setup = await start.text();
    expect(start.status).toBe(200);
    expect(text(setup)).toMatch(/<img class="qr" src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+"/);
    expect(text(setup)).toMatch(/otpauth:\/\/totp\/[^"]+secret=[A-Z2-7]{32}/);
    expect(start.headers.get('content-security-policy')).toContain("img-src 'self' data:");
    // The secret is on the page, never in a form field.
    expect(Object.values(hiddenInputs(setup)).join(' ')).not.toMatch(/[A-Z2-7]{32}/);

    const enrollment = await enrollTotp(agent, t.issuer, 'Work phone');
    expect(enrollment.response.status).toBe(200);
    expect(enrollment.recoveryCodes).toHaveLength(10);
    for (const c of enrollment.recoveryCodes) expect(c).toMatch(/^[A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5}$/);
    expect(new Set(enrollment.recoveryCodes).size).toBe(10);

    const after = text(await (await agent.get(`${t.issuer}/account/security`)).text());
    expect(after).toContain('Work phone');
    expect(after).toContain('10 of 10 recovery codes left.');
    const [event] = await audit('tom', 'mfa.enrolled');
    expect(event!.details).toMatchObject({ kind: 'totp', label: 'Work phone' });
    expect(JSON.stringify(event!.details)).not.toContain(enrollment.authenticator.secret);
  });

  test('the secret is stored encrypted; a wrong first code leaves nothing enabled', async () => {
    const { agent } = await signedInBrowser(t.issuer, creds('ray'));
    const page = await agent.get(`${t.issuer}/account/security`);
    const html = await page.text();
    const setup = await (await agent.post(new URL(formAction(html, '/account/security/totp'), t.issuer), hiddenInputs(html))).text();
    const secret = /id="totp-secret">([^<]+)</.exec(setup)![1]!.replace(/\s/g, '');
    const rows = await t.app.store.db.selectFrom('mfa_totp').select(['secret']).where('user_id', '=', (await user('ray')).id).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.secret).not.toContain(secret);

    const auth = new Authenticator(secret);
    const wrong = String((Number(auth.codeAt(Authenticator.currentStep())) + 1) % 1_000_000).padStart(6, '0');
    const bad = await agent.post(new URL(formAction(setup, '/totp/confirm'), t.issuer), { ...hiddenInputs(setup), label: 'x', code: wrong });
    expect(bad.status).toBe(400);
    expect(text(await bad.text())).toContain('The code is not valid');
    const malformed = await agent.post(new URL(formAction(setup, '/totp/confirm'), t.issuer), { ...hiddenInputs(setup), label: 'x', code: '12ab56' });
    expect(malformed.status).toBe(400);
    expect(text(await malformed.text())).toContain('Enter the 6 digits');
    expect(await t.app.platform.mfa.hasSecondFactor((await user('ray')).id)).toBe(false);
  });
});

describe('sign-in with TOTP', () => {
  /** Each test its own user: every TOTP code works once, so users do not wait for each other's time steps. */
  const enrolled = async (username: string) => {
    const { agent } = await signedInBrowser(t.issuer, creds(username));
    return enrollTotp(agent, t.issuer);
  };

  test('after the password, a code from the app: the ID token (verified by openid-client) has acr MFA and amr pwd + otp', async () => {
    const { authenticator } = await enrolled('liz');
    const { tokens } = await codeFlow(await spa(), new UserAgent(), t.issuer, creds('liz'), CLAIMS, { mfa: totpHandler(authenticator) });
    const claims = tokens.claims()!;
    expect(claims.acr).toBe(ACR_MFA);
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
    expect(await audit('liz', 'mfa.verified')).toHaveLength(1);

    // The MFA page: the code field (one-time-code) and recovery codes, no JavaScript needed.
    const { html, status, url } = await toMfaPage('liz');
    expect(status).toBe(200);
    expect(new URL(url).pathname).toMatch(/^\/interaction\/[^/]+\/mfa$/);
    expect(html).toContain('autocomplete="one-time-code"');
    expect(html).toContain('inputmode="numeric"');
    expect(html).toMatch(/action="[^"]*\/mfa\/recovery"/);
    expect(html).not.toContain('<script');
  }, SLOW);

  test('a code cannot be used twice within its window (replay refused, nothing signed in)', async () => {
    const { authenticator } = await enrolled('pia');
    const code = await authenticator.nextCode();
    const first = await toMfaPage('pia');
    const ok = await first.agent.post(new URL(formAction(first.html, '/mfa/totp'), t.issuer), { code });
    expect(ok.status).toBe(303);
    const second = await toMfaPage('pia');
    const replay = await second.agent.post(new URL(formAction(second.html, '/mfa/totp'), t.issuer), { code });
    expect(replay.status).toBe(401);
    // The right code a second time: told so, with what to do (issue 19).
    expect(text(await replay.text())).toContain('This code was already used. Wait for the next code in your app');
    // An older code (below the last used step) is refused too.
    const older = await second.agent.post(new URL(formAction(second.html, '/mfa/totp'), t.issuer), { code: authenticator.codeAt(Authenticator.currentStep() - 2) });
    expect(older.status).toBe(401);
    expect(text(await older.text())).toContain('The code is not valid');
    expect(await audit('pia', 'mfa.challenge_failed')).toHaveLength(2);
    // The interaction still waits for a good code.
    const fine = await second.agent.post(new URL(formAction(second.html, '/mfa/totp'), t.issuer), { code: await authenticator.nextCode() });
    expect(fine.status).toBe(303);
  }, SLOW);

  test('malformed codes get a clear message and change nothing (no failure counted, no code used)', async () => {
    const { authenticator } = await enrolled('quy');
    const before = await user('quy');
    const { agent, html } = await toMfaPage('quy');
    const action = new URL(formAction(html, '/mfa/totp'), t.issuer);
    for (const code of ['', '12345', '1234567', 'abcdef', '12 34 5x']) {
      const res = await agent.post(action, { code });
      expect(res.status).toBe(400);
      expect(text(await res.text())).toMatch(/Enter the 6 digits|Enter the code/);
    }
    const recovery = await agent.post(new URL(formAction(html, '/mfa/recovery'), t.issuer), { code: 'not-a-code!' });
    expect(recovery.status).toBe(400);
    expect(text(await recovery.text())).toContain('A recovery code has 10 letters and digits');
    const after = await user('quy');
    expect(after.failedLogins).toBe(before.failedLogins);
    expect(await audit('quy', 'mfa.challenge_failed')).toHaveLength(0);
    expect((await t.app.platform.mfa.forUser(after.id)).find((f) => f.kind === 'recovery_code')!.label).toBe('10/10');
    // The interaction is still waiting for the second factor.
    expect((await agent.post(action, { code: await authenticator.nextCode() })).status).toBe(303);
  }, SLOW);

  test('recovery code: works once, then is refused; the count goes down; the event has no code', async () => {
    const { authenticator, recoveryCodes } = await enrolled('rex');
    const code = recoveryCodes[0]!;
    // Any case, without the dash: still the same code.
    const { tokens } = await codeFlow(await spa(), new UserAgent(), t.issuer, creds('rex'), CLAIMS, { mfa: recoveryHandler(code.toLowerCase().replace('-', '')) });
    expect(tokens.claims()!.acr).toBe(ACR_MFA);
    expect(tokens.claims()!.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));
    const again = await toMfaPage('rex');
    const refused = await again.agent.post(new URL(formAction(again.html, '/mfa/recovery'), t.issuer), { code });
    expect(refused.status).toBe(401);
    expect(text(await refused.text())).toContain('The recovery code is not valid.');
    const [used] = await audit('rex', 'mfa.recovery_code_used');
    expect(used!.details).toMatchObject({ remaining: 9 });
    expect(JSON.stringify(used!.details)).not.toContain(code.slice(0, 5));
    expect((await again.agent.post(new URL(formAction(again.html, '/mfa/totp'), t.issuer), { code: await authenticator.nextCode() })).status).toBe(303);
  }, SLOW);

  test('regenerating recovery codes invalidates the old ones; the new ones work', async () => {
    const { authenticator, recoveryCodes } = await enrolled('sam');
    const agent = await signInToAccount(t.issuer, creds('sam'), totpHandler(authenticator));
    const security = await (await agent.get(`${t.issuer}/account/security`)).text();
    const regen = await agent.post(new URL(formAction(security, '/account/security/recovery-codes'), t.issuer), hiddenInputs(security));
    expect(regen.status).toBe(200);
    const fresh = recoveryCodesFromPage(await regen.text());
    expect(fresh).toHaveLength(10);
    expect(fresh.some((c) => recoveryCodes.includes(c))).toBe(false);
    expect(await audit('sam', 'mfa.recovery_codes_regenerated')).toHaveLength(2);

    const old = await toMfaPage('sam');
    expect((await old.agent.post(new URL(formAction(old.html, '/mfa/recovery'), t.issuer), { code: recoveryCodes[1]! })).status).toBe(401);
    expect((await old.agent.post(new URL(formAction(old.html, '/mfa/recovery'), t.issuer), { code: fresh[0]! })).status).toBe(303);
  }, SLOW);
});

describe('brute force', () => {
  test('wrong codes count toward the account lockout; a correct password in between does not reset the count', { timeout: SLOW }, async () => {
    const { agent } = await signedInBrowser(t.issuer, creds('max'));
    const { authenticator } = await enrollTotp(agent, t.issuer);
    const wrong = () => String((Number(authenticator.codeAt(Authenticator.currentStep())) + 500_000) % 1_000_000).padStart(6, '0');

    const first = await toMfaPage('max');
    for (let i = 0; i < MAX_FAILURES - 1; i++) {
      const res = await first.agent.post(new URL(formAction(first.html, '/mfa/totp'), t.issuer), { code: wrong() });
      expect(res.status).toBe(401);
    }
    expect(isLocked(await user('max'))).toBe(false);
    // The password again (which clears the password failures) does not buy more guesses.
    const second = await toMfaPage('max');
    const last = await second.agent.post(new URL(formAction(second.html, '/mfa/totp'), t.issuer), { code: wrong() });
    expect(last.status).toBe(401);
    // 127.0.0.1 finished a sign-in of max before (the enrollment): a known source, so the lock falls on it
    // alone, not on the account for everyone (lockout-sources.test.ts has the unknown-source case).
    const [locked] = await audit('max', 'user.locked');
    expect(locked!.details).toMatchObject({ reason: 'failed_mfa', scope: 'known_address' });
    expect(await audit('max', 'mfa.challenge_failed')).toHaveLength(MAX_FAILURES);

    // Locked: even the right code is refused, with the same message.
    const right = await second.agent.post(new URL(formAction(second.html, '/mfa/totp'), t.issuer), { code: await authenticator.nextCode() });
    expect(right.status).toBe(401);
    expect(text(await right.text())).toContain('The code is not valid');
    // And the password sign-in says what it says for every failure.
    const again = await toMfaPage('max');
    expect(again.status).toBe(401);
    expect(text(again.html)).toContain('The username or password is incorrect.');
  });

  test('wrong recovery codes count toward the lockout too', async () => {
    const { agent } = await signedInBrowser(t.issuer, creds('ned'));
    await enrollTotp(agent, t.issuer);
    const { agent: a, html } = await toMfaPage('ned');
    for (let i = 0; i < MAX_FAILURES; i++) {
      expect((await a.post(new URL(formAction(html, '/mfa/recovery'), t.issuer), { code: 'AAAAA-BBBBB' })).status).toBe(401);
    }
    const [locked] = await audit('ned', 'user.locked');
    expect(locked!.details).toMatchObject({ reason: 'failed_mfa', scope: 'known_address' });
    // Locked for this source: the password sign-in gets the answer every failure gets.
    expect((await toMfaPage('ned')).status).toBe(401);
  });

  test('the per-IP throttle answers 429 once the address used up its failures', async () => {
    const throttle = t.app.platform.throttle;
    const { agent } = await signedInBrowser(t.issuer, creds('ola'));
    await enrollTotp(agent, t.issuer);
    const { agent: a, html } = await toMfaPage('ola');
    const blocked = throttle.isBlocked.bind(throttle);
    throttle.isBlocked = () => true;
    try {
      expect((await a.post(new URL(formAction(html, '/mfa/totp'), t.issuer), { code: '123456' })).status).toBe(429);
    } finally {
      throttle.isBlocked = blocked;
    }
  });
});
