/**
 * Device authorization grant (RFC 8628), issue 21: openid-client plays the
 * TV or command-line tool (device authorization, polling), a UserAgent the
 * person's phone on the hosted /device page, which leads through the usual
 * sign-in with MFA and consent. Per-client opt-in, the confirmation naming the
 * client, cancelling, and the limit on wrong codes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { discover } from './helpers/flows.js';
import type { MfaHandler } from './helpers/flows.js';
import { hiddenInputs } from './helpers/forms.js';
import { enrollHandler } from './helpers/mfa.js';
import { USER, baseConfig } from './fixtures.js';
import { ACR_MFA } from '../src/oidc/acr.js';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...baseConfig,
      clients: [
        ...baseConfig.clients,
        { client_id: 'tv', client_name: 'Living-room TV', token_endpoint_auth_method: 'none', grant_types: [DEVICE_GRANT, 'refresh_token'], scope: 'openid offline_access profile' },
        { client_id: 'cli', client_name: 'Ops CLI', token_endpoint_auth_method: 'none', grant_types: [DEVICE_GRANT], mfa: 'required', first_party: true, scope: 'openid profile' },
      ],
      users: [...baseConfig.users, { username: 'mallory', password: 'mallory-password-1234', email: 'mallory@example.test', email_verified: true }],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

/**
 * The person's side: open verification_uri_complete, submit the prefilled
 * code, confirm, then sign in (MFA, consent) until the "done" page.
 */
async function approveOnPhone(agent: UserAgent, link: string, creds: { username: string; password: string }, opts: { mfa?: MfaHandler; confirm?: boolean; consent?: boolean } = {}): Promise<string> {
  let page = await agent.get(link);
  expect(page.status).toBe(200);
  let html = await page.text();
  expect(html).toContain('name="user_code"');
  page = await agent.post(new URL(formAction(html, '/device'), t.issuer), hiddenInputs(html) as Record<string, string> & { user_code: string });
  html = await page.text();
  return continueAfterCode(agent, html, creds, opts);
}

async function continueAfterCode(agent: UserAgent, confirmHtml: string, creds: { username: string; password: string }, opts: { mfa?: MfaHandler; confirm?: boolean; consent?: boolean }): Promise<string> {
  const forms = [...confirmHtml.matchAll(/<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/g)];
  const chosen = forms.find((f) => f[2]!.includes(opts.confirm === false ? 'name="abort"' : 'name="confirm"'))!;
  let { res, url } = await agent.follow(await agent.post(new URL(chosen[1]!, t.issuer), hiddenInputs(chosen[2]!)), t.issuer);
  for (let step = 0; step < 10; step++) {
    const html = await res.text();
    if (res.status !== 200) throw new Error(`unexpected ${res.status} at ${url}: ${html.slice(0, 300)}`);
    if (!url.includes('/interaction/')) return html;
    if (html.includes('autocomplete="current-password"')) {
      const action = new URL(formAction(html, '/login'), t.issuer);
      ({ res, url } = await agent.follow(await agent.post(action, creds), action.href));
    } else if (/action="\/interaction\/[^"]+\/mfa\//.test(html)) {
      ({ res, url } = await agent.follow(await opts.mfa!(html, url, agent), url));
    } else if (html.includes('/confirm')) {
      const action = new URL(formAction(html, opts.consent === false ? '/abort' : '/confirm'), t.issuer);
      ({ res, url } = await agent.follow(await agent.post(action, {}), action.href));
    } else {
      throw new Error(`unexpected page at ${url}: ${html.slice(0, 300)}`);
    }
  }
  throw new Error('no end');
}

async function errorOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as { error?: string }).error ?? String(err);
  }
}

