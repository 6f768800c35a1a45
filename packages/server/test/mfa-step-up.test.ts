/**
 * Step-up: a client asking for the MFA level (`acr_values`, or an essential
 * acr claim) while the browser's session holds only the password level gets
 * an MFA challenge (and no password prompt); the new ID token carries the
 * stronger acr, amr with otp and a fresh auth_time. A request for the
 * password level is satisfied by an MFA session.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import type { MfaHandler } from './helpers/flows.js';
import { signedInBrowser } from './helpers/account.js';
import { enrollHandler, enrollTotp, isChallenge, totpHandler } from './helpers/mfa.js';
import type { Authenticator } from './helpers/mfa.js';
import { REDIRECT, baseConfig } from './fixtures.js';
import { ACR_MFA, ACR_PASSWORD } from '../src/oidc/acr.js';

const PASSWORD = 'a long enough test password';
const SLOW = 75_000;
const person = (username: string) => ({ username, password: PASSWORD, email: `${username}@example.test`, email_verified: true });

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      clients: [...baseConfig.clients, {
        client_id: 'app', client_name: 'App', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT], first_party: true,
        // The MFA prompt is off for this client: only a step-up asks for the second factor.
        mfa: 'off',
      }],
      users: [...baseConfig.users, person('stu'), person('val'), person('wyn')],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

const creds = (username: string) => ({ username, password: PASSWORD });
const CLAIMS = JSON.stringify({ id_token: { acr: null, amr: null, auth_time: null } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records which MFA pages were shown, answering challenges with the authenticator. */
function recording(authenticator: Authenticator, pages: string[]): MfaHandler {
  const inner = totpHandler(authenticator);
  return (html, url, agent) => {
    pages.push(isChallenge(html) ? 'challenge' : 'other');
    return inner(html, url, agent);
  };
}

