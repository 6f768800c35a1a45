/**
 * Self-service account pages, part 2: active sessions (with device details)
 * and connected applications, each revocable; German pages.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, hiddenField } from './helpers/agent.js';
import { codeFlow, discover } from './helpers/flows.js';
import { CHROME_LINUX, FIREFOX_WINDOWS, page, signedInBrowser, submit, text } from './helpers/account.js';
import { CONF_SECRET, REDIRECT, baseConfig } from './fixtures.js';
import { createAuditRepository } from '../src/audit/repository.js';
import { createUserRepository } from '../src/identity/repository.js';

const PASSWORD = 'a long enough test password';
const USERS = ['sam', 'sue', 'ann', 'gus', 'max'];

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    config: { ...baseConfig, users: [...baseConfig.users, ...USERS.map((username) => ({ username, password: PASSWORD, email: `${username}@example.test` }))] },
  });
});
afterAll(async () => {
  await t?.close();
});

const creds = (username: string) => ({ username, password: PASSWORD });
const userId = async (username: string) => (await createUserRepository(t.app.store.db).findByUsername('default', username))!.id;
const payloads = () => t.app.platform.payloads;

/** The session entries of the sessions page, as text. */
const entries = (html: string) => text(html).split('<li class="item">').slice(1);
const sessionIdOf = (entry: string) => hiddenField(entry, 'session')!;

/** prompt=none for the first-party SPA in this browser: a code while the platform session lives, login_required after. */
async function silentAuthorization(agent: UserAgent): Promise<URL> {
  const url = new URL(`${t.issuer}/oidc/auth`);
  url.search = new URLSearchParams({
    client_id: 'spa', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, prompt: 'none', state: 's1',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
  }).toString();
  const { url: landed } = await agent.follow(await agent.get(url), url.href);
  return new URL(landed);
}

