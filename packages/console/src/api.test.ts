import { describe, expect, test } from 'vitest';
import { parseChallenge, qs } from './api';

describe('parseChallenge (WWW-Authenticate, RFC 9110 §11.6.1)', () => {
  test('the admin API\'s step-up challenge (RFC 9470)', () => {
    const c = parseChallenge('Bearer error="insufficient_user_authentication", error_description="This operation needs a recent multi-factor sign-in.", acr_values="urn:tessera:acr:mfa", max_age=600');
    expect(c.scheme).toBe('bearer');
    expect(c.error).toBe('insufficient_user_authentication');
    expect(c.params.acr_values).toBe('urn:tessera:acr:mfa');
    expect(c.params.max_age).toBe('600');
    expect(c.params.error_description).toBe('This operation needs a recent multi-factor sign-in.');
  });

  test('folded whitespace, escapes and commas inside quoted strings, case-insensitive names', () => {
    const c = parseChallenge('  bearer   ERROR = "invalid_token" ,error_description="a, \\"quoted\\" word",\n MAX_AGE = 30 ');
    expect(c.error).toBe('invalid_token');
    expect(c.params.error_description).toBe('a, "quoted" word');
    expect(c.params.max_age).toBe('30');
  });

  test('no error (a request without a token), nothing at all', () => {
    expect(parseChallenge('Bearer realm="tessera-admin"')).toEqual({ scheme: 'bearer', params: { realm: 'tessera-admin' } });
    expect(parseChallenge(null)).toEqual({ scheme: '', params: {} });
    expect(parseChallenge('')).toEqual({ scheme: '', params: {} });
  });
});

test('qs keeps only the values given', () => {
  expect(qs({ email: 'a@b.c', status: '', cursor: undefined, limit: 25 })).toBe('?email=a%40b.c&limit=25');
  expect(qs({ a: null })).toBe('');
});
