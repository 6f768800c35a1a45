import { createHmac, randomInt } from 'node:crypto';

/**
 * Recovery codes: 10 codes of 10 characters from a 32-letter alphabet
 * without look-alikes (no 0/O, 1/I), 50 bits each, shown as XXXXX-XXXXX.
 *
 * Stored as HMAC-SHA256 under a key derived from the key-encryption key,
 * not argon2: the codes are random with 50 bits of entropy, so there is no
 * dictionary to try, and a stolen table without the server secret cannot be
 * brute-forced offline at all; online guessing is bounded by the lockout.
 * A fast keyed hash also lets a code be found by its digest in one indexed
 * lookup instead of ten argon2 verifications per attempt (which would make
 * the recovery form a denial-of-service lever).
 */
export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
const LENGTH = 10;

/** Fresh codes, formatted for display. */
export function generateRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => {
    let code = '';
    for (let i = 0; i < LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
    return `${code.slice(0, 5)}-${code.slice(5)}`;
  });
}

/**
 * A typed code in canonical form (upper case, without spaces or dashes), or
 * undefined when it cannot be a recovery code (so it is refused before any
 * lookup or counting as a guess).
 */
export function normalizeRecoveryCode(input: string): string | undefined {
  const code = input.toUpperCase().replace(/[\s-]/g, '');
  if (code.length !== LENGTH) return undefined;
  for (const c of code) if (!ALPHABET.includes(c)) return undefined;
  return code;
}

/** The stored digest, bound to the user so equal codes of two users never collide. */
export function hashRecoveryCode(key: string, userId: string, canonical: string): string {
  return createHmac('sha256', key).update(`${userId}:${canonical}`).digest('base64url');
}
