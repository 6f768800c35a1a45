import { describe, expect, test } from 'vitest';
import { authorize } from './policy.js';
import type { RoutePolicy } from './policy.js';
import { contextFromClaims } from './token.js';
import { RateLimiter } from './rate-limit.js';
import { bearerChallenge } from './answers.js';
import { bearerToken } from './handler.js';

const LEVELS = ['urn:pwd', 'urn:mfa'];
const token = (extra: Record<string, unknown> = {}) => contextFromClaims({ sub: 'u1', tenant: 't1', client_id: 'c1', exp: 2e9, scope: 'read write', ...extra })!;
const policy = (p: Partial<RoutePolicy>): RoutePolicy => ({ scopes: [], roles: [], clients: undefined, acr: undefined, acrRank: -1, maxAge: undefined, ...p });
const NOW = 1_900_000_000;

describe('route policy', () => {
  test('scopes: every listed scope is needed', () => {
    expect(authorize(policy({ scopes: ['read'] }), token(), LEVELS, NOW).ok).toBe(true);
    expect(authorize(policy({ scopes: ['read', 'admin'] }), token(), LEVELS, NOW)).toMatchObject({ ok: false, error: 'insufficient_scope', scope: 'read admin' });
  });

  test('roles: any listed role is enough', () => {
    expect(authorize(policy({ roles: ['admin', 'editor'] }), token({ roles: ['editor'] }), LEVELS, NOW).ok).toBe(true);
    expect(authorize(policy({ roles: ['admin'] }), token({ roles: ['editor'] }), LEVELS, NOW)).toMatchObject({ ok: false, error: 'insufficient_scope' });
  });

  test('acr: stronger levels satisfy weaker requirements; missing or unknown acr asks for a step-up', () => {
    const needsPwd = policy({ acr: 'urn:pwd', acrRank: 0 });
    const needsMfa = policy({ acr: 'urn:mfa', acrRank: 1 });
    expect(authorize(needsPwd, token({ acr: 'urn:mfa' }), LEVELS, NOW).ok).toBe(true);
    expect(authorize(needsMfa, token({ acr: 'urn:pwd' }), LEVELS, NOW)).toEqual({ ok: false, error: 'insufficient_user_authentication', description: expect.any(String), acrValues: 'urn:mfa' });
    expect(authorize(needsPwd, token({ acr: 'urn:other' }), LEVELS, NOW)).toMatchObject({ acrValues: 'urn:pwd urn:mfa' });
    expect(authorize(needsPwd, token(), LEVELS, NOW).ok).toBe(false);
  });

  test('a missing scope is reported before a step-up (signing in again would not help)', () => {
    expect(authorize(policy({ scopes: ['admin'], acr: 'urn:mfa', acrRank: 1 }), token(), LEVELS, NOW)).toMatchObject({ error: 'insufficient_scope' });
  });

  test('max_age (RFC 9470): a sign-in too long ago, or of unknown age, asks for a fresh one', () => {
    const recent = policy({ maxAge: 300 });
    expect(authorize(recent, token({ auth_time: NOW - 100 }), LEVELS, NOW).ok).toBe(true);
    expect(authorize(recent, token({ auth_time: NOW - 301 }), LEVELS, NOW)).toEqual({ ok: false, error: 'insufficient_user_authentication', description: expect.any(String), maxAge: 300 });
    expect(authorize(recent, token(), LEVELS, NOW)).toMatchObject({ maxAge: 300 });
    expect(authorize(policy({ maxAge: 300, acr: 'urn:mfa', acrRank: 1 }), token({ acr: 'urn:mfa', auth_time: NOW - 900 }), LEVELS, NOW))
      .toMatchObject({ maxAge: 300, acrValues: 'urn:mfa' });
  });

  test('clients allow-list', () => {
    expect(authorize(policy({ clients: new Set(['c2']) }), token(), LEVELS, NOW)).toMatchObject({ ok: false, error: 'insufficient_scope' });
  });
});

describe('claims that travel in headers', () => {
  test.each([
    ['sub with a line break', { sub: 'a\r\nx-tessera-tenant: evil' }],
    ['tenant with a space', { tenant: 'a b' }],
    ['missing tenant', { tenant: undefined }],
    ['roles not strings', { roles: [1] }],
    ['acr not a string', { acr: 5 }],
    ['scope with a double space', { scope: 'a  b' }],
    ['no exp', { exp: undefined }],
    ['auth_time not a number', { auth_time: 'yesterday' }],
  ])('%s: refused', (_n, extra) => {
    expect(token(extra as Record<string, unknown>)).toBeUndefined();
  });
});

describe('rate limiter', () => {
  test('a bucket of perMinute requests, refilled continuously; Retry-After in whole seconds', () => {
    let now = 0;
    const rl = new RateLimiter({ now: () => now });
    for (let i = 0; i < 3; i++) expect(rl.take('k', 3)).toBe(0);
    expect(rl.take('k', 3)).toBe(20);
    now += 20_000;
    expect(rl.take('k', 3)).toBe(0);
    expect(rl.take('other', 3)).toBe(0);
  });
});

describe('RFC 6750 syntax', () => {
  test('bearerToken', () => {
    expect(bearerToken(undefined)).toBeUndefined();
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('Bearer')).toBe('');
    expect(bearerToken('Bearer   abc ')).toBe('abc');
  });

  test('challenge parameters never carry quotes or control characters', () => {
    expect(bearerChallenge({ error: 'invalid_token' }, 'a "quoted"\r\n\\ text')).toBe('Bearer realm="tessera", error="invalid_token", error_description="a quoted text"');
  });
});
