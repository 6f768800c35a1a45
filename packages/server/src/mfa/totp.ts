import { timingSafeEqual } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import type QRCode from 'qrcode';
import { lazy } from '../startup/lazy.js';

// Loaded with the first enrollment page, not at start (issue 20).
const qrcode = lazy(async () => (await import('qrcode')).default as typeof QRCode);

/**
 * TOTP (RFC 6238) with the parameters every authenticator app supports:
 * HMAC-SHA1, 6 digits, 30-second steps, a 160-bit secret (RFC 4226 §4
 * recommends 160 bits). Pure functions; storage and replay bookkeeping are
 * the service's.
 */
export const TOTP_PARAMS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** Steps accepted on either side of now: ±30 s of clock drift (RFC 6238 §5.2 recommends at most one). */
export const TOTP_WINDOW = 1;

/** A new random secret, base32 (what the user types when they cannot scan). */
export function generateTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

function totp(secretBase32: string, issuer = 'Tessera', label = 'account'): TOTP {
  return new TOTP({ issuer, label, ...TOTP_PARAMS, secret: Secret.fromBase32(secretBase32) });
}

/** The `otpauth://totp/...` key URI (Google Authenticator key URI format) the QR code encodes. */
export function totpUri(secretBase32: string, issuer: string, accountName: string): string {
  return totp(secretBase32, issuer, accountName).toString();
}

/** The current time step (RFC 6238 T). */
export function currentStep(now = Date.now()): number {
  return Math.floor(now / 1000 / TOTP_PARAMS.period);
}

/**
 * Checks a code against the steps in the window, newest acceptable first,
 * skipping every step at or below `lastStep`: a code already used (or an
 * older one) is refused, so a code cannot be replayed within its window.
 * Returns the matching step, or null.
 */
export function matchTotp(secretBase32: string, code: string, lastStep: number | null, now = Date.now()): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const generator = totp(secretBase32);
  const current = currentStep(now);
  let found: number | null = null;
  for (let step = current - TOTP_WINDOW; step <= current + TOTP_WINDOW; step++) {
    if (lastStep !== null && step <= lastStep) continue;
    const expected = generator.generate({ timestamp: step * TOTP_PARAMS.period * 1000 });
    // Constant time per comparison; every step in the window is computed, so timing says nothing either.
    if (timingSafeEqual(Buffer.from(expected), Buffer.from(code)) && found === null) found = step;
  }
  return found;
}

/**
 * True when the code is one of the window's steps at or below `lastStep`:
 * right, but already used (typically the same code typed twice within 30 s).
 * The caller still refuses it; it only picks a more helpful message.
 */
export function totpCodeAlreadyUsed(secretBase32: string, code: string, lastStep: number | null, now = Date.now()): boolean {
  if (lastStep === null || !/^\d{6}$/.test(code)) return false;
  const generator = totp(secretBase32);
  const current = currentStep(now);
  let used = false;
  for (let step = current - TOTP_WINDOW; step <= Math.min(lastStep, current + TOTP_WINDOW); step++) {
    const expected = generator.generate({ timestamp: step * TOTP_PARAMS.period * 1000 });
    if (timingSafeEqual(Buffer.from(expected), Buffer.from(code))) used = true;
  }
  return used;
}

/** The key URI as an SVG QR code, as a data: URI for an <img> (the page CSP allows img-src data:). */
export async function qrDataUri(uri: string): Promise<string> {
  const svg = await (await qrcode()).toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}

/** The secret in groups of four, easier to type into an app by hand. */
export function groupSecret(secretBase32: string): string {
  return secretBase32.replace(/(.{4})/g, '$1 ').trim();
}
