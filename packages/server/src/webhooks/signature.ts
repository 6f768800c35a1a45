import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com/, the
 * spec's "Signature scheme"): HMAC-SHA256 over `${id}.${timestamp}.${body}`
 * with the secret's bytes (base64 after `whsec_`), sent as
 * `webhook-signature: v1,<base64>`; several space-separated signatures may
 * be sent (key rotation). Receivers reject timestamps outside a tolerance
 * (five minutes) to stop replays.
 */
export const SECRET_PREFIX = 'whsec_';
export const TIMESTAMP_TOLERANCE_SECONDS = 5 * 60;

/** A new secret: 32 random bytes, `whsec_` + base64 (the format the standardwebhooks libraries read). */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
}

export function isWebhookSecret(secret: string): boolean {
  return secret.startsWith(SECRET_PREFIX) && /^[A-Za-z0-9+/]+={0,2}$/.test(secret.slice(SECRET_PREFIX.length)) && secretKey(secret).length >= 24;
}

export function sign(secret: string, id: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac('sha256', secretKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** The three Standard Webhooks headers of a message. */
export function signedHeaders(secret: string, id: string, body: string, now = Date.now()): Record<string, string> {
  const ts = Math.floor(now / 1000);
  return { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': sign(secret, id, ts, body) };
}

export type VerifyProblem = 'missing_headers' | 'stale_timestamp' | 'bad_signature';

/**
 * Verifies a message as a receiver: headers present, timestamp within the
 * tolerance, one of the `v1` signatures right (compared in constant time).
 * @returns undefined when the message is authentic, otherwise what failed.
 */
export function verify(secret: string, headers: { id?: string; timestamp?: string; signature?: string }, body: string | Buffer, now = Date.now()): VerifyProblem | undefined {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return 'missing_headers';
  if (Math.abs(Math.floor(now / 1000) - Number(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS) return 'stale_timestamp';
  const expected = Buffer.from(createHmac('sha256', secretKey(secret)).update(`${id}.${timestamp}.`).update(body).digest('base64'));
  for (const part of signature.split(' ')) {
    const [version, value] = part.split(',', 2);
    if (version !== 'v1' || !value) continue;
    const given = Buffer.from(value);
    if (given.length === expected.length && timingSafeEqual(given, expected)) return undefined;
  }
  return 'bad_signature';
}
