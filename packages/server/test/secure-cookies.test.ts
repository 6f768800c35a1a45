import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { signInThrough } from './helpers/flows.js';
import { REDIRECT, USER, baseConfig } from './fixtures.js';

/**
 * Issue 17 item 3: with an https issuer, every cookie Tessera or the engine
 * sets is Secure, also when a proxy terminates TLS and forwards plain HTTP,
 * whether or not TESSERA_TRUST_PROXY is set (and whatever X-Forwarded-Proto
 * says). The server here listens on plain HTTP, as behind such a proxy; the
 * browser speaks to its https address through a transport that stands in
 * for the proxy.
 */
interface Seen { url: string; cookie: string }

async function browse(t: TestApp, https: string, forwardedProto?: string): Promise<Seen[]> {
  const seen: Seen[] = [];
  // The "proxy": https://host:port → http://host:port, optionally adding X-Forwarded-Proto.
  const transport: typeof fetch = async (input, init) => {
    const url = String(input).replace(https, t.issuer);
    const headers = { ...(init?.headers as Record<string, string>), ...(forwardedProto ? { 'x-forwarded-proto': forwardedProto } : {}) };
    const res = await fetch(url, { ...init, headers });
    for (const cookie of res.headers.getSetCookie()) seen.push({ url, cookie });
    return res;
  };
  const agent = new UserAgent({}, transport);
  const auth = new URL(`${https}/oidc/auth`);
  auth.search = new URLSearchParams({
    client_id: 'spa', redirect_uri: REDIRECT, response_type: 'code', scope: 'openid',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 's1',
  }).toString();
  const callback = await signInThrough(agent, auth, https, USER);
  expect(callback.searchParams.get('code')).toBeTruthy();
  // Tessera's own pages: the account area signs in through the engine too (its cookies), and a form page sets the CSRF cookie.
  await agent.follow(await agent.get(`${https}/account`), `${https}/account`);
  await agent.get(`${https}/password/forgot`);
  return seen;
}

for (const trustProxy of [false, true]) {
  describe(`https issuer behind a TLS-terminating proxy (TESSERA_TRUST_PROXY=${trustProxy})`, () => {
    let t: TestApp;
    let https: string;
    beforeAll(async () => {
      const port = await freePort();
      https = `https://127.0.0.1:${port}`;
      t = await startTestApp({ config: baseConfig, env: { PORT: String(port), TESSERA_ISSUER: https, TESSERA_TRUST_PROXY: String(trustProxy) } });
      // startTestApp's issuer is the address it listens on (http); the public one is `https`.
      t.issuer = `http://127.0.0.1:${port}`;
    });
    afterAll(async () => {
      await t?.close();
    });

    test('every cookie set during sign-in, on the engine and Tessera\'s pages, is Secure', async () => {
      const seen = await browse(t, https, trustProxy ? 'http' : undefined);
      const names = new Set(seen.map((s) => s.cookie.split('=')[0]));
      // The engine's interaction and session cookies and Tessera's own were all set.
      for (const name of ['_interaction', '_interaction_resume', '_session']) expect(names, [...names].join(' ')).toContain(name);
      expect([...names].some((n) => n!.includes('tessera_csrf'))).toBe(true);
      const insecure = seen.filter((s) => !/;\s*secure/i.test(s.cookie));
      expect(insecure.map((s) => `${s.url}: ${s.cookie.split(';')[0]!.split('=')[0]}`)).toEqual([]);
    });
  });
}

describe('http issuer (development)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: baseConfig });
  });
  afterAll(async () => {
    await t?.close();
  });

  test('cookies are not Secure on a plain-http issuer (they would never come back)', async () => {
    const seen = await browse(t, t.issuer);
    expect(seen.length).toBeGreaterThan(3);
    expect(seen.filter((s) => /;\s*secure/i.test(s.cookie))).toEqual([]);
  });
});
