import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/**
 * The engine's cookie signer (`cookies.keys`: oidc-provider accepts a
 * Keygrip-like object; Koa's `cookies` package calls `sign` and `index` for
 * every signed cookie it sets or reads). The same signatures as Keygrip's
 * defaults (HMAC-SHA1, base64 without padding in the URL-safe alphabet), so
 * cookies signed before stay valid, checked with one HMAC and
 * `crypto.timingSafeEqual` per key. Keygrip compares through tsscmp, which
 * draws 32 random bytes and computes two more HMACs for every comparison:
 * three HMACs and a CSPRNG call per signed cookie read, several per sign-in
 * request (issue 20). Digests are compared in constant time when their
 * lengths match; a digest of another length is refused at once, and every
 * valid one has the same length.
 */
export class CookieKeys {
  readonly #keys: KeyObject[];

  /** `keys`: newest first; the first signs, all verify (rotation). */
  constructor(keys: readonly (string | Buffer)[]) {
    if (!keys.length) throw new Error('cookie keys: at least one key is required');
    this.#keys = keys.map((k) => createSecretKey(typeof k === 'string' ? Buffer.from(k, 'utf8') : k));
  }

  sign(data: string): string {
    return mac(this.#keys[0]!, data);
  }

  verify(data: string, digest: string): boolean {
    return this.index(data, digest) > -1;
  }

  /** The index of the key that signed `data` as `digest`, or -1. */
  index(data: string, digest: string): number {
    const presented = Buffer.from(String(digest), 'utf8');
    for (let i = 0; i < this.#keys.length; i++) {
      const expected = Buffer.from(mac(this.#keys[i]!, data), 'utf8');
      if (expected.length === presented.length && timingSafeEqual(expected, presented)) return i;
    }
    return -1;
  }
}

function mac(key: KeyObject, data: string): string {
  return createHmac('sha1', key).update(data, 'utf8').digest('base64url');
}
