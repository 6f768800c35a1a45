/**
 * The cross-site check on form POSTs (and the passkey JSON endpoints) behind
 * a load balancer that rewrites `Host`: `Origin` is compared with the
 * issuer's origin and TESSERA_FORM_ORIGINS, never with `Host`. Requests go
 * over real HTTP with the rewritten `Host` a balancer sends (fetch cannot set
 * `Host`, so node:http carries them).
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as oidc from 'openid-client';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent, formAction } from './helpers/agent.js';
import { discover, signInThrough } from './helpers/flows.js';
import { REDIRECT, USER, baseConfig } from './fixtures.js';
import { loadSettings } from '../src/config/load.js';
import { ConfigError } from '../src/config/errors.js';

const BALANCER_HOST = '10.0.0.7:3000';

/** A fetch whose requests arrive with `Host` rewritten, as behind a balancer; POSTs carry `origin`. */
function behindBalancer(host: string, origin: string | undefined, site = 'same-origin'): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input));
    const headers: Record<string, string> = { ...(init.headers as Record<string, string>), host };
    if (init.method === 'POST') {
      if (origin) headers.origin = origin;
      headers['sec-fetch-site'] = site;
    }
    return new Promise<Response>((resolve, reject) => {
      const req = httpRequest(url, { method: init.method ?? 'GET', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (let i = 0; i < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
          const body = [204, 304].includes(res.statusCode!) ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status: res.statusCode, headers: h }));
        });
      });
      req.on('error', reject);
      if (init.body) req.write(String(init.body));
      req.end();
    });
  }) as typeof fetch;
}

async function loginPage(t: TestApp, agent: UserAgent): Promise<URL> {
  const url = oidc.buildAuthorizationUrl(await discover(t.issuer, { clientId: 'spa' }), {
    redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256', state: 'st',
  });
  const { res } = await agent.follow(await agent.get(url), url.href);
  return new URL(formAction(await res.text(), '/login'), t.issuer);
}

const EXTRA = 'https://login.example.test';
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ config: baseConfig, env: { TESSERA_FORM_ORIGINS: `${EXTRA}/, https://other.example.test:8443` } });
});
afterAll(async () => {
  await t?.close();
});

describe('behind a balancer that rewrites Host', () => {
  test('a sign-in posted from the issuer\'s origin works although Host is the instance\'s address', async () => {
    const agent = new UserAgent({}, behindBalancer(BALANCER_HOST, t.issuer));
    const authUrl = oidc.buildAuthorizationUrl(await discover(t.issuer, { clientId: 'spa' }), {
      redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256', state: 'st',
    });
    const callback = await signInThrough(agent, authUrl, t.issuer, USER);
    expect(callback.href).toContain(REDIRECT);
    expect(callback.searchParams.get('error'), callback.href).toBeNull();
    expect(callback.searchParams.get('code')).toBeTruthy();
  });

  test('an Origin equal to the rewritten Host (not the issuer) is refused: 403 access_denied', async () => {
    const agent = new UserAgent({}, behindBalancer(BALANCER_HOST, `http://${BALANCER_HOST}`));
    const action = await loginPage(t, agent);
    const res = await agent.post(action, USER);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('access_denied');
  });

  test('another site is refused, whether its Origin or Sec-Fetch-Site says so', async () => {
    const evil = new UserAgent({}, behindBalancer(BALANCER_HOST, 'https://evil.example', 'same-origin'));
    expect((await evil.post(await loginPage(t, evil), USER)).status).toBe(403);
    const marked = new UserAgent({}, behindBalancer(BALANCER_HOST, t.issuer, 'cross-site'));
    expect((await marked.post(await loginPage(t, marked), USER)).status).toBe(403);
    const garbage = new UserAgent({}, behindBalancer(BALANCER_HOST, 'not a url'));
    expect((await garbage.post(await loginPage(t, garbage), USER)).status).toBe(403);
    // Same host, other scheme or port: another origin.
    const scheme = new UserAgent({}, behindBalancer(BALANCER_HOST, t.issuer.replace('http:', 'https:')));
    expect((await scheme.post(await loginPage(t, scheme), USER)).status).toBe(403);
  });

  test('origins listed in TESSERA_FORM_ORIGINS are accepted (normalised: trailing slash, case)', async () => {
    for (const origin of [EXTRA, 'HTTPS://LOGIN.example.test', 'https://other.example.test:8443']) {
      const agent = new UserAgent({}, behindBalancer(BALANCER_HOST, origin));
      const res = await agent.post(await loginPage(t, agent), USER);
      expect(res.status, origin).toBe(303);
    }
    const port = new UserAgent({}, behindBalancer(BALANCER_HOST, 'https://other.example.test'));
    expect((await port.post(await loginPage(t, port), USER)).status).toBe(403);
  });

  test('the passkey JSON endpoints follow the same rule', async () => {
    const ok = new UserAgent({}, behindBalancer(BALANCER_HOST, t.issuer));
    const action = await loginPage(t, ok);
    const options = new URL(action.pathname.replace(/\/login$/, '/passkey/options'), t.issuer);
    const fine = await ok.request(options, { method: 'POST' });
    expect(fine.status).toBe(200);
    expect(await fine.json()).toHaveProperty('challenge');
    const foreign = new UserAgent({}, behindBalancer(BALANCER_HOST, `http://${BALANCER_HOST}`));
    const action2 = await loginPage(t, foreign);
    const refused = await foreign.request(new URL(action2.pathname.replace(/\/login$/, '/passkey/options'), t.issuer), { method: 'POST' });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: 'access_denied' });
  });
});

test('TESSERA_FORM_ORIGINS takes origins only: a path, a query or another scheme is a configuration error', () => {
  for (const bad of ['https://a.example/path', 'https://a.example?x=1', 'ftp://a.example', 'a.example', 'https://user:pw@a.example']) {
    let err: unknown;
    try {
      loadSettings({ TESSERA_FORM_ORIGINS: bad });
    } catch (e) {
      err = e;
    }
    expect(err, bad).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message), bad).toContain('TESSERA_FORM_ORIGINS');
  }
  expect(loadSettings({ TESSERA_FORM_ORIGINS: 'https://a.example, http://b.example:8080/' }).formOrigins).toEqual(['https://a.example', 'http://b.example:8080/']);
});
