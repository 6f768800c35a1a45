import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BffConfigError, loadBffConfig } from '../src/config.js';
import { scriptAgent, setCookieLine, startStack } from './helpers/stack.js';
import type { Stack } from './helpers/stack.js';

const BASE = {
  BFF_ISSUER: 'https://id.example.com',
  BFF_CLIENT_ID: 'bff',
  BFF_CLIENT_SECRET: 'x'.repeat(32),
  BFF_REDIRECT_URI: 'https://app.example.com/bff/callback',
  BFF_API_BASE: 'https://gateway.example.com/',
};

function problems(env: Record<string, string | undefined>): string[] {
  try {
    loadBffConfig(env);
  } catch (err) {
    if (err instanceof BffConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration', () => {
  test('defaults, derived values, and Secure cookies from an https redirect URI', () => {
    const c = loadBffConfig({ ...BASE, PATH: '/usr/bin', BFF_RESOURCE: 'https://api.example.com' });
    expect(c).toMatchObject({
      scope: 'openid profile email', port: 4000, host: '0.0.0.0', renewBeforeSeconds: 30, sessionTtlSeconds: 28800,
      cookieSecure: true, allowInsecureIssuer: false, apiBase: 'https://gateway.example.com',
      publicOrigin: 'https://app.example.com', callbackPath: '/bff/callback', clientAuth: 'client_secret_basic',
      resource: 'https://api.example.com', postLogoutRedirectUri: undefined,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  test('every missing or malformed variable is listed by name', () => {
    const list = problems({ BFF_ISSUER: 'not a url', BFF_CLIENT_SECRET: 'short', BFF_SCOPE: 'profile', BFF_PORT: 'x' });
    for (const name of ['BFF_ISSUER', 'BFF_CLIENT_ID', 'BFF_CLIENT_SECRET', 'BFF_REDIRECT_URI', 'BFF_API_BASE', 'BFF_SCOPE', 'BFF_PORT']) {
      expect(list.some((p) => p.startsWith(`${name}:`)), name).toBe(true);
    }
  });

  test('plain http to the issuer only on loopback, or with BFF_ALLOW_INSECURE_ISSUER', () => {
    for (const issuer of ['http://localhost:3000', 'http://127.0.0.1:3000', 'http://[::1]:3000']) {
      expect(loadBffConfig({ ...BASE, BFF_ISSUER: issuer }).allowInsecureIssuer).toBe(true);
    }
    expect(problems({ ...BASE, BFF_ISSUER: 'http://id.internal:3000' })).toEqual([expect.stringContaining('BFF_ISSUER: must be https')]);
    expect(loadBffConfig({ ...BASE, BFF_ISSUER: 'http://id.internal:3000', BFF_ALLOW_INSECURE_ISSUER: 'true' }).allowInsecureIssuer).toBe(true);
  });

  test('cookies cannot be made non-Secure on an https site; http sites get plain cookies', () => {
    expect(problems({ ...BASE, BFF_COOKIE_SECURE: 'false' })).toEqual([expect.stringContaining('BFF_COOKIE_SECURE')]);
    expect(loadBffConfig({ ...BASE, BFF_REDIRECT_URI: 'http://localhost:4000/bff/callback' }).cookieSecure).toBe(false);
    expect(loadBffConfig({ ...BASE, BFF_REDIRECT_URI: 'http://localhost:4000/bff/callback', BFF_COOKIE_SECURE: 'true' }).cookieSecure).toBe(true);
  });

  test('empty variables count as unset', () => {
    expect(loadBffConfig({ ...BASE, BFF_RESOURCE: '', BFF_SCOPE: '' }).scope).toBe('openid profile email');
  });
});

describe('cookies of an https deployment', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ https: true, host: 'localhost' });
  });
  afterAll(async () => {
    await s?.close();
  });

  test('__Host- prefixed, Secure, HttpOnly, SameSite=Lax, Path=/, no Domain', async () => {
    const agent = scriptAgent();
    const login = await agent.get(`${s.bffUrl}/bff/login`);
    expect(setCookieLine(login, '__Host-bff-login')).toMatch(/^__Host-bff-login=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Secure; Max-Age=600$/);
    const res = await s.signIn(agent);
    expect(res.status).toBe(303);
    const session = setCookieLine(res, '__Host-bff')!;
    expect(session).toMatch(/^__Host-bff=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Secure$/);
    expect(session).not.toMatch(/Domain/i);
    expect(setCookieLine(res, 'bff_session')).toBeUndefined();
    expect((await agent.get(`${s.bffUrl}/bff/user`)).status).toBe(200);
  });
});