describe('device authorization (RFC 8628)', () => {
  test('discovery names the endpoint and the grant', async () => {
    const meta = await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(meta.device_authorization_endpoint).toBe(`${t.issuer}/oidc/device/auth`);
    expect(meta.grant_types_supported).toContain(DEVICE_GRANT);
  });

  test('a code posted without the page session (no cookie, forged form) is sent back to a fresh page, not a 500', async () => {
    for (const body of ['user_code=BCDF-GHJK&xsrf=forged', 'hello']) {
      const res = await fetch(`${t.issuer}/device`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, redirect: 'manual' });
      expect(res.status).toBe(303);
      expect(new URL(res.headers.get('location')!, t.issuer).href).toBe(`${t.issuer}/device`);
    }
  });

  test('a client that does not list the grant cannot start it', async () => {
    const config = await discover(t.issuer, { clientId: 'spa' });
    // As for every grant a client does not list (docs/protocol.md#grants-and-client-authentication).
    expect(await errorOf(oidc.initiateDeviceAuthorization(config, { scope: 'openid' }))).toBe('invalid_request');
  });

  test('TV: code entered on the phone, confirmed, signed in with consent; the device polls and gets tokens', async () => {
    const config = await discover(t.issuer, { clientId: 'tv' });
    const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid offline_access profile' });
    expect(device.verification_uri).toBe(`${t.issuer}/device`);
    expect(device.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(device.expires_in).toBeGreaterThan(500);
    // Before anyone approves, the device is told to keep waiting.
    const early = await fetch(`${t.issuer}/oidc/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: device.device_code, client_id: 'tv' }),
    });
    expect(((await early.json()) as { error: string }).error).toBe('authorization_pending');

    const agent = new UserAgent();
    const page = await agent.get(device.verification_uri_complete!);
    const entry = await page.text();
    expect(entry).toContain(`value="${device.user_code}"`);
    const confirm = await agent.post(new URL(formAction(entry, '/device'), t.issuer), hiddenInputs(entry));
    const confirmHtml = await confirm.text();
    // The confirmation names the client and shows the code, so a person handed someone else's code sees whose it is.
    expect(confirmHtml).toContain('Sign in on Living-room TV?');
    expect(confirmHtml).toContain(device.user_code);
    const done = await continueAfterCode(agent, confirmHtml, USER, {});
    expect(done).toContain('You are signed in on Living-room TV');

    const tokens = await oidc.pollDeviceAuthorizationGrant(config, device);
    expect(tokens.claims()!.sub).toBeTruthy();
    expect(tokens.refresh_token).toBeTruthy();
    expect((await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub)).preferred_username).toBe('alice');
    // The device code is used up.
    expect(await errorOf(oidc.pollDeviceAuthorizationGrant(config, { ...device, interval: 0 }))).toBe('invalid_grant');
  });

  test('CLI with mfa: required: the sign-in behind the device code includes MFA; the ID token says so', async () => {
    const config = await discover(t.issuer, { clientId: 'cli' });
    const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile', acr_values: ACR_MFA });
    const enrolled: Parameters<typeof enrollHandler>[0] = {};
    const done = await approveOnPhone(new UserAgent(), device.verification_uri_complete!, { username: 'mallory', password: 'mallory-password-1234' }, { mfa: enrollHandler(enrolled) });
    expect(done).toContain('Ops CLI');
    expect(enrolled.authenticator).toBeTruthy();
    const tokens = await oidc.pollDeviceAuthorizationGrant(config, device);
    expect(tokens.claims()!.acr).toBe(ACR_MFA);
    expect(tokens.claims()!.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));
  });

  test('cancelled on the phone (abort on the confirmation, or consent denied): the device gets access_denied', async () => {
    const config = await discover(t.issuer, { clientId: 'tv' });
    const a = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
    const aborted = await approveOnPhone(new UserAgent(), a.verification_uri_complete!, USER, { confirm: false });
    expect(aborted).toContain('cancelled');
    expect(await errorOf(oidc.pollDeviceAuthorizationGrant(config, a))).toBe('access_denied');

    const b = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
    await approveOnPhone(new UserAgent(), b.verification_uri_complete!, USER, { consent: false });
    expect(await errorOf(oidc.pollDeviceAuthorizationGrant(config, b))).toBe('access_denied');
  });

  // Last: it uses up this address's allowance of wrong codes for a minute.
  test('wrong codes: "not valid" each time; after 10 in a minute the page refuses (429) even a right one', async () => {
    const config = await discover(t.issuer, { clientId: 'tv' });
    const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
    const agent = new UserAgent();
    // Each answer is a new form (with a new CSRF token), as a browser would submit it.
    let entry = await (await agent.get(`${t.issuer}/device`)).text();
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await agent.post(`${t.issuer}/device`, { ...hiddenInputs(entry), user_code: 'BBBB-BBBB' });
      statuses.push(res.status);
      entry = await res.text();
      expect(entry).toContain('This code is not valid or has expired');
    }
    expect(statuses).toEqual(Array(10).fill(200));
    const blocked = await agent.post(`${t.issuer}/device`, { ...hiddenInputs(entry), user_code: device.user_code });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBe('60');
    expect(await blocked.text()).toContain('Too many wrong codes');
  });
});
