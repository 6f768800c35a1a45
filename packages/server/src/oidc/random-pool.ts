import { randomFillSync } from 'node:crypto';

/** Bytes drawn from the CSPRNG at once; each byte is handed out once. */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

/**
 * `n` random bytes (n ≤ 64) from a buffer filled by the CSPRNG 4 KiB at a
 * time: the nonces sealing stored tokens (payload-store.ts, refresh-policy.ts)
 * take 12 each, several per token request. Each call into OpenSSL cost
 * ~2 µs in a loop and ~17 µs on a server's cold caches (issue 20); one fill
 * serves ~340 nonces. A refill takes a new buffer, so bytes handed out are
 * never overwritten, and none is handed out twice.
 */
export function pooledRandomBytes(n: number): Buffer {
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new RangeError(`pooledRandomBytes: 1 to 64 bytes, not ${n}`);
  if (offset + n > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafeSlow(POOL_BYTES));
    offset = 0;
  }
  const out = pool.subarray(offset, offset + n);
  offset += n;
  return out;
}
