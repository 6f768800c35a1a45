import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { createPublicKey, verify } from 'node:crypto';
import { ExternalSigningKey } from 'oidc-provider';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import type { JSONWebKeySet, JWK } from 'jose';
import { SyncEcSigningKey, engineSigningKeys } from '../src/oidc/signing-keys.js';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { API, baseConfig, SERVICE_SECRET } from './fixtures.js';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'priv'];

async function privateJwk(alg: 'ES256' | 'ES384' | 'RS256', kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
}

describe('engineSigningKeys', () => {
  test('EC keys become synchronous signers with the same public members; RSA keys stay JWKs', async () => {
    const rsa = await privateJwk('RS256', 'r1');
    const ec = await privateJwk('ES256', 'e1');
    const { keys } = engineSigningKeys({ keys: [rsa, ec] });
    expect(keys[0]).toBe(rsa);
    const key = keys[1] as SyncEcSigningKey;
    expect(key).toBeInstanceOf(ExternalSigningKey);
    expect({ kty: key.kty, crv: key.crv, x: key.x, y: key.y, kid: key.kid, alg: key.alg, use: key.use })
      .toEqual({ kty: 'EC', crv: 'P-256', x: ec.x, y: ec.y, kid: 'e1', alg: 'ES256', use: 'sig' });
    // What the engine publishes and verifies with is the public key only.
    expect(key.keyObject().type).toBe('public');
    expect(Object.keys(key.keyObject().export({ format: 'jwk' }))).not.toContain('d');
  });

  test.each(['ES256', 'ES384'] as const)('a %s signature is r‖s and verifies with the public JWK', async (alg) => {
    const jwk = await privateJwk(alg, 'k');
    const key = engineSigningKeys({ keys: [jwk] }).keys[0] as SyncEcSigningKey;
    const data = Buffer.from('header.payload');
    const signature = key.sign(data);
    expect(signature.byteLength).toBe(alg === 'ES256' ? 64 : 96);
    const publicKey = createPublicKey({ key: { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' });
    const hash = alg === 'ES256' ? 'sha256' : 'sha384';
    expect(verify(hash, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
    expect(verify(hash, Buffer.from('header.other'), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(false);
  });

  test('an EC key without an algorithm the JWS names, or without its private part, is left as it is', async () => {
    const { d: _d, ...publicOnly } = await privateJwk('ES256', 'p');
    const noAlg = { ...(await privateJwk('ES256', 'n')), alg: undefined };
    const { keys } = engineSigningKeys({ keys: [publicOnly, noAlg] });
    expect(keys[0]).toBe(publicOnly);
    expect(keys[1]).toBe(noAlg);
  });
});

describe('the engine signing with them', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: baseConfig });
  });
  afterAll(async () => {
    await t?.close();
  });

  test('the JWKS publishes each key\'s public members only', async () => {
    const jwks = (await (await fetch(`${t.issuer}/oidc/jwks`)).json()) as JSONWebKeySet;
    const algs = jwks.keys.map((k) => k.alg).sort();
    expect(algs).toEqual(['ES256', 'RS256']);
    for (const key of jwks.keys) {
      expect(key.use).toBe('sig');
      expect(typeof key.kid).toBe('string');
      for (const member of PRIVATE_MEMBERS) expect(key).not.toHaveProperty(member);
    }
    const ec = jwks.keys.find((k) => k.alg === 'ES256')!;
    expect(Object.keys(ec).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  });

  test('an ES256 access token is signed without WebCrypto and verifies against the JWKS', async () => {
    const subtleSign = vi.spyOn(globalThis.crypto.subtle, 'sign');
    try {
      const res = await fetch(`${t.issuer}/oidc/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`service:${SERVICE_SECRET}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', resource: API }),
      });
      expect(res.status).toBe(200);
      const { access_token } = (await res.json()) as { access_token: string };
      const jwks = (await (await fetch(`${t.issuer}/oidc/jwks`)).json()) as JSONWebKeySet;
      const { protectedHeader, payload } = await jwtVerify(access_token, createLocalJWKSet(jwks), { issuer: t.issuer, audience: API });
      expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'at+jwt', kid: jwks.keys.find((k) => k.alg === 'ES256')!.kid });
      expect(payload.scope).toBe('read');
      expect(subtleSign).not.toHaveBeenCalled();
    } finally {
      subtleSign.mockRestore();
    }
  });
});
