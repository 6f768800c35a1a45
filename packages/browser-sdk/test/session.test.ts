import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TesseraSession } from '../src/session.js';
import type { SessionState } from '../src/state.js';
import { UserAgent } from '../../server/test/helpers/agent.js';
import { signInThrough } from '../../server/test/helpers/flows.js';
import { Authenticator, enrollTotp, signInToAccount, totpHandler } from '../../server/test/helpers/mfa.js';
import { USER, startStack } from '../../bff/test/helpers/stack.js';
import type { Stack } from '../../bff/test/helpers/stack.js';

/**
 * The SDK against a real BFF in front of a real Tessera and a test API:
 * a "tab" is an SDK instance with a cookie jar shared by the browser
 * (UserAgent), its own sessionStorage and address, and the real
 * BroadcastChannel of Node (which, like a browser's, reaches other instances).
 */

let s: Stack;
let authenticator: Authenticator;
beforeAll(async () => {
  s = await startStack({
    env: { BFF_SCOPE: 'openid profile email roles read write' },
    // A second factor only when asked for (step-up), so plain sign-ins stay at the password level.
    platformConfig: { tenants: [{ id: 'default', name: 'Default', policy: { mfa: { mode: 'off' } } }] },
  });
  // The user has an authenticator app, for the step-up.
  const account = await signInToAccount(s.platform.issuer, USER);
  authenticator = (await enrollTotp(account, s.platform.issuer)).authenticator;
});
afterAll(async () => {
  await s?.close();
});

class MemoryStorage {
  readonly map = new Map<string, string>();
  getItem(k: string) { return this.map.get(k) ?? null; }
  setItem(k: string, v: string) { this.map.set(k, v); }
  removeItem(k: string) { this.map.delete(k); }
}

/** One browser (cookie jar) with tabs; each tab is a page with its own SDK instance, address and storage. */
class Browser {
  readonly agent = new UserAgent();
  /** Every response the pages' scripts got, in order (status and path). */
  readonly seen: Array<{ status: number; path: string; body: string }> = [];
  readonly channel = `tessera-test-${Math.random()}`;

  tab(url = '/', storage = new MemoryStorage()): Tab {
    return new Tab(this, url, storage);
  }

  async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    // UserAgent takes plain header objects.
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const res = await this.agent.request(new URL(String(input), s.bffUrl), { ...init, headers });
    this.seen.push({ status: res.status, path: new URL(String(input), s.bffUrl).pathname, body: await res.clone().text() });
    return res;
  }
}

class Tab {
  readonly navigations: string[] = [];
  sdk: TesseraSession;
  constructor(readonly browser: Browser, public url: string, readonly storage: MemoryStorage) {
    this.sdk = this.open();
  }

  /** A page load at the tab's address: a new SDK instance, as a reload would make. */
  open(): TesseraSession {
    this.sdk = new TesseraSession({
      fetch: (input, init) => this.browser.fetch(input, init),
      navigate: (u) => this.navigations.push(u),
      currentUrl: () => this.url,
      storage: this.storage,
      channelName: this.browser.channel,
    });
    return this.sdk;
  }

  /**
   * Follows the last navigation through the BFF's /bff/login and the hosted
   * pages (password, then TOTP when asked), back to the BFF's callback, which
   * redirects to returnTo; then "loads" that page.
   */
  async completeSignIn(opts: { mfa?: boolean } = {}): Promise<string> {
    const start = await this.browser.agent.get(new URL(this.navigations.at(-1)!, s.bffUrl));
    expect(start.status).toBe(302);
    const callback = await signInThrough(this.browser.agent, start.headers.get('location')!, s.platform.issuer, USER,
      opts.mfa ? { mfa: totpHandler(authenticator) } : {});
    const back = await this.browser.agent.get(`${s.bffUrl}${callback.pathname}${callback.search}`);
    expect(back.status).toBe(303);
    this.url = back.headers.get('location')!;
    this.sdk.close();
    this.open();
    return this.url;
  }
}

