import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * CIDR blocks for IP allowlists (a route's `allowed_ips`, a client's
 * `ip_allowlist` claim, GATEWAY_TRUST_PROXY): parsing and matching with
 * `node:net`'s BlockList. The functions are the platform's own
 * (packages/server/src/oidc/cidr.ts), copied because the gateway is deployed
 * on its own and imports nothing from the platform; test/ip-policy.test.ts
 * fails when the two copies drift apart, so both read addresses alike.
 */

interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/**
 * Parses `203.0.113.0/24`, `2001:db8::/32`, or a single address (`/32` or
 * `/128` implied). Host bits below the prefix are ignored, as `BlockList` does.
 * Zone ids (`fe80::1%eth0`) are refused: they name an interface, not a network.
 */
export function parseCidr(value: string): Cidr | undefined {
  const slash = value.indexOf('/');
  const address = slash === -1 ? value : value.slice(0, slash);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) && !address.includes('%') ? 'ipv6' : undefined;
  if (!family) return undefined;
  const max = family === 'ipv4' ? 32 : 128;
  if (slash === -1) return { address, prefix: max, family };
  const bits = value.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return undefined;
  return { address, prefix: Number(bits), family };
}

/** The message for a value that is not a CIDR block (used by the config schema and the engine's client validation). */
export const CIDR_MESSAGE = 'must be a CIDR block such as 203.0.113.0/24 or 2001:db8::/32, or a single IP address';

/** Compiled allowlists, by their CIDR list (clients are few; the engine re-creates client objects). */
const compiled = new Map<string, BlockList>();

function blockListFor(cidrs: readonly string[]): BlockList {
  const key = cidrs.join(' ');
  let list = compiled.get(key);
  if (!list) {
    list = new BlockList();
    for (const c of cidrs) {
      const parsed = parseCidr(c);
      if (parsed) list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
    if (compiled.size >= 1000) compiled.clear();
    compiled.set(key, list);
  }
  return list;
}

/**
 * True when `ip` lies in one of the blocks. An IPv4-mapped IPv6 address
 * (`::ffff:127.0.0.2`, what a dual-stack socket reports for an IPv4 peer)
 * is matched against IPv4 blocks too: `BlockList` treats the two forms as
 * one address. Anything that is not an address (empty, a zone id) is not allowed.
 */
export function ipAllowed(cidrs: readonly string[], ip: string): boolean {
  const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) && !ip.includes('%') ? 'ipv6' : undefined;
  if (!family) return false;
  return blockListFor(cidrs).check(ip, family);
}
