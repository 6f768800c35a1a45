import { describe, expect, test } from 'vitest';
import { parseBearerChallenge, readChallenge } from '../src/challenge.js';
import { PENDING_STORAGE_KEY, PENDING_TTL_MS, savePending, serialisableBody, takePending } from '../src/replay.js';

describe('WWW-Authenticate parsing (RFC 9110 §11.2, RFC 9470 §3)', () => {
  test('quoted and token values, case-insensitive scheme and names', () => {
    expect(parseBearerChallenge('Bearer error="insufficient_user_authentication", acr_values="urn:tessera:acr:mfa", max_age=300'))
      .toEqual({ error: 'insufficient_user_authentication', acr_values: 'urn:tessera:acr:mfa', max_age: '300' });
    expect(parseBearerChallenge('bearer ERROR="invalid_token"')).toEqual({ error: 'invalid_token' });
    expect(parseBearerChallenge('Basic realm="x", Bearer error="a\\"b"')).toEqual({ error: 'a"b' });
  });

  test('no Bearer challenge, or none at all', () => {
    expect(parseBearerChallenge(null)).toBeUndefined();
    expect(parseBearerChallenge('Basic realm="x"')).toBeUndefined();
    expect(parseBearerChallenge('Bearer')).toEqual({});
  });

  test('a 401 is classified from its header or its JSON body', async () => {
    const stepUp = new Response('{}', { status: 401, headers: { 'www-authenticate': 'Bearer error="insufficient_user_authentication", max_age=0' } });
    expect(await readChallenge(stepUp)).toEqual({ kind: 'step-up', maxAge: 0 });
    const login = new Response('{"error":"login_required"}', { status: 401, headers: { 'content-type': 'application/json' } });
    expect(await readChallenge(login)).toEqual({ kind: 'login' });
    // The caller can still read the body.
    expect(await login.json()).toEqual({ error: 'login_required' });
    const bad = new Response('{"error":"invalid_token"}', { status: 401, headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' } });
    expect(await readChallenge(bad)).toEqual({ kind: 'other' });
    const junk = new Response('not json', { status: 401, headers: { 'content-type': 'application/json' } });
    expect(await readChallenge(junk)).toEqual({ kind: 'other' });
    const weird = new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer error="insufficient_user_authentication", max_age=soon' } });
    expect(await readChallenge(weird)).toEqual({ kind: 'step-up' });
  });
});

describe('the pending request kept across a sign-in', () => {
  const storage = () => {
    const m = new Map<string, string>();
    return { m, getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
  };
  const pending = { key: 'k', url: '/api/x', method: 'POST', headers: [['content-type', 'application/json']] as Array<[string, string]>, body: '{}', savedAt: 1000 };

  test('taken once; gone afterwards', () => {
    const s = storage();
    savePending(s, pending);
    expect(takePending(s, 2000)).toEqual(pending);
    expect(takePending(s, 2000)).toBeUndefined();
  });

  test('too old, from the future, or tampered: dropped', () => {
    const s = storage();
    savePending(s, pending);
    expect(takePending(s, 1000 + PENDING_TTL_MS + 1)).toBeUndefined();
    savePending(s, pending);
    expect(takePending(s, 500)).toBeUndefined();
    s.setItem(PENDING_STORAGE_KEY, '{"key":1}');
    expect(takePending(s, 2000)).toBeUndefined();
    s.setItem(PENDING_STORAGE_KEY, 'not json');
    expect(takePending(s, 2000)).toBeUndefined();
  });

  test('only bodies that survive storage are kept', () => {
    expect(serialisableBody(undefined)).toBeNull();
    expect(serialisableBody('{"a":1}')).toBe('{"a":1}');
    expect(serialisableBody(new URLSearchParams({ a: '1' }))).toBe('a=1');
    expect(serialisableBody('x'.repeat(70_000))).toBeUndefined();
    expect(serialisableBody(new Blob(['x']))).toBeUndefined();
  });

  test('a full or disabled storage does not break the call', () => {
    const broken = { getItem: () => { throw new Error('denied'); }, setItem: () => { throw new Error('full'); }, removeItem: () => {} };
    expect(() => savePending(broken, pending)).not.toThrow();
    expect(takePending(broken, 2000)).toBeUndefined();
  });
});
