import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The key-encryption key protects private signing keys at rest (AES-256-GCM).
 * It comes from `TESSERA_SECRET`, or from a file generated under the data
 * directory on first start (0600) with a warning: fine for one machine, but
 * every instance sharing a PostgreSQL store must be given the same secret.
 */
export interface KeyEncryptionKey {
  encrypt(plaintext: string): string;
  /** @throws Error when the ciphertext was made with another secret or was altered. */
  decrypt(ciphertext: string): string;
  /** A secret derived for another purpose (e.g. cookie signing), stable for the same TESSERA_SECRET. */
  derive(purpose: string): string;
}

export interface KekSource {
  secret?: string;
  secretFile: string;
  warn: (message: string) => void;
}

export function loadKek({ secret, secretFile, warn }: KekSource): KeyEncryptionKey {
  let material = secret;
  if (!material) {
    if (existsSync(secretFile)) {
      material = readFileSync(secretFile, 'utf8').trim();
    } else {
      mkdirSync(dirname(secretFile), { recursive: true });
      material = randomBytes(32).toString('base64url');
      writeFileSync(secretFile, material + '\n', { mode: 0o600 });
      chmodSync(secretFile, 0o600);
      warn(`TESSERA_SECRET is not set: generated a key-encryption secret in ${secretFile} (mode 0600). ` +
        'Back it up, and set TESSERA_SECRET explicitly when running more than one instance.');
    }
  }
  return createKek(material);
}

export function createKek(secret: string): KeyEncryptionKey {
  const key = Buffer.from(hkdfSync('sha256', secret, 'tessera', 'tessera key-encryption key v1', 32));
  return {
    encrypt(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v1', iv.toString('base64url'), ct.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
    },
    derive(purpose) {
      return Buffer.from(hkdfSync('sha256', secret, 'tessera', `tessera ${purpose}`, 32)).toString('base64url');
    },
    decrypt(ciphertext) {
      const [v, iv, ct, tag] = ciphertext.split('.');
      if (v !== 'v1' || !iv || !ct || !tag) throw new Error('unrecognised encrypted key format');
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
      } catch {
        throw new Error('cannot decrypt signing keys: TESSERA_SECRET differs from the one they were encrypted with');
      }
    },
  };
}
