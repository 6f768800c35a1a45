import type { IncomingMessage } from 'node:http';
import { ipAllowed } from './cidr.js';

/**
 * IP policy (docs/b2b.md#ip-policy): which source addresses may call an API.
 * Two lists, both must admit the caller:
 *
 * - a route's `allowed_ips` (gateway configuration), checked before the token
 *   is looked at, so an address outside it learns nothing about its token;
 * - the calling client's `ip_allowlist`, which Tessera copies into the client's
 *   access tokens (claim `ip_allowlist`), checked once the token is verified.
 *   The list travels with the token, so every gateway instance enforces the
 *   same list as Tessera's token endpoint without its own copy.
 *
 * The caller's address is the socket's peer, unless that peer is a trusted
 * proxy (GATEWAY_TRUST_PROXY): then it is read from X-Forwarded-For, right to
 * left, past the trusted proxies. A client cannot choose its address by
 * sending X-Forwarded-For itself: only what a trusted proxy appended counts.
 */

/** Who is trusted to say where a request came from (GATEWAY_TRUST_PROXY). */
export interface ProxyTrust {
  /** false: X-Forwarded-For is ignored, the peer is the caller. */
  readonly enabled: boolean;
  /** The proxies' CIDR blocks; undefined with `enabled`: any peer is the one trusted proxy in front (`true`). */
  readonly proxies: readonly string[] | undefined;
}

/** The socket's address, without the IPv4-mapped prefix a dual-stack socket adds (`::ffff:127.0.0.2`). */
function peerAddress(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** True when the request's peer is a proxy whose X-Forwarded-For (and X-Forwarded-Proto) the gateway believes. */
export function peerTrusted(req: IncomingMessage, trust: ProxyTrust): boolean {
  if (!trust.enabled) return false;
  return trust.proxies === undefined || ipAllowed(trust.proxies, peerAddress(req));
}

/**
 * The caller's address.
 *
 * - Peer not trusted (or no trust configured): the peer.
 * - `GATEWAY_TRUST_PROXY=true` (one proxy in front, whatever its address):
 *   the last X-Forwarded-For entry, the one that proxy appended.
 * - A list of proxy blocks: the last X-Forwarded-For entry that is not one of
 *   them (entries before it were written by the caller and prove nothing).
 *
 * A trusted peer that sends no X-Forwarded-For is the caller itself. An
 * entry that is not an address is returned as is, and no list admits it.
 */
export function clientAddress(req: IncomingMessage, trust: ProxyTrust): string {
  const peer = peerAddress(req);
  if (!peerTrusted(req, trust)) return peer;
  const header = req.headers['x-forwarded-for'];
  if (typeof header !== 'string' || header.trim() === '') return peer;
  const entries = header.split(',');
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!.trim();
    if (trust.proxies === undefined || i === 0 || !ipAllowed(trust.proxies, entry)) return entry;
  }
  return peer;
}
