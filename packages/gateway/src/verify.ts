import { errors as joseErrors, jwtVerify } from 'jose';
import type { JWTVerifyGetKey } from 'jose';
import { IssuerUnavailableError } from './issuer.js';
import { contextFromClaims } from './token.js';
import type { AuthResult, FailureReason, TokenContext } from './token.js';

export interface VerifierOptions {
  issuer: string;
  audience: string;
  algorithms: readonly string[];
  /** Seconds of leeway on exp/nbf/iat. */
  clockTolerance: number;
  /** Expected `typ` header (RFC 9068 §2.1: `at+jwt`), so an ID token is never taken for an access token. */
  tokenType: string;
  maxTokenBytes: number;
  getKey: JWTVerifyGetKey;
  cache: { maxAgeMs: number; maxEntries: number };
  now?: () => number;
}

interface CacheEntry {
  /** The whole token: a hit must be the identical text, not only the same signature. */
  text: string;
  /** The answer handed out on every hit (one shared object, no allocation per request). */
  result: { ok: true; token: TokenContext };
  /** Epoch ms after which the entry must be verified again. */
  until: number;
}

/** Three base64url segments; anything else is refused before any parsing. */
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Characters at the end of a token that key its cache entry: always inside
 * the signature (86 characters for ES256/EdDSA, 342 for RS256/PS256), whose
 * bits the issuer's key determines. Only verified tokens are stored and a hit
 * must equal the whole text, so a key shared by two tokens costs a cache
 * miss, never a wrong answer.
 */
const KEY_CHARS = 32;
const cacheKey = (token: string): string => (token.length > KEY_CHARS ? token.slice(token.length - KEY_CHARS) : token);

/** True when the text has the shape of a JWS (so it is verified locally, never sent anywhere first). */
export function looksLikeJwt(token: string): boolean {
  return JWS_COMPACT.test(token);
}

/**
 * Verifies JWT access tokens for one audience: signature against the
 * issuer's JWKS, algorithm allow-list (never `none`, never HMAC), `iss`,
 * `aud`, `exp`/`nbf` with leeway, `typ`, and the claims the gateway forwards.
 *
 * A verified token is remembered until it expires or `cache.maxAgeMs`
 * passes, whichever is first: the signature of identical bytes cannot verify
 * differently, so the hot path pays for each token's signature check once.
 * Entries are keyed by the token's last characters (part of its signature:
 * short, so cheap to hash, and found without searching for the last dot) and
 * a hit must match the whole token text. The cache is bounded and cleared when
 * the issuer's key set changes, so an unpublished key stops verifying within
 * a refetch.
 */
export class JwtVerifier {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly now: () => number;

  constructor(private readonly opts: VerifierOptions) {
    this.now = opts.now ?? Date.now;
  }

  clearCache(): void {
    this.cache.clear();
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  /** The cached answer for a token verified before and still within its lifetime; synchronous (the hot path). */
  lookup(token: string): { ok: true; token: TokenContext } | undefined {
    if (this.cache.size === 0) return undefined;
    const key = cacheKey(token);
    const hit = this.cache.get(key);
    if (hit === undefined || hit.text !== token) return undefined;
    if (this.now() < hit.until) return hit.result;
    this.cache.delete(key);
    return undefined;
  }

  async verify(token: string): Promise<AuthResult> {
    const cached = this.lookup(token);
    if (cached) return cached;
    const now = this.now();
    if (token.length > this.opts.maxTokenBytes) return { ok: false, reason: 'too_large' };
    if (!JWS_COMPACT.test(token)) return { ok: false, reason: 'malformed' };

    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.opts.getKey, {
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        algorithms: [...this.opts.algorithms],
        clockTolerance: this.opts.clockTolerance,
        typ: this.opts.tokenType,
        requiredClaims: ['exp', 'sub'],
        currentDate: new Date(now),
      }));
    } catch (err) {
      if (err instanceof IssuerUnavailableError) return { ok: false, reason: 'unavailable', detail: err.message };
      return { ok: false, reason: reasonFor(err) };
    }
    const context = contextFromClaims(payload);
    if (!context) return { ok: false, reason: 'claims' };

    const { maxAgeMs, maxEntries } = this.opts.cache;
    if (maxAgeMs > 0 && maxEntries > 0) {
      if (this.cache.size >= maxEntries) {
        // Maps iterate in insertion order: drop the oldest entry.
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
      const expiresAt = (context.exp + this.opts.clockTolerance) * 1000;
      const result = { ok: true as const, token: context };
      this.cache.set(cacheKey(token), { text: token, result, until: Math.min(expiresAt, now + maxAgeMs) });
      return result;
    }
    return { ok: true, token: context };
  }
}

/** Maps jose's errors to the gateway's bounded failure reasons. */
export function reasonFor(err: unknown): FailureReason {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'iss': return 'issuer';
      case 'aud': return 'audience';
      case 'nbf': return 'not_yet_valid';
      case 'typ': return 'type';
      default: return 'claims';
    }
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature';
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) return 'unknown_key';
  return 'malformed';
}
