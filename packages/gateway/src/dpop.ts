import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';
import { Redis } from 'ioredis';
import { peerTrusted } from './ip-policy.js';
import type { ProxyTrust } from './ip-policy.js';

/**
 * DPoP-bound access tokens at the gateway (RFC 9449 §7): a token whose
 * `cnf.jkt` names a key is accepted only as `Authorization: DPoP <token>`
 * with a `DPoP` proof for this very request, signed by that key, used once.
 *
 * Checks, in order: one proof header; a JWT with `typ: dpop+jwt`, an accepted
 * asymmetric `alg` and the public key embedded (`jwk`) that verifies it;
 * `htm` = the method; `htu` = this request's URL without query and fragment;
 * `iat` within the window; `ath` = SHA-256 of the token; the key's thumbprint
 * = the token's `cnf.jkt`; and last, `jti` never seen before in the replay
 * cache, which every gateway instance shares when GATEWAY_REDIS_URL is set
 * (otherwise each instance keeps its own, which a replay to another instance
 * would pass: run one instance or set Redis).
 */

/** The algorithms a proof may use (the issuer's dpop_signing_alg_values_supported). */
export const DPOP_ALGS = ['ES256', 'EdDSA', 'PS256', 'RS256'] as const;
/** Seconds a proof's `iat` may lie before or after now (the issuer's window is 60 s). */
export const DPOP_WINDOW_SECONDS = 60;

/** Proof jtis seen, kept as long as a proof could still be accepted. */
export interface ReplayCache {
  /** True the first time this jti is presented (and records it); false for a replay. */
  unique(jti: string, ttlSeconds: number): Promise<boolean>;
  close(): Promise<void>;
}

/** One instance's memory: bounded, oldest first out. */
export class MemoryReplayCache implements ReplayCache {
  private readonly seen = new Map<string, number>();
  constructor(private readonly maxEntries = 100_000) {}

  async unique(jti: string, ttlSeconds: number): Promise<boolean> {
    const now = Date.now();
    const until = this.seen.get(jti);
    if (until !== undefined && until > now) return false;
    this.seen.delete(jti);
    this.seen.set(jti, now + ttlSeconds * 1000);
    // Expired entries leave from the front (insertion order); a full cache drops its oldest.
    for (const [k, exp] of this.seen) {
      if (exp > now && this.seen.size <= this.maxEntries) break;
      this.seen.delete(k);
    }
    return true;
  }

  async close(): Promise<void> {}
}

/** Shared by every instance: `SET key 1 NX EX ttl` is atomic, so exactly one instance accepts a proof. */
export class RedisReplayCache implements ReplayCache {
  private readonly redis: Redis;
  constructor(url: string, private readonly prefix = 'tessera:gateway:dpop:') {
    this.redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: true, lazyConnect: false });
    // Connection errors surface as failed commands (the request answers 503); the event must not crash the process.
    this.redis.on('error', () => {});
  }

  async unique(jti: string, ttlSeconds: number): Promise<boolean> {
    const key = this.prefix + createHash('sha256').update(jti).digest('base64url');
    return (await this.redis.set(key, '1', 'EX', ttlSeconds, 'NX')) === 'OK';
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

export type DpopFailure = 'dpop_proof' | 'dpop_replay';

export interface DpopCheck {
  method: string;
  /** The request's URL as the client addressed it, without query or fragment. */
  url: string;
  token: string;
  jkt: string;
}

/**
 * Verifies a proof for a request. Resolves undefined when it holds, or why it does not.
 * @throws when the replay cache cannot be reached (the caller answers 503).
 */
export async function verifyDpopProof(proof: string, check: DpopCheck, replay: ReplayCache, clockTolerance: number, now = Date.now() / 1000): Promise<DpopFailure | undefined> {
  let payload: Record<string, unknown>;
  let jwk: Record<string, unknown> | undefined;
  try {
    const verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [...DPOP_ALGS] });
    payload = verified.payload;
    jwk = verified.protectedHeader.jwk as Record<string, unknown> | undefined;
  } catch {
    return 'dpop_proof';
  }
  if (!jwk || typeof payload.jti !== 'string' || !payload.jti || payload.jti.length > 256) return 'dpop_proof';
  if (payload.htm !== check.method) return 'dpop_proof';
  if (typeof payload.htu !== 'string' || stripUrl(payload.htu) !== check.url) return 'dpop_proof';
  if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > DPOP_WINDOW_SECONDS + clockTolerance) return 'dpop_proof';
  if (payload.ath !== createHash('sha256').update(check.token).digest('base64url')) return 'dpop_proof';
  if ((await calculateJwkThumbprint(jwk as Parameters<typeof calculateJwkThumbprint>[0])) !== check.jkt) return 'dpop_proof';
  // Last: a proof that fails another check never uses up its jti.
  const unique = await replay.unique(`${check.jkt}:${payload.jti}`, 2 * (DPOP_WINDOW_SECONDS + clockTolerance));
  return unique ? undefined : 'dpop_replay';
}

/** A URL without query and fragment, normalised as the WHATWG parser does (RFC 9449 §4.3 step 9); '' when unparsable. */
function stripUrl(u: string): string {
  try {
    const url = new URL(u);
    url.search = '';
    url.hash = '';
    return url.href;
  } catch {
    return '';
  }
}

/**
 * The URL the client addressed: GATEWAY_PUBLIC_URL's origin when set (behind
 * a proxy that rewrites the host), else the Host header (and, with
 * GATEWAY_TRUST_PROXY, X-Forwarded-Proto), plus the path.
 */
export function requestUrl(req: IncomingMessage, publicOrigin: string | undefined, trustProxy: boolean | ProxyTrust): string {
  const path = (req.url ?? '/').split('?')[0]!.split('#')[0]!;
  let origin = publicOrigin;
  if (!origin) {
    const trusted = typeof trustProxy === 'boolean' ? trustProxy : peerTrusted(req, trustProxy);
    const forwarded = trusted ? String(req.headers['x-forwarded-proto'] ?? '').split(',')[0]!.trim() : '';
    const proto = forwarded === 'https' || forwarded === 'http' ? forwarded : (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    origin = `${proto}://${req.headers.host ?? 'localhost'}`;
  }
  return stripUrl(origin + path);
}