describe('init, state and sign-in', () => {
  test('signed out: the state says so and whenAuthenticated({ signIn }) goes to sign in with the exact deep link', async () => {
    const tab = new Browser().tab('/#/orders/7?tab=history');
    expect(tab.sdk.state.status).toBe('loading');
    const state = await tab.sdk.init();
    expect(state.status).toBe('unauthenticated');
    void tab.sdk.whenAuthenticated({ signIn: true });
    await expect.poll(() => tab.navigations.length).toBe(1);
    const login = new URL(tab.navigations[0]!, 'http://x');
    expect(login.pathname).toBe('/bff/login');
    expect(login.searchParams.get('returnTo')).toBe('/#/orders/7?tab=history');
    // No API call was made while signed out: only the session read.
    expect(tab.browser.seen.map((r) => r.path)).toEqual(['/bff/user']);

    const landed = await tab.completeSignIn();
    expect(landed).toBe('/#/orders/7?tab=history');
    const me = await tab.sdk.init();
    expect(me).toMatchObject({ status: 'authenticated', tenant: 'default', acr: 'urn:tessera:acr:pwd' });
    expect(me.sub).toMatch(/.+/);
    expect(me.scopes).toEqual(expect.arrayContaining(['read', 'write']));
    expect(me.amr).toContain('pwd');
    expect(me.claims.email).toBe('alice@example.test');
    expect(tab.sdk.hasScope('read')).toBe(true);
    expect(tab.sdk.hasRole('payouts')).toBe(false);
  });

  test('the state is read-only and shared by everything on the page; subscribers hear changes', async () => {
    const tab = new Browser().tab('/');
    const seen: SessionState['status'][] = [];
    tab.sdk.subscribe((st) => seen.push(st.status));
    await tab.sdk.init();
    expect(seen).toEqual(['loading', 'unauthenticated']);
    expect(Object.isFrozen(tab.sdk.state)).toBe(true);
    expect(Object.isFrozen(tab.sdk.state.roles)).toBe(true);
    expect(() => { (tab.sdk.state as { status: string }).status = 'authenticated'; }).toThrow(TypeError);
  });

  test('login() refuses a returnTo that leaves the origin', () => {
    const tab = new Browser().tab('/');
    expect(() => tab.sdk.login({ returnTo: 'https://evil.test/' })).toThrow(TypeError);
    expect(() => tab.sdk.login({ returnTo: '//evil.test/' })).toThrow(TypeError);
    expect(tab.navigations).toEqual([]);
  });
});

