import type { Introspector } from './introspection.js';
import { IssuerUnavailableError } from './issuer.js';
import { contextFromClaims } from './token.js';
import type { AuthResult } from './token.js';
import { JwtVerifier, looksLikeJwt } from './verify.js';
import type { VerifierOptions } from './verify.js';

export interface AuthenticatorOptions extends Omit<VerifierOptions, 'audience'> {
  /** The issuer's introspection client, once discovery has named the endpoint. */
  introspector: () => Introspector | undefined;
  onIntrospection?: (outcome: 'active' | 'inactive' | 'unsupported' | 'error') => void;
}

/**
 * Turns a bearer token into a caller context for one route. Two modes:
 *
 * - JWT (default): verified locally against the issuer's keys. Revocation at
 *   the issuer takes effect when the token expires (or leaves the cache).
 * - `introspect: true`: the issuer is asked (RFC 7662) as well, so a revoked
 *   token is refused within the introspection cache TTL. A JWT is still
 *   verified locally first (a forged token never reaches the issuer); an
 *   opaque token is validated from the introspection answer alone. When the
 *   issuer cannot introspect the token (Tessera's engine answers
 *   `unsupported_token_type` for every JWT access token), the route cannot
 *   know whether it was revoked and refuses it: failing open would make
 *   `introspect` a promise the gateway does not keep.
 */
export class Authenticator {
  private readonly verifiers = new Map<string, JwtVerifier>();

  constructor(private readonly opts: AuthenticatorOptions) {}

  /**
   * One verifier (and token cache) per audience. The handler keeps each
   * route's verifier and asks its cache synchronously first (`lookup`): a
   * token verified moments ago needs no promise.
   */
  verifier(audience: string): JwtVerifier {
    let v = this.verifiers.get(audience);
    if (!v) {
      v = new JwtVerifier({ ...this.opts, audience });
      this.verifiers.set(audience, v);
    }
    return v;
  }

  /** Forgets every verified token (the issuer's key set changed). */
  clearCaches(): void {
    for (const v of this.verifiers.values()) v.clearCache();
  }

  get cachedTokens(): number {
    let n = 0;
    for (const v of this.verifiers.values()) n += v.cacheSize;
    return n;
  }

  async authenticate(token: string, audience: string, introspect: boolean): Promise<AuthResult> {
    // The verifier checks size and shape itself, after its cache (a hit costs one map lookup).
    if (!introspect) return this.verifier(audience).verify(token);
    if (token.length > this.opts.maxTokenBytes) return { ok: false, reason: 'too_large' };
    if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(token)) return { ok: false, reason: 'malformed' };
    const local = looksLikeJwt(token) ? await this.verifier(audience).verify(token) : undefined;
    if (local && !local.ok) return local;

    const answer = await this.ask(token);
    if ('reason' in answer) return answer;
    if (answer.kind === 'inactive') return { ok: false, reason: 'inactive' };
    if (answer.kind === 'unsupported') return { ok: false, reason: local ? 'not_introspectable' : 'malformed' };
    if (local) return local;
    return this.fromIntrospection(answer.claims, audience);
  }

  private async ask(token: string) {
    const introspector = this.opts.introspector();
    if (!introspector) return { ok: false as const, reason: 'unavailable' as const, detail: 'no introspection client configured' };
    try {
      const answer = await introspector.introspect(token);
      this.opts.onIntrospection?.(answer.kind);
      return answer;
    } catch (err) {
      this.opts.onIntrospection?.('error');
      const detail = err instanceof IssuerUnavailableError ? err.message : String(err);
      return { ok: false as const, reason: 'unavailable' as const, detail };
    }
  }

  /**
   * An opaque token's introspection answer stands in for the JWT checks:
   * an access token (not a refresh token), from this issuer, for this
   * audience, not expired.
   */
  private fromIntrospection(claims: Record<string, unknown>, audience: string): AuthResult {
    const now = (this.opts.now ?? Date.now)() / 1000;
    const tokenType = claims.token_type;
    if (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer') return { ok: false, reason: 'type' };
    if (claims.iss !== undefined && claims.iss !== this.opts.issuer) return { ok: false, reason: 'issuer' };
    const aud = claims.aud;
    if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience)))) return { ok: false, reason: 'audience' };
    if (typeof claims.exp !== 'number' || claims.exp + this.opts.clockTolerance <= now) return { ok: false, reason: 'expired' };
    if (typeof claims.nbf === 'number' && claims.nbf - this.opts.clockTolerance > now) return { ok: false, reason: 'not_yet_valid' };
    // RFC 7662 makes `sub` optional; a client_credentials token's subject is its client (as RFC 9068 §2.2 puts it in a JWT).
    const context = contextFromClaims(claims.sub === undefined ? { ...claims, sub: claims.client_id } : claims);
    return context ? { ok: true, token: context } : { ok: false, reason: 'claims' };
  }
}
