import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ExternalSigningKey } from 'oidc-provider';
import type { JWK } from 'jose';

/**
 * The engine's signing keys, EC keys signed synchronously.
 *
 * The engine signs through jose, which uses WebCrypto: every signature is a
 * job handed to libuv's thread pool and its result handed back, which costs
 * more CPU than an ES256 signature itself (about 90 µs per signature against
 * 40 µs for `crypto.sign` on the calling thread, one core, Node 20:
 * docs/performance.md). An EC key is therefore given to the engine as an
 * `ExternalSigningKey` (oidc-provider's own extension point for keys it does
 * not hold, features.externalSigningSupport) whose `sign` is `crypto.sign`
 * with the JWS signature encoding (IEEE P1363, r‖s). The engine builds the
 * same JWS around it (header and payload as before). RSA keys stay JWKs: an
 * RS256 signature takes about 0.8 ms, which the thread pool keeps off the
 * event loop.
 */
export function engineSigningKeys(jwks: { keys: JWK[] }): { keys: (JWK | ExternalSigningKey)[] } {
  return { keys: jwks.keys.map((jwk) => (jwk.kty === 'EC' && jwk.d && EC_HASHES[jwk.alg ?? ''] ? new SyncEcSigningKey(jwk) : jwk)) };
}

/** The JWS algorithms for EC keys (RFC 7518 §3.4) and their digests. */
const EC_HASHES: Record<string, string> = { ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' };

export class SyncEcSigningKey extends ExternalSigningKey {
  readonly #private: KeyObject;
  readonly #public: KeyObject;
  readonly #hash: string;

  constructor(jwk: JWK) {
    super();
    this.#private = createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
    this.#public = createPublicKey(this.#private);
    this.#hash = EC_HASHES[jwk.alg!]!;
    // The engine's class has setters for both (its type declarations name only the getters).
    Object.assign(this as object, { kid: jwk.kid, alg: jwk.alg });
  }

  /** The public key: the engine publishes it (JWKS) and verifies its own tokens with it. */
  override keyObject(): KeyObject {
    return this.#public;
  }

  override sign(data: Uint8Array): Uint8Array {
    return sign(this.#hash, data, { key: this.#private, dsaEncoding: 'ieee-p1363' });
  }
}