describe('step-up by acr_values', () => {
  let authenticator: Authenticator;
  beforeAll(async () => {
    const { agent } = await signedInBrowser(t.issuer, creds('stu'));
    ({ authenticator } = await enrollTotp(agent, t.issuer));
  });

  test('password session → acr_values MFA: only the second factor is asked; new ID token with acr MFA, amr pwd+otp, fresh auth_time', async () => {
    const config = await discover(t.issuer, { clientId: 'app', auth: 'none' });
    const browser = new UserAgent();
    const first = await codeFlow(config, browser, t.issuer, creds('stu'), { claims: CLAIMS });
    const c1 = first.tokens.claims()!;
    expect(c1.acr).toBe(ACR_PASSWORD);
    expect(c1.amr).toEqual(['pwd']);

    await sleep(1100); // auth_time has one-second resolution
    const pages: string[] = [];
    // No credentials: the password page must not be shown again (signInThrough would throw).
    const second = await codeFlow(config, browser, t.issuer, undefined, { claims: CLAIMS, acr_values: ACR_MFA }, { mfa: recording(authenticator, pages) });
    const c2 = second.tokens.claims()!;
    expect(pages).toEqual(['challenge']);
    expect(c2.sub).toBe(c1.sub);
    expect(c2.acr).toBe(ACR_MFA);
    expect(c2.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
    expect(c2.auth_time).toBeGreaterThan(c1.auth_time!);
    expect(second.tokens.id_token).not.toBe(first.tokens.id_token);

    // The session is now at the MFA level: asking for it again needs no interaction at all,
    const third = await codeFlow(config, browser, t.issuer, undefined, { claims: CLAIMS, acr_values: ACR_MFA });
    expect(third.tokens.claims()!.acr).toBe(ACR_MFA);
    expect(third.tokens.claims()!.auth_time).toBe(c2.auth_time);
    // and the password level is satisfied by it (a stronger level satisfies a weaker one), also as an essential claim.
    const fourth = await codeFlow(config, browser, t.issuer, undefined, { acr_values: ACR_PASSWORD, claims: CLAIMS });
    expect(fourth.tokens.claims()!.acr).toBe(ACR_MFA);
    const essential = JSON.stringify({ id_token: { acr: { essential: true, value: ACR_PASSWORD }, amr: null } });
    const fifth = await codeFlow(config, browser, t.issuer, undefined, { claims: essential });
    expect(fifth.tokens.claims()!.acr).toBe(ACR_MFA);
  }, SLOW);

  test('an essential acr claim for the MFA level steps up too', async () => {
    const config = await discover(t.issuer, { clientId: 'app', auth: 'none' });
    const browser = new UserAgent();
    await codeFlow(config, browser, t.issuer, creds('stu'), { claims: CLAIMS });
    const pages: string[] = [];
    const essential = JSON.stringify({ id_token: { acr: { essential: true, values: [ACR_MFA] }, amr: null } });
    const stepped = await codeFlow(config, browser, t.issuer, undefined, { claims: essential }, { mfa: recording(authenticator, pages) });
    expect(pages).toEqual(['challenge']);
    expect(stepped.tokens.claims()!.acr).toBe(ACR_MFA);
  }, SLOW);

  test('prompt=none cannot step up: login_required', async () => {
    const config = await discover(t.issuer, { clientId: 'app', auth: 'none' });
    const browser = new UserAgent();
    await codeFlow(config, browser, t.issuer, creds('stu'));
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid', prompt: 'none', acr_values: ACR_MFA, state: 's',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const { url: landed } = await browser.follow(await browser.get(url), url.href);
    expect(new URL(landed).searchParams.get('error')).toBe('login_required');
  });

  test('a fresh sign-in with acr_values MFA asks for the second factor even where the client turned the prompt off', async () => {
    const config = await discover(t.issuer, { clientId: 'app', auth: 'none' });
    const pages: string[] = [];
    const { tokens } = await codeFlow(config, new UserAgent(), t.issuer, creds('stu'), { claims: CLAIMS, acr_values: ACR_MFA }, { mfa: recording(authenticator, pages) });
    expect(pages).toEqual(['challenge']);
    expect(tokens.claims()!.acr).toBe(ACR_MFA);
  }, SLOW);
});

describe('step-up without a factor', () => {
  test('a user with no factor is taken through enrollment, then gets acr MFA', async () => {
    const config = await discover(t.issuer, { clientId: 'app', auth: 'none' });
    const browser = new UserAgent();
    await codeFlow(config, browser, t.issuer, creds('val'));
    const out: { authenticator?: Authenticator; recoveryCodes?: string[] } = {};
    const { tokens } = await codeFlow(config, browser, t.issuer, undefined, { claims: CLAIMS, acr_values: ACR_MFA }, { mfa: enrollHandler(out) });
    expect(out.recoveryCodes).toHaveLength(10);
    expect(tokens.claims()!.acr).toBe(ACR_MFA);
  }, SLOW);

  test('max_age forces the whole sign-in again (password, then the factor policy asks for)', async () => {
    const config = await discover(t.issuer, { clientId: 'spa', auth: 'none' });
    const { agent } = await signedInBrowser(t.issuer, creds('wyn'));
    const { authenticator } = await enrollTotp(agent, t.issuer);
    const browser = new UserAgent();
    const first = await codeFlow(config, browser, t.issuer, creds('wyn'), { claims: CLAIMS }, { mfa: totpHandler(authenticator) });
    await sleep(2100);
    const pages: string[] = [];
    const again = await codeFlow(config, browser, t.issuer, creds('wyn'), { claims: CLAIMS, max_age: '1' }, { mfa: recording(authenticator, pages), maxAge: 1 });
    expect(pages).toEqual(['challenge']);
    expect(again.tokens.claims()!.auth_time).toBeGreaterThan(first.tokens.claims()!.auth_time!);
    expect(again.tokens.claims()!.acr).toBe(ACR_MFA);
  }, SLOW);
});
