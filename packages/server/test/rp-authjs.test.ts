import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Auth } from '@auth/core';
import type { AuthConfig } from '@auth/core';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { signInThrough } from './helpers/flows.js';
import { CONF_SECRET, USER } from './fixtures.js';

/**
 * Auth.js (`@auth/core`, what NextAuth and SvelteKitAuth run on) as a relying
 * party of Tessera, with the settings of docs/relying-parties.md. Auth.js
 * builds its user from the ID token only, so the client has
 * `id_token_claims: true`; the app's origin is served in-process.
 */

const APP = 'http://authjs.test';
let t: TestApp;
let config: AuthConfig;

beforeAll(async () => {
  t = await startTestApp({
    config: {
      clients: [
        { client_id: 'authjs', client_secret: CONF_SECRET, redirect_uris: [`${APP}/auth/callback/tessera`], first_party: true, id_token_claims: true },
        { client_id: 'authjs-plain', client_secret: CONF_SECRET, redirect_uris: [`${APP}/auth/callback/tessera`], first_party: true },
      ],
      users: [{ ...USER, email: 'alice@example.test', email_verified: true, given_name: 'Alice', family_name: 'Liddell' }],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

/** The recipe: an OIDC provider with Tessera's issuer; Auth.js uses PKCE, state and nonce. */
function authConfig(clientId: string): AuthConfig {
  return {
    basePath: '/auth',
    trustHost: true,
    secret: 'authjs-test-secret-0123456789-abcdefghijklmnop',
    providers: [{
      id: 'tessera', name: 'Tessera', type: 'oidc', issuer: t.issuer,
      clientId, clientSecret: CONF_SECRET,
      checks: ['pkce', 'state', 'nonce'],
      authorization: { params: { scope: 'openid profile email' } },
    }],
  };
}

/** A browser whose requests to the app's origin are answered by Auth.js in this process. */
function browser(): UserAgent {
  return new UserAgent({}, async (input, init) => {
    const url = new URL(String(input));
    if (url.origin !== APP) return fetch(input, init);
    return Auth(new Request(url, { ...init, redirect: 'manual' }), config);
  });
}

async function signIn(clientId: string): Promise<Record<string, unknown>> {
  config = authConfig(clientId);
  const agent = browser();
  const csrf = (await (await agent.get(`${APP}/auth/csrf`)).json() as { csrfToken: string }).csrfToken;
  const start = await agent.post(`${APP}/auth/signin/tessera`, { csrfToken: csrf, callbackUrl: `${APP}/dashboard` });
  expect(start.status).toBe(302);
  const authorize = new URL(start.headers.get('location')!);
  expect(authorize.origin).toBe(t.issuer);
  expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
  const callback = await signInThrough(agent, authorize, t.issuer, USER);
  const done = await agent.get(callback);
  expect(done.status).toBe(302);
  expect(done.headers.get('location')).toBe(`${APP}/dashboard`);
  return await (await agent.get(`${APP}/auth/session`)).json() as Record<string, unknown>;
}

describe('Auth.js', () => {
  test('signs in and shows the user\'s name and email (from the ID token: id_token_claims)', async () => {
    const session = await signIn('authjs');
    expect(session.user).toEqual({ name: 'Alice Liddell', email: 'alice@example.test' });
  });

  test('without id_token_claims, Auth.js sees no name or email (why the recipe sets it)', async () => {
    const session = await signIn('authjs-plain');
    expect(session.user).toEqual({});
  });
});
