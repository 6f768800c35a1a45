import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';

/**
 * Requests to receivers an administrator named (webhooks): the same
 * private-address guard as back-channel logout. Special-use addresses
 * (loopback, private, link-local, CGNAT, documentation, multicast…, RFC
 * 6890) are refused unless the host is listed in
 * TESSERA_OUTBOUND_PRIVATE_HOSTS. The check runs on the addresses the
 * connection actually uses (inside `lookup`), so a name that resolves to a
 * public address when checked and a private one when connecting (DNS
 * rebinding) gains nothing. Redirects are not followed.
 */
const SPECIAL = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) SPECIAL.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23], ['2001:db8::', 32], ['2002::', 16],
  ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
] as const) SPECIAL.addSubnet(net, prefix, 'ipv6');

/** Whether an address is special-use (IPv4-mapped IPv6 addresses are judged by their IPv4 part). */
export function isSpecialUse(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return SPECIAL.check(mapped[1]!, 'ipv4');
  const family = isIP(address);
  if (family === 4) return SPECIAL.check(address, 'ipv4');
  if (family === 6) return /^::ffff:/i.test(address) || SPECIAL.check(address, 'ipv6');
  return true;
}

export class BlockedAddress extends Error {
  constructor(readonly host: string) {
    super(`refused: ${host} is a private or special-use address (list it in TESSERA_OUTBOUND_PRIVATE_HOSTS to allow it)`);
    this.name = 'BlockedAddress';
  }
}

const hostOf = (url: URL) => url.hostname.replace(/^\[|\]$/g, '').toLowerCase();

/** A problem with a receiver URL known before any request: not http(s), credentials, or a special-use IP literal. */
export function receiverUrlProblem(raw: string, privateHosts: readonly string[]): 'invalid_url' | 'private_address' | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'invalid_url';
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.hash) return 'invalid_url';
  const host = hostOf(url);
  if (privateHosts.includes(host)) return undefined;
  if (isIP(host) && isSpecialUse(host)) return 'private_address';
  if (host === 'localhost' || host.endsWith('.localhost')) return 'private_address';
  return undefined;
}

export interface PostResult {
  status: number;
}

/**
 * POSTs `body` to `url` with `headers`, through the guard.
 * @throws BlockedAddress, or a network error (refused, reset, timeout).
 */
export function guardedPost(raw: string, body: string, headers: Record<string, string>, opts: { timeoutMs: number; privateHosts: readonly string[] }): Promise<PostResult> {
  const url = new URL(raw);
  const host = hostOf(url);
  const exempt = opts.privateHosts.includes(host);
  if (!exempt && isIP(host) && isSpecialUse(host)) return Promise.reject(new BlockedAddress(host));
  const lookup = (hostname: string, options: LookupOptions, cb: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return cb(err, '', 0);
      const list = addresses as LookupAddress[];
      if (!exempt && list.some((a) => isSpecialUse(a.address))) return cb(new BlockedAddress(hostname), '', 0);
      if (options.all) return cb(null, list);
      return cb(null, list[0]!.address, list[0]!.family);
    });
  };
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'Tessera-Webhooks/1' },
      lookup: lookup as never,
      timeout: opts.timeoutMs,
      agent: false,
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
