// HMAC-SHA256 of short inputs: `createHmac` against two one-shot `crypto.hash` calls (Node >= 20.12) over
// precomputed inner and outer pads (RFC 2104), in the two shapes of Tessera's hot paths: a token id digested
// as a row key (oidc/payload-store.ts, a 32-byte key) and a client secret checked against its salted digest
// (oidc/clients.ts, a 22-character salt as key). Checks that both give the same digest, then times each
// (200 000 calls, 7 interleaved rounds) and prints µs per call, median and range. A micro-benchmark, not a
// test: see docs/performance.md.
//
//   taskset -c 1 node bench/hmac-oneshot.mjs
import { createHmac, hash, hkdfSync } from 'node:crypto';
const macKey = Buffer.from(hkdfSync('sha256', 'k'.repeat(40), 'tessera', 'oidc payload id digest', 32));
const pads = (key) => { const k = Buffer.alloc(64); key.copy(k); const i = Buffer.alloc(64), o = Buffer.alloc(64); for (let j = 0; j < 64; j++) { i[j] = k[j] ^ 0x36; o[j] = k[j] ^ 0x5c; } return [i, o]; };
const [ip, op] = pads(macKey);
const viaHash = (ipad, opad, m) => { const mb = Buffer.from(m, 'utf8'); const b = Buffer.allocUnsafe(64 + mb.length); ipad.copy(b, 0); mb.copy(b, 64); const inner = hash('sha256', b, 'buffer'); const o = Buffer.allocUnsafe(96); opad.copy(o, 0); inner.copy(o, 64); return hash('sha256', o, 'base64url'); };
const ids = Array.from({ length: 64 }, (_, i) => `id\u0000AccessToken\u0000${String(i).padStart(43, 'x')}`);
const salt = 'abcdefghijklmnopqrstuv'; const [sip, sop] = pads(Buffer.from(salt));
const secret = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const f = {
  'payload id, createHmac': (i) => createHmac('sha256', macKey).update(ids[i & 63]).digest('base64url'),
  'payload id, crypto.hash + pads': (i) => viaHash(ip, op, ids[i & 63]),
  'client secret, createHmac (string salt key)': () => createHmac('sha256', salt).update(secret, 'utf8').digest('base64url'),
  'client secret, crypto.hash + pads': () => viaHash(sip, sop, secret),
};
if (f['payload id, createHmac'](1) !== f['payload id, crypto.hash + pads'](1) || f['client secret, createHmac (string salt key)']() !== f['client secret, crypto.hash + pads']()) throw new Error('differ');
const res = Object.fromEntries(Object.keys(f).map((k) => [k, []]));
for (let r = 0; r < 7; r++) for (const [k, fn] of Object.entries(f)) { const N = 200000; const t = process.hrtime.bigint(); for (let i = 0; i < N; i++) fn(i); res[k].push(Number(process.hrtime.bigint() - t) / N); }
for (const [k, v] of Object.entries(res)) { v.sort((a, b) => a - b); console.log(`| ${k} | ${(v[3] / 1000).toFixed(2)} | ${(v[0] / 1000).toFixed(2)}–${(v[6] / 1000).toFixed(2)} |`); }