describe('active sessions', () => {
  test('two browsers: both listed with device, IP and times; this browser marked', async () => {
    const a = await signedInBrowser(t.issuer, creds('sam'), { 'user-agent': CHROME_LINUX });
    await signedInBrowser(t.issuer, creds('sam'), { 'user-agent': FIREFOX_WINDOWS });
    const { status, html } = await page(a.agent, `${t.issuer}/account/sessions`);
    expect(status).toBe(200);
    const list = entries(html);
    expect(list).toHaveLength(2);
    const mine = list.find((e) => e.includes('This session'))!;
    expect(mine).toContain('Chrome on Linux');
    const other = list.find((e) => !e.includes('This session'))!;
    expect(other).toContain('Firefox on Windows');
    for (const e of list) {
      expect(e).toContain('127.0.0.1');
      expect(e).toMatch(/Signed in<\/dt><dd>\d{1,2} \w{3} \d{4}, \d{2}:\d{2} UTC/);
      expect(e).toMatch(/Last activity<\/dt><dd>\d{1,2} \w{3} \d{4}/);
    }
  });

  test('signing out another session ends it: its prompt=none gets login_required and its refresh token fails', async () => {
    const a = await signedInBrowser(t.issuer, creds('sue'), { 'user-agent': CHROME_LINUX });
    const b = await signedInBrowser(t.issuer, creds('sue'), { 'user-agent': FIREFOX_WINDOWS });
    expect((await silentAuthorization(b.agent)).searchParams.get('code')).toBeTruthy();
    const spa = await discover(t.issuer, { clientId: 'spa' });
    const { tokens } = await codeFlow(spa, b.agent, t.issuer, undefined, { scope: 'openid', prompt: 'none' });
    expect(tokens.refresh_token).toBeTruthy();

    const other = entries((await page(a.agent, `${t.issuer}/account/sessions`)).html).find((e) => e.includes('Firefox on Windows'))!;
    const res = await submit(a.agent, `${t.issuer}/account/sessions`, `${t.issuer}/account/sessions/revoke`, { session: sessionIdOf(other) });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/sessions?done=1');

    const after = await page(a.agent, `${t.issuer}/account/sessions?done=1`);
    expect(text(after.html)).toContain('The session has been signed out.');
    expect(entries(after.html)).toHaveLength(1);
    expect((await silentAuthorization(b.agent)).searchParams.get('error')).toBe('login_required');
    await expect(oidc.refreshTokenGrant(spa, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // B's account pages ask it to sign in again; A is still signed in.
    expect((await b.agent.get(`${t.issuer}/account`)).headers.get('location')).toMatch(/^\/account\/signin/);
    expect((await a.agent.get(`${t.issuer}/account`)).status).toBe(200);

    const id = await userId('sue');
    const [event] = await createAuditRepository(t.app.store.db).query({ subjectId: id, action: 'session.revoked' });
    expect(event!.details).toEqual({ session: sessionIdOf(other), scope: 'one' });
    expect(event!.userAgent).toBe(CHROME_LINUX);
  });

  test('signing out this browser\'s own session ends the account session and goes home', async () => {
    const a = await signedInBrowser(t.issuer, creds('gus'));
    const mine = entries((await page(a.agent, `${t.issuer}/account/sessions`)).html)[0]!;
    const res = await submit(a.agent, `${t.issuer}/account/sessions`, `${t.issuer}/account/sessions/revoke`, { session: sessionIdOf(mine) });
    expect(res.headers.get('location')).toBe('/');
    expect((await a.agent.get(`${t.issuer}/account`)).headers.get('location')).toMatch(/^\/account\/signin/);
  });

  test('sign out everywhere ends every session, this one included', async () => {
    const a = await signedInBrowser(t.issuer, creds('max'));
    const b = await signedInBrowser(t.issuer, creds('max'), { 'user-agent': FIREFOX_WINDOWS });
    const res = await submit(a.agent, `${t.issuer}/account/sessions`, `${t.issuer}/account/sessions/revoke-all`, {});
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/');
    for (const agent of [a.agent, b.agent]) {
      expect((await agent.get(`${t.issuer}/account`)).headers.get('location')).toMatch(/^\/account\/signin/);
      expect((await silentAuthorization(agent)).searchParams.get('error')).toBe('login_required');
    }
    const id = await userId('max');
    expect(await payloads().listByAccount('Session', id)).toHaveLength(0);
    const [event] = await createAuditRepository(t.app.store.db).query({ subjectId: id, action: 'session.revoked' });
    expect(event!.details).toEqual({ scope: 'all', count: 2 });
  });

  test('another account\'s session cannot be signed out; forms without a token are refused', async () => {
    const a = await signedInBrowser(t.issuer, creds('sam'));
    const victim = await signedInBrowser(t.issuer, creds('ann'));
    const victimSession = sessionIdOf(entries((await page(victim.agent, `${t.issuer}/account/sessions`)).html)[0]!);
    const res = await submit(a.agent, `${t.issuer}/account/sessions`, `${t.issuer}/account/sessions/revoke`, { session: victimSession });
    expect(res.status).toBe(303);
    expect((await victim.agent.get(`${t.issuer}/account`)).status).toBe(200);
    expect((await a.agent.post(`${t.issuer}/account/sessions/revoke-all`, {})).status).toBe(403);
    expect((await a.agent.get(`${t.issuer}/account`)).status).toBe(200);
    const bad = await submit(a.agent, `${t.issuer}/account/sessions`, `${t.issuer}/account/sessions/revoke`, { session: 'x' });
    expect(bad.status).toBe(400);
  });
});

describe('connected applications', () => {
  test('a third-party grant is listed with its scopes; revoking it makes its refresh token fail', async () => {
    const a = await signedInBrowser(t.issuer, creds('ann'));
    const empty = await page(a.agent, `${t.issuer}/account/applications`);
    expect(text(empty.html)).toContain('No application has access to your account.');
    expect(empty.html).not.toContain('Tessera account');

    // Granted from another browser, which is then signed out from this one.
    const b = await signedInBrowser(t.issuer, creds('ann'), { 'user-agent': FIREFOX_WINDOWS });
    const web = await discover(t.issuer, { clientId: 'web', clientSecret: CONF_SECRET, auth: 'basic' });
    const { tokens } = await codeFlow(web, b.agent, t.issuer, undefined, { scope: 'openid email offline_access' });
    const other = entries((await page(a.agent, `${t.issuer}/account/sessions`)).html).find((e) => e.includes('Firefox on Windows'))!;
    expect(other).toContain('Example Web App');
    await submit(a.agent, `${t.issuer}/account/sessions`, `${t.issuer}/account/sessions/revoke`, { session: sessionIdOf(other) });

    // Offline access outlives the session it was granted in (as at the engine's own logout): still listed, still working.
    const listed = text((await page(a.agent, `${t.issuer}/account/applications`)).html);
    expect(listed).toContain('<h2>Example Web App</h2>');
    expect(listed).toContain('See your email address');
    expect(listed).toContain('Stay signed in when you are away');
    expect(listed).not.toContain('Tessera account');
    const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token!);

    const res = await submit(a.agent, `${t.issuer}/account/applications`, `${t.issuer}/account/applications/revoke`, { client_id: 'web' });
    expect(res.status).toBe(303);
    const after = text((await page(a.agent, `${t.issuer}/account/applications?done=1`)).html);
    expect(after).toContain('Access has been revoked.');
    expect(after).not.toContain('Example Web App</h2>');
    for (const rt of [tokens.refresh_token!, refreshed.refresh_token!]) {
      await expect(oidc.refreshTokenGrant(web, rt)).rejects.toMatchObject({ error: 'invalid_grant' });
    }
    const [event] = await createAuditRepository(t.app.store.db).query({ subjectId: await userId('ann'), action: 'grant.revoked' });
    expect(event!.details).toEqual({ client_id: 'web', grants: 1 });
    // The account pages themselves keep working: their grant is not the application's.
    expect((await a.agent.get(`${t.issuer}/account`)).status).toBe(200);
  });

  test('revoking an application the user never granted changes nothing', async () => {
    const a = await signedInBrowser(t.issuer, creds('gus'));
    for (const clientId of ['web-post', 'tessera-account', 'no-such-client']) {
      // (The page lists nothing, so it has no form: the token comes from the profile page.)
      const res = await submit(a.agent, `${t.issuer}/account`, `${t.issuer}/account/applications/revoke`, { client_id: clientId });
      expect(res.status).toBe(303);
    }
    expect((await a.agent.get(`${t.issuer}/account`)).status).toBe(200);
  });
});

describe('German pages', () => {
  test('the account pages answer in German when the browser asks for it', async () => {
    const { agent, html } = await signedInBrowser(t.issuer, creds('sam'), { 'accept-language': 'de-DE,de;q=0.9' });
    expect(html).toContain('<html lang="de">');
    expect(html).toContain('Vorname');
    const sessions = text((await page(agent, `${t.issuer}/account/sessions`)).html);
    expect(sessions).toContain('Aktive Sitzungen');
    expect(sessions).toContain('Diese Sitzung');
    expect(sessions).toContain('Chrome unter Linux');
    expect(sessions).toContain('Überall abmelden');
    expect(text((await page(agent, `${t.issuer}/account/applications`)).html)).toContain('Verbundene Anwendungen');
    expect(text((await page(agent, `${t.issuer}/account/phone`)).html)).toContain('Es ist keine Telefonnummer hinterlegt.');
  });
});
