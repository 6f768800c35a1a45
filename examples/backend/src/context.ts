import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import type { Caller } from './records.js';

/**
 * The caller, read from the context headers the Tessera gateway adds. The
 * backend trusts these headers and nothing else, which is only sound if
 * nobody but the gateway can reach it: bind it to loopback or a private
 * network, and set a shared secret so that a request that did not come
 * through the gateway is refused even when it does reach the port.
 */

const value = z.string().regex(/^[\x21-\x7E]{1,512}$/);
const contextSchema = z.object({
  'x-tessera-sub': value,
  'x-tessera-tenant': value,
  'x-tessera-client': value,
  'x-tessera-scope': z.string().max(4096).default(''),
  'x-tessera-roles': z.string().max(4096).default(''),
  'x-tessera-acr': value.optional(),
});

export type ContextResult = { ok: true; caller: Caller } | { ok: false; reason: 'not_from_gateway' | 'no_context' };

/** Constant-time comparison of the shared secret (digests first, so lengths do not leak either). */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function callerFrom(headers: IncomingHttpHeaders, gatewaySecret: string | undefined): ContextResult {
  if (gatewaySecret !== undefined) {
    const given = headers['x-tessera-gateway-secret'];
    if (typeof given !== 'string' || !sameSecret(given, gatewaySecret)) return { ok: false, reason: 'not_from_gateway' };
  }
  const parsed = contextSchema.safeParse(headers);
  if (!parsed.success) return { ok: false, reason: 'no_context' };
  const h = parsed.data;
  const words = (s: string) => s.split(' ').filter(Boolean);
  return {
    ok: true,
    caller: {
      sub: h['x-tessera-sub'],
      tenant: h['x-tessera-tenant'],
      client: h['x-tessera-client'],
      scopes: new Set(words(h['x-tessera-scope'])),
      roles: words(h['x-tessera-roles']),
      acr: h['x-tessera-acr'],
    },
  };
}
