/**
 * Property-based tests (fast-check) of the boundaries that take arbitrary
 * input: the UTF-8 checks, the config loader, the token endpoint and the
 * admin API's validation. Whatever comes in, the answer is a 4xx with a
 * stable code (or success), never a 5xx, and the server keeps answering.
 * Runs are bounded (numRuns) to keep the suite fast; a failure prints its
 * seed and the shrunk counterexample.
 */
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { adminConfig, machineToken } from './helpers/admin.js';
import { SERVICE_SECRET } from './fixtures.js';
import { parseDeclarative } from '../src/config/load.js';
import { ConfigError } from '../src/config/errors.js';
import { percentDecodedIsUtf8 } from '../src/http/utf8.js';

const percentEncode = (bytes: Uint8Array) => Buffer.from([...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''));

describe('UTF-8 checks', () => {
  test('percent-decoded check agrees with the raw-byte check and with a fatal TextDecoder', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const fatal = (() => {
        try {
          new TextDecoder('utf-8', { fatal: true }).decode(bytes);
          return true;
        } catch {
          return false;
        }
      })();
      expect(isUtf8(bytes)).toBe(fatal);
      expect(percentDecodedIsUtf8(percentEncode(bytes))).toBe(fatal);
    }), { numRuns: 2000 });
  });

  test('any JavaScript string without lone surrogates, percent-encoded, passes', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => {
      expect(percentDecodedIsUtf8(Buffer.from(encodeURIComponent(s)))).toBe(true);
    }), { numRuns: 500 });
  });
});

describe('config loader', () => {
  test('any JSON document: a parsed configuration or a ConfigError, nothing else', () => {
    const doc = fc.oneof(
      fc.jsonValue(),
      fc.record({ clients: fc.array(fc.dictionary(fc.constantFrom('client_id', 'client_secret', 'grant_types', 'redirect_uris', 'scope', 'token_endpoint_auth_method', '__proto__'), fc.jsonValue())) }),
      fc.record({ tenants: fc.array(fc.dictionary(fc.constantFrom('id', 'name', 'policy', 'branding'), fc.jsonValue())) }),
      fc.record({ users: fc.array(fc.dictionary(fc.constantFrom('username', 'email', 'password', 'roles', 'tenant'), fc.jsonValue())) }),
    );
    fc.assert(fc.property(doc, (value) => {
      try {
        parseDeclarative(JSON.stringify(value) ?? 'null', 'property test');
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
      }
    }), { numRuns: 300 });
  });
});

describe('HTTP boundaries', () => {
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    t = await startTestApp({ config: adminConfig() });
    token = await machineToken(t.issuer, 'ops-bot');
  });
  afterAll(async () => {
    await t?.close();
  });

  const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('client_credentials', 'authorization_code', 'refresh_token', 'password', 'read', '__proto__', '%', '%FF', ''));
  const FIELDS = ['grant_type', 'scope', 'resource', 'code', 'code_verifier', 'redirect_uri', 'refresh_token', 'client_id', 'client_secret', 'username', 'password', '__proto__'];

  test('token endpoint: any form (repeated, odd or binary parameters) gets a JSON answer below 500', async () => {
    const basic = `Basic ${Buffer.from(`service:${SERVICE_SECRET}`).toString('base64')}`;
    await fc.assert(fc.asyncProperty(
      fc.array(fc.tuple(fc.constantFrom(...FIELDS), text), { maxLength: 8 }), fc.boolean(),
      async (pairs, authenticated) => {
        const body = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
        const res = await fetch(`${t.issuer}/oidc/token`, {
          method: 'POST', body,
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authenticated ? { authorization: basic } : {}) },
        });
        expect(res.status, body).toBeLessThan(500);
        const json = await res.json() as { error?: unknown; access_token?: unknown };
        expect(typeof json.error === 'string' || typeof json.access_token === 'string', body).toBe(true);
      }), { numRuns: 150 });
  });

  test('admin API: any JSON body for a user creation or update is a 2xx or a 4xx with a stable code', async () => {
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }),
      fc.dictionary(fc.constantFrom('username', 'email', 'given_name', 'family_name', 'roles', 'status', 'password', 'attributes', 'tenant', '__proto__', 'constructor'), fc.jsonValue({ maxDepth: 3 })),
    );
    await fc.assert(fc.asyncProperty(body, async (value) => {
      const res = await fetch(`${t.issuer}/api/admin/v1/users`, {
        method: 'POST', body: JSON.stringify(value) ?? 'null',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      });
      expect(res.status, JSON.stringify(value)).toBeLessThan(500);
      if (res.status >= 400) expect((await res.json() as { error?: unknown }).error, JSON.stringify(value)).toMatch(/^[a-z_]+$/);
      else await res.body?.cancel();
    }), { numRuns: 150 });
    // Still answering.
    expect((await fetch(`${t.issuer}/healthz`)).status).toBe(200);
  });
});