describe('fetch', () => {
  async function signedInTab(url = '/#/orders'): Promise<Tab> {
    const tab = new Browser().tab(url);
    await tab.sdk.init();
    void tab.sdk.login();
    await tab.completeSignIn();
    await tab.sdk.init();
    return tab;
  }

  test('adds the CSRF header to state-changing calls (the BFF refuses them without)', async () => {
    const tab = await signedInTab();
    const res = await tab.sdk.fetch('/api/items', { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(201);
    const bare = await tab.browser.fetch('/api/items', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(bare.status).toBe(403);
  });

  test('a step-up challenge sends the user through a second factor, lands on the same page and replays the call once', async () => {
    const tab = await signedInTab('/#/orders/7?tab=history');
    const before = s.api.requests.filter((r) => r.url === '/v1/payouts').length;
    void tab.sdk.fetch('/api/payouts', { method: 'POST', body: '{"amount":42}', headers: { 'content-type': 'application/json' }, replayKey: 'payout' });
    await expect.poll(() => tab.navigations.length).toBe(2);
    const login = new URL(tab.navigations.at(-1)!, 'http://x');
    expect(login.searchParams.get('acr_values')).toBe('urn:tessera:acr:mfa');
    expect(login.searchParams.get('returnTo')).toBe('/#/orders/7?tab=history');
    expect(tab.browser.seen.at(-1)).toMatchObject({ status: 401, path: '/api/payouts' });

    expect(await tab.completeSignIn({ mfa: true })).toBe('/#/orders/7?tab=history');
    const state = await tab.sdk.init();
    expect(state.acr).toBe('urn:tessera:acr:mfa');
    expect(state.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));
    const replayed = await tab.sdk.takeReplayed('payout');
    expect(replayed?.status).toBe(201);
    expect(await replayed!.json()).toMatchObject({ body: '{"amount":42}' });
    // Exactly one more call reached the API: the replay (the first was refused by the challenge).
    expect(s.api.requests.filter((r) => r.url === '/v1/payouts').length - before).toBe(2);
    expect(await tab.sdk.takeReplayed('payout')).toBeUndefined();
  });

  test('a replay that is refused again comes back to the app instead of looping', async () => {
    const tab = await signedInTab('/#/p');
    void tab.sdk.fetch('/api/payouts', { method: 'POST', body: '{}', replayKey: 'p' });
    await expect.poll(() => tab.navigations.length).toBe(2);
    // The user signs in again but without the second factor (a password-only sign-in).
    const start = await tab.browser.agent.get(new URL('/bff/login?returnTo=%2F%23%2Fp', s.bffUrl));
    const callback = await signInThrough(tab.browser.agent, start.headers.get('location')!, s.platform.issuer, USER);
    await tab.browser.agent.get(`${s.bffUrl}${callback.pathname}${callback.search}`);
    tab.open();
    const replayed = await tab.sdk.takeReplayed('p');
    expect(replayed?.status).toBe(401);
    expect(tab.navigations.length).toBe(2);
  });

  test('401 login_required (the session ended) marks the page signed out and starts a sign-in', async () => {
    const tab = await signedInTab('/#/orders');
    for (const key of s.store.keys()) await s.store.delete(key);
    const changes: string[] = [];
    tab.sdk.addEventListener('change', (e) => changes.push((e as CustomEvent<SessionState>).detail.status));
    void tab.sdk.fetch('/api/orders');
    await expect.poll(() => tab.navigations.length).toBe(2);
    expect(tab.browser.seen.at(-1)).toMatchObject({ status: 401, path: '/api/orders' });
    expect(JSON.parse(tab.browser.seen.at(-1)!.body)).toMatchObject({ error: 'login_required' });
    expect(changes).toEqual(['unauthenticated']);
    expect(new URL(tab.navigations.at(-1)!, 'http://x').searchParams.get('returnTo')).toBe('/#/orders');
  });

  test('other answers, including the API\'s own 401 invalid_token, come back untouched without a sign-in', async () => {
    const tab = await signedInTab();
    expect((await tab.sdk.fetch('/api/a%2Fb')).status).toBe(400);
    // The BFF renews once and replays once; the second refusal is the API's answer to the app.
    s.api.refuseNext(2);
    const refused = await tab.sdk.fetch('/api/orders');
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ error: 'invalid_token' });
    expect(tab.navigations.length).toBe(1);
    expect(tab.sdk.state.status).toBe('authenticated');
  });
});

describe('logout across tabs', () => {
  test('signing out in one tab clears the other at once; its next call is 401 login_required and leads to sign-in', async () => {
    const browser = new Browser();
    const a = browser.tab('/#/orders');
    await a.sdk.init();
    void a.sdk.login();
    await a.completeSignIn();
    await a.sdk.init();
    const b = browser.tab('/#/profile');
    const seenByB: string[] = [];
    b.sdk.subscribe((st) => seenByB.push(st.status));
    expect((await b.sdk.init()).status).toBe('authenticated');

    const startedAt = Date.now();
    void a.sdk.logout();
    await expect.poll(() => b.sdk.state.status, { timeout: 1000 }).toBe('unauthenticated');
    expect(Date.now() - startedAt).toBeLessThan(1000);
    expect(seenByB.at(-1)).toBe('unauthenticated');
    // Tab A goes on to the platform's sign-out, for the platform session.
    await expect.poll(() => a.navigations.length).toBe(2);
    expect(new URL(a.navigations.at(-1)!).pathname).toBe('/oidc/session/end');

    void b.sdk.fetch('/api/orders');
    await expect.poll(() => b.navigations.length).toBe(1);
    expect(browser.seen.at(-1)).toMatchObject({ status: 401, path: '/api/orders' });
    expect(JSON.parse(browser.seen.at(-1)!.body)).toMatchObject({ error: 'login_required' });
    a.sdk.close();
    b.sdk.close();
  });

  test('a sign-in in one tab is picked up by the other', async () => {
    const browser = new Browser();
    const a = browser.tab('/');
    const b = browser.tab('/');
    expect((await b.sdk.init()).status).toBe('unauthenticated');
    await a.sdk.init();
    void a.sdk.login();
    await a.completeSignIn();
    await a.sdk.init();
    await expect.poll(() => b.sdk.state.status, { timeout: 1000 }).toBe('authenticated');
    a.sdk.close();
    b.sdk.close();
  });
});
