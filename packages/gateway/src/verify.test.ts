import { describe, expect, test } from 'vitest';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey } from 'jose';
import { JwtVerifier } from './verify.js';
import { IssuerUnavailableError } from './issuer.js';

/**
 * The verifier against a local key set, for the cases the integration tests
 * cannot produce with the platform's own keys (wrong iss with a valid
 * signature, nbf, missing claims) and for the cache.
 */
const ISS = 'https://issuer.test';
const AUD = 'https://api.test';
const { privateKey, publicKey } = await generateKeyPair('ES256');
const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] });

const sign = (claims: Record<string, unknown>, header: Record<string, unknown> = {}, key: CryptoKey = privateKey) => {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: ISS, aud: AUD, sub: 'u1', client_id: 'c1', tenant: 't1', scope: 'read', iat: now, exp: now + 60, ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1', ...header }).sign(key);
};
const verifier = (extra: Partial<ConstructorParameters<typeof JwtVerifier>[0]> = {}) => new JwtVerifier({
  issuer: ISS, audience: AUD, algorithms: ['ES256', 'RS256'], clockTolerance: 5, tokenType: 'at+jwt', maxTokenBytes: 8192,
  getKey: jwks, cache: { maxAgeMs: 30_000, maxEntries: 2 }, ...extra,
});

describe('JwtVerifier', () => {
  test('a good token', async () => {
    const r = await verifier().verify(await sign({}));
    expect(r).toMatchObject({ ok: true, token: { sub: 'u1', tenant: 't1', clientId: 'c1', scope: 'read' } });
  });

  test.each([
    ['validly signed, wrong issuer', { iss: 'https://evil.test' }, {}, 'issuer'],
    ['wrong audience', { aud: 'https://other.test' }, {}, 'audience'],
    ['expired beyond the leeway', { exp: Math.floor(Date.now() / 1000) - 6 }, {}, 'expired'],
    ['not yet valid beyond the leeway', { nbf: Math.floor(Date.now() / 1000) + 60 }, {}, 'not_yet_valid'],
    ['an ID token (typ JWT)', {}, { typ: 'JWT' }, 'type'],
    ['no exp', { exp: undefined }, {}, 'claims'],
    ['no tenant', { tenant: undefined }, {}, 'claims'],
    ['unknown kid', {}, { kid: 'k2' }, 'unknown_key'],
  ])('%s → %s', async (_n, claims, header, reason) => {
    expect(await verifier().verify(await sign(claims, header))).toEqual({ ok: false, reason });
  });

  test('within the leeway is fine', async () => {
    expect((await verifier().verify(await sign({ exp: Math.floor(Date.now() / 1000) - 2 }))).ok).toBe(true);
  });

  test('the algorithm allow-list applies before any key is looked up', async () => {
    const { privateKey: rsa } = await generateKeyPair('RS256');
    let lookups = 0;
    const v = verifier({ algorithms: ['ES256'], getKey: (h, t) => (lookups++, jwks(h, t)) });
    expect(await v.verify(await sign({}, { alg: 'RS256' }, rsa))).toEqual({ ok: false, reason: 'algorithm' });
    expect(lookups).toBe(0);
  });

  test('the cache: a verified token is not verified again, until it expires; bounded in size', async () => {
    let now = Date.now();
    let lookups = 0;
    const v = verifier({ now: () => now, getKey: (h, t) => (lookups++, jwks(h, t)) });
    const token = await sign({ exp: Math.floor(now / 1000) + 10 });
    await v.verify(token);
    await v.verify(token);
    expect(lookups).toBe(1);
    now += 16_000; // exp + leeway passed
    expect(await v.verify(token)).toEqual({ ok: false, reason: 'expired' });
    await v.verify(await sign({ sub: 'a' }));
    await v.verify(await sign({ sub: 'b' }));
    await v.verify(await sign({ sub: 'c' }));
    expect(v.cacheSize).toBe(2);
  });

  test('the cache answers only for the identical token text, whatever its key (the token\'s end) says', async () => {
    const v = verifier();
    const good = await sign({ sub: 'alice' });
    expect(v.lookup(good)).toBeUndefined();
    await v.verify(good);
    expect(v.lookup(good)?.token.sub).toBe('alice');
    // Same last characters (the cache key), different claims: a miss, then refused by the signature check.
    const [, payload] = good.split('.');
    const forged = `${Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })).toString('base64url')}.${payload!.slice(0, -2)}AA.${good.split('.')[2]}`;
    expect(forged.slice(-32)).toBe(good.slice(-32));
    expect(v.lookup(forged)).toBeUndefined();
    expect(await v.verify(forged)).toEqual({ ok: false, reason: 'signature' });
    // The forged attempt did not displace the verified token.
    expect(v.lookup(good)?.token.sub).toBe('alice');
  });

  test('keys that cannot be loaded: unavailable (503), not a verdict on the token', async () => {
    const v = verifier({ getKey: () => { throw new IssuerUnavailableError('down'); } });
    expect(await v.verify(await sign({}))).toEqual({ ok: false, reason: 'unavailable', detail: 'down' });
  });
});
