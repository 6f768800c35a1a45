import { createCipheriv, pbkdf2, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { verify as argon2Verify } from '@node-rs/argon2';
import type { verify as bcryptVerifyType } from '@node-rs/bcrypt';
import { requireOnUse } from '../startup/lazy.js';

/**
 * Password hashes imported from other systems (docs/users.md#hash-formats),
 * verified at sign-in and then replaced by Tessera's own argon2id
 * (IdentityService upgrades any hash `needsRehash` flags). Stored as PHC-style
 * strings, one prefix per algorithm:
 *
 * - argon2 (`$argon2id$`, `$argon2i$`, `$argon2d$`) of any parameters;
 * - bcrypt (`$2a$`, `$2b$`, `$2y$`);
 * - PBKDF2-HMAC-SHA256, Keycloak's `pbkdf2-sha256`: `$pbkdf2-sha256$i=ITER$SALT$HASH`;
 * - Firebase's scrypt variant: `$firebase-scrypt$n=LOG2N,r=R,p=1$SALT$HASH$SEPARATOR$SIGNERKEY`
 *   (the project's signer key and salt separator travel with each hash).
 *
 * Salts and hashes are standard base64 (padding optional). Parameters are
 * bounded so that an imported hash cannot make one sign-in take minutes.
 */
const pbkdf2Async = promisify(pbkdf2);
// Only imported bcrypt hashes need it: its native library loads at the first one, not at every start (issue 20).
const bcrypt = requireOnUse<{ verify: typeof bcryptVerifyType }>('@node-rs/bcrypt');
const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

const B64 = '[A-Za-z0-9+/]+={0,2}';
const PBKDF2 = new RegExp(`^\\$pbkdf2-sha256\\$i=(\\d+)\\$(${B64})\\$(${B64})$`);
const FIREBASE = new RegExp(`^\\$firebase-scrypt\\$n=(\\d+),r=(\\d+),p=1\\$(${B64})\\$(${B64})\\$(${B64})\\$(${B64})$`);
const BCRYPT = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/;
const ARGON2 = /^\$argon2(id|i|d)\$v=(16|19)\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

export const HASH_LIMITS = {
  argon2: { maxMemoryKiB: 1_048_576, maxTime: 20, maxParallelism: 16 },
  bcrypt: { minCost: 4, maxCost: 15 },
  pbkdf2: { minIterations: 1_000, maxIterations: 5_000_000 },
  scrypt: { maxLog2N: 17, maxR: 16 },
} as const;

export type HashAlgorithm = 'argon2' | 'bcrypt' | 'pbkdf2-sha256' | 'firebase-scrypt';

/** Which algorithm a stored hash uses, when it is one Tessera verifies within its limits. */
export function hashAlgorithm(stored: string): HashAlgorithm | undefined {
  const a = ARGON2.exec(stored);
  if (a) {
    const [m, t, p] = [Number(a[3]), Number(a[4]), Number(a[5])];
    const l = HASH_LIMITS.argon2;
    return m <= l.maxMemoryKiB && t >= 1 && t <= l.maxTime && p >= 1 && p <= l.maxParallelism ? 'argon2' : undefined;
  }
  const b = BCRYPT.exec(stored);
  if (b) return Number(b[1]) >= HASH_LIMITS.bcrypt.minCost && Number(b[1]) <= HASH_LIMITS.bcrypt.maxCost ? 'bcrypt' : undefined;
  const k = PBKDF2.exec(stored);
  if (k) {
    const i = Number(k[1]);
    return i >= HASH_LIMITS.pbkdf2.minIterations && i <= HASH_LIMITS.pbkdf2.maxIterations && Buffer.from(k[3]!, 'base64').length >= 16 ? 'pbkdf2-sha256' : undefined;
  }
  const f = FIREBASE.exec(stored);
  if (f) {
    const [n, r] = [Number(f[1]), Number(f[2])];
    return n >= 1 && n <= HASH_LIMITS.scrypt.maxLog2N && r >= 1 && r <= HASH_LIMITS.scrypt.maxR ? 'firebase-scrypt' : undefined;
  }
  return undefined;
}

/** Checks `password` against a stored hash of any supported format; false for anything malformed (never throws). */
export async function verifyStoredHash(stored: string, password: string): Promise<boolean> {
  try {
    switch (hashAlgorithm(stored)) {
      case 'argon2':
        return await argon2Verify(stored, password);
      case 'bcrypt':
        return await bcrypt().verify(password, stored);
      case 'pbkdf2-sha256': {
        const [, iterations, salt, hash] = PBKDF2.exec(stored)!;
        const expected = Buffer.from(hash!, 'base64');
        const actual = await pbkdf2Async(password, Buffer.from(salt!, 'base64'), Number(iterations), expected.length, 'sha256');
        return timingSafeEqual(actual, expected);
      }
      case 'firebase-scrypt': {
        const [, n, r, salt, hash, separator, signerKey] = FIREBASE.exec(stored)!;
        return timingSafeEqualLoose(await firebaseScrypt(password, {
          salt: Buffer.from(salt!, 'base64'), saltSeparator: Buffer.from(separator!, 'base64'), signerKey: Buffer.from(signerKey!, 'base64'),
          log2N: Number(n), rounds: Number(r),
        }), Buffer.from(hash!, 'base64'));
      }
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/**
 * Firebase Authentication's scrypt: scrypt(password, salt ‖ separator,
 * N = 2^mem_cost, r = rounds, p = 1) keys AES-256-CTR (zero IV), which
 * encrypts the project's signer key; that ciphertext is the stored hash.
 */
export async function firebaseScrypt(password: string, p: { salt: Buffer; saltSeparator: Buffer; signerKey: Buffer; log2N: number; rounds: number }): Promise<Buffer> {
  const N = 2 ** p.log2N;
  const key = await scryptAsync(password, Buffer.concat([p.salt, p.saltSeparator]), 32, { N, r: p.rounds, p: 1, maxmem: 256 * N * p.rounds + 1024 * 1024 });
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(p.signerKey), cipher.final()]);
}

function timingSafeEqualLoose(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Firebase project parameters (the console's "password hash parameters"), for rows that carry only hash and salt. */
export interface FirebaseParams {
  signerKey: string;
  saltSeparator: string;
  rounds: number;
  memCost: number;
}

const b64 = (v: unknown): v is string => typeof v === 'string' && new RegExp(`^${B64}$`).test(v);

/**
 * Turns an imported hash into Tessera's stored form. Accepts a stored-form
 * string (argon2, bcrypt, `$pbkdf2-sha256$…`, `$firebase-scrypt$…`), a
 * Keycloak credential as its export has it (`{type: "password", secretData,
 * credentialData}` with algorithm `pbkdf2-sha256`), or
 * `{algorithm: "firebase-scrypt", hash, salt[, rounds, mem_cost, salt_separator, signer_key]}`
 * (project parameters from `firebase` when omitted).
 * Returns the stored string, or a field code: `unsupported_hash` (an
 * algorithm Tessera does not verify, or parameters beyond its limits),
 * `invalid_hash` (malformed).
 */
export function importHash(input: unknown, firebase?: FirebaseParams): { ok: true; hash: string } | { ok: false; code: 'invalid_hash' | 'unsupported_hash' } {
  if (typeof input === 'string') {
    if (hashAlgorithm(input)) return { ok: true, hash: input };
    // Well-formed but beyond the limits (or an unknown algorithm): unsupported; a known prefix with a broken body: invalid.
    if ([ARGON2, BCRYPT, PBKDF2, FIREBASE].some((re) => re.test(input))) return { ok: false, code: 'unsupported_hash' };
    return { ok: false, code: /^\$(argon2(id|i|d)|2[aby]|pbkdf2-sha256|firebase-scrypt)\$/.test(input) ? 'invalid_hash' : 'unsupported_hash' };
  }
  if (!input || typeof input !== 'object' || Array.isArray(input)) return { ok: false, code: 'invalid_hash' };
  const o = input as Record<string, unknown>;
  if (o.type === 'password' && typeof o.secretData === 'string' && typeof o.credentialData === 'string') {
    let secret: { value?: unknown; salt?: unknown };
    let cred: { hashIterations?: unknown; algorithm?: unknown };
    try {
      secret = JSON.parse(o.secretData) as typeof secret;
      cred = JSON.parse(o.credentialData) as typeof cred;
    } catch {
      return { ok: false, code: 'invalid_hash' };
    }
    if (cred.algorithm !== 'pbkdf2-sha256') return { ok: false, code: 'unsupported_hash' };
    if (!b64(secret.value) || !b64(secret.salt) || !Number.isInteger(cred.hashIterations)) return { ok: false, code: 'invalid_hash' };
    return checked(`$pbkdf2-sha256$i=${cred.hashIterations as number}$${secret.salt}$${secret.value}`);
  }
  if (o.algorithm === 'firebase-scrypt') {
    const rounds = o.rounds ?? firebase?.rounds;
    const memCost = o.mem_cost ?? firebase?.memCost;
    const separator = o.salt_separator ?? firebase?.saltSeparator;
    const signer = o.signer_key ?? firebase?.signerKey;
    if (!b64(o.hash) || !b64(o.salt) || !b64(separator) || !b64(signer) || !Number.isInteger(rounds) || !Number.isInteger(memCost)) {
      return { ok: false, code: 'invalid_hash' };
    }
    return checked(`$firebase-scrypt$n=${memCost as number},r=${rounds as number},p=1$${o.salt}$${o.hash}$${separator}$${signer}`);
  }
  return { ok: false, code: typeof o.algorithm === 'string' || typeof o.type === 'string' ? 'unsupported_hash' : 'invalid_hash' };
}

function checked(hash: string): { ok: true; hash: string } | { ok: false; code: 'unsupported_hash' } {
  return hashAlgorithm(hash) ? { ok: true, hash } : { ok: false, code: 'unsupported_hash' };
}
