import { hash, verify } from '@node-rs/argon2';
import { verifyStoredHash } from './hashes.js';

/**
 * argon2id with OWASP's recommended minimum (m=19456 KiB, t=2, p=1). The
 * parameters travel inside each PHC string, so changing them here only
 * affects new hashes; `needsRehash` lets login upgrade old ones.
 */
export const ARGON2_PARAMS = { memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export async function hashPassword(password: string): Promise<string> {
  return hash(password, { algorithm: 2 /* Argon2id */, ...ARGON2_PARAMS });
}

export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    // Hashes imported from other systems (bcrypt, PBKDF2, Firebase scrypt; hashes.ts); `needsRehash` upgrades them.
    if (!phc.startsWith('$argon2')) return await verifyStoredHash(phc, password);
    return await verify(phc, password);
  } catch {
    // A malformed stored hash must read as "wrong password", never as a crash.
    return false;
  }
}

/** True when a stored hash was made with other parameters than today's. */
export function needsRehash(phc: string): boolean {
  const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(phc);
  if (!m) return true;
  return Number(m[1]) !== ARGON2_PARAMS.memoryCost || Number(m[2]) !== ARGON2_PARAMS.timeCost || Number(m[3]) !== ARGON2_PARAMS.parallelism;
}

let dummy: Promise<string> | undefined;
/**
 * A hash to verify against when the account does not exist, so that unknown
 * and known usernames cost the same time (no account enumeration by timing).
 */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword('tessera-dummy-password-for-timing');
  return dummy;
}
