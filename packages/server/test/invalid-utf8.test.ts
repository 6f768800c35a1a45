/**
 * Invalid UTF-8 is refused with 400 (invalid_encoding on Tessera's routes,
 * invalid_request on the protocol endpoints), never decoded to U+FFFD and
 * stored; valid UTF-8 (accents, emoji, percent-encoded or raw) still works,
 * and the engine still reads bodies Tessera checked ahead of it.
 */
import { describe, expect, test } from 'vitest';
import { registrationHarness, PASSWORD, unique } from './helpers/registration.js';
import { SERVICE_SECRET } from './fixtures.js';
import { createUserRepository } from '../src/identity/repository.js';
import { percentDecodedIsUtf8, queryIsUtf8, wellFormedJson } from '../src/http/utf8.js';

const h = registrationHarness();
const users = () => createUserRepository(h.t.app.store.db);
const post = (path: string, body: Buffer | string, type: string, headers: Record<string, string> = {}) =>
  fetch(h.url(path), { method: 'POST', headers: { 'content-type': type, ...headers }, body: typeof body === 'string' ? body : new Uint8Array(body) });

describe('Tessera routes: 400 invalid_encoding, nothing stored', () => {
  test('registration JSON with raw invalid bytes in the email', async () => {
    const local = `bad-${Date.now()}`;
    const body = Buffer.concat([Buffer.from(`{"email":"${local}`), Buffer.from([0xff, 0xfe]), Buffer.from(`@b.c","password":"${PASSWORD}"}`)]);
    const res = await post('/api/self-service/registration', body, 'application/json');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_encoding' });
    expect(await users().findByEmail('default', `${local}\uFFFD\uFFFD@b.c`)).toBeUndefined();
  });

  test('JSON with a lone surrogate escape', async () => {
    const res = await post('/api/self-service/registration', `{"email":"x\\ud800@b.c","password":"${PASSWORD}"}`, 'application/json');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_encoding' });
  });

  test('a form with percent-encoded invalid UTF-8, and one with raw invalid bytes', async () => {
    for (const body of ['email=%FF%FE%40b.c&password=x', 'email=%C3%28@b.c', Buffer.from([0x65, 0x3d, 0xc0, 0xaf])]) {
      const res = await post('/register', body, 'application/x-www-form-urlencoded', { accept: 'text/html' });
      expect(res.status, String(body)).toBe(400);
      expect(await res.text()).toContain('invalid_encoding');
    }
  });

  test('a query string with invalid UTF-8', async () => {
    const res = await fetch(h.url('/register?tenant=%FF'));
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('invalid_encoding');
    const api = await fetch(h.url('/api/admin/v1/users?q=%ED%A0%80'));
    expect(api.status).toBe(400);
    expect(await api.json()).toMatchObject({ error: 'invalid_encoding' });
  });

  test('valid UTF-8 is accepted: accents and emoji, raw and percent-encoded; a stray % is literal text', async () => {
    const email = unique('zoë');
    const res = await post('/api/self-service/registration', JSON.stringify({ email, password: PASSWORD, given_name: 'Zoë 🎉' }), 'application/json; charset=utf-8');
    expect(res.status).toBe(201);
    expect((await users().findByEmail('default', email))?.givenName).toBe('Zoë 🎉');
    expect((await fetch(h.url('/register?tenant=d%C3%A9faut'))).status).not.toBe(400);
    expect((await fetch(h.url('/register?x=100%'))).status).toBe(200);
  });
});

describe('protocol endpoints: 400 invalid_request', () => {
  const basic = `Basic ${Buffer.from(`service:${SERVICE_SECRET}`).toString('base64')}`;
  test('a token request with invalid UTF-8 in its form body', async () => {
    const res = await post('/oidc/token', 'grant_type=client_credentials&scope=read%FF', 'application/x-www-form-urlencoded', { authorization: basic });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'invalid_request', error_description: 'The request is not valid UTF-8.' });
  });

  test('an authorization request with invalid UTF-8 in its query', async () => {
    const res = await fetch(h.url('/oidc/auth?client_id=spa&state=%FF'), { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('invalid_request');
  });

  test('the engine still reads a body checked ahead of it', async () => {
    const res = await post('/oidc/token', 'grant_type=client_credentials&scope=read', 'application/x-www-form-urlencoded', { authorization: basic });
    expect(res.status).toBe(200);
    expect(await res.json()).toHaveProperty('access_token');
  });
});

test('the checks themselves', () => {
  expect(percentDecodedIsUtf8(Buffer.from('a=%C3%A9&b=%F0%9F%8E%89&c=%&d=%G1+x'))).toBe(true);
  expect(percentDecodedIsUtf8(Buffer.from('a=%E9'))).toBe(false);
  expect(percentDecodedIsUtf8(Buffer.from('a=%ED%A0%80'))).toBe(false); // an encoded surrogate
  expect(queryIsUtf8('/x')).toBe(true);
  expect(queryIsUtf8('/x?a=%C0%80')).toBe(false); // overlong
  expect(wellFormedJson({ a: ['\uD83C\uDF89', { b: 'ok' }] })).toBe(true);
  expect(wellFormedJson({ a: [{ b: '\uDC00' }] })).toBe(false);
  expect(wellFormedJson({ ['\uD800']: 1 })).toBe(false);
});
