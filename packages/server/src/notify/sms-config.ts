import { z } from 'zod';
import { ConfigError, formatIssues } from '../config/errors.js';

/**
 * How Tessera sends SMS (docs/identity.md#mail-and-sms): the development
 * outbox, a generic HTTP provider (URL, auth header, body template), or the
 * Twilio preset (Twilio's Messages API, and anything speaking it). Read from
 * the environment once at boot, like SMTP_URL; a broken setting stops the
 * start with every problem named.
 */
export type SmsSettings =
  | { provider: 'outbox' }
  | {
    provider: 'http' | 'twilio';
    /** Where the message is POSTed. */
    url: string;
    /** Extra request headers (the auth header). */
    headers: Record<string, string>;
    /** JSON or form body. */
    format: 'json' | 'form';
    /** The body: string values may hold {{to}}, {{text}} and {{from}}. */
    body: Record<string, unknown>;
    from: string | undefined;
    timeoutMs: number;
    retries: number;
  };

const E164 = /^\+[1-9]\d{6,14}$/;
const HEADER = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\x20-\x7E]+)$/;

const envSchema = z.object({
  SMS_PROVIDER: z.enum(['outbox', 'http', 'twilio'], 'must be outbox, http or twilio').default('outbox'),
  SMS_HTTP_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  SMS_HTTP_AUTH_HEADER: z.string().regex(HEADER, 'must be "Name: value", e.g. "Authorization: Bearer …"').optional(),
  SMS_HTTP_FORMAT: z.enum(['json', 'form'], 'must be json or form').default('json'),
  SMS_HTTP_BODY: z.string().optional(),
  /** Sender id or number (Twilio: required, an E.164 number or a messaging service sender). */
  SMS_FROM: z.string().min(1).max(64).optional(),
  SMS_TWILIO_ACCOUNT_SID: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'must be AC followed by 32 hex digits').optional(),
  SMS_TWILIO_AUTH_TOKEN: z.string().min(16).optional(),
  SMS_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
  SMS_RETRIES: z.coerce.number().int().min(0).max(5).default(2),
});

const DEFAULT_BODY = { to: '{{to}}', text: '{{text}}', from: '{{from}}' };
const TWILIO_BASE = 'https://api.twilio.com';

/**
 * @throws ConfigError naming each problem (`SMS_HTTP_URL: is required for SMS_PROVIDER=http`, …).
 */
export function smsSettingsFromEnv(env: NodeJS.ProcessEnv): SmsSettings {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error), 'the environment');
  const e = parsed.data;
  if (e.SMS_PROVIDER === 'outbox') return { provider: 'outbox' };
  const problems: string[] = [];
  const common = { from: e.SMS_FROM, timeoutMs: e.SMS_TIMEOUT_MS, retries: e.SMS_RETRIES };
  if (e.SMS_PROVIDER === 'twilio') {
    if (!e.SMS_TWILIO_ACCOUNT_SID) problems.push('SMS_TWILIO_ACCOUNT_SID: is required for SMS_PROVIDER=twilio');
    if (!e.SMS_TWILIO_AUTH_TOKEN) problems.push('SMS_TWILIO_AUTH_TOKEN: is required for SMS_PROVIDER=twilio');
    if (!e.SMS_FROM) problems.push('SMS_FROM: is required for SMS_PROVIDER=twilio (the sending number or sender id)');
    if (problems.length) throw new ConfigError(problems, 'the environment');
    // SMS_HTTP_URL, when set, replaces Twilio's origin (a regional edge, a compatible provider, a test receiver).
    const base = (e.SMS_HTTP_URL ?? TWILIO_BASE).replace(/\/$/, '');
    const basic = Buffer.from(`${e.SMS_TWILIO_ACCOUNT_SID}:${e.SMS_TWILIO_AUTH_TOKEN}`).toString('base64');
    return {
      provider: 'twilio', ...common,
      url: `${base}/2010-04-01/Accounts/${e.SMS_TWILIO_ACCOUNT_SID}/Messages.json`,
      headers: { authorization: `Basic ${basic}` },
      format: 'form',
      body: { To: '{{to}}', From: '{{from}}', Body: '{{text}}' },
    };
  }
  if (!e.SMS_HTTP_URL) problems.push('SMS_HTTP_URL: is required for SMS_PROVIDER=http');
  let body: Record<string, unknown> = DEFAULT_BODY;
  if (e.SMS_HTTP_BODY !== undefined) {
    try {
      const value: unknown = JSON.parse(e.SMS_HTTP_BODY);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
      body = value as Record<string, unknown>;
      if (!JSON.stringify(body).includes('{{text}}')) problems.push('SMS_HTTP_BODY: must contain {{text}} somewhere (the message)');
    } catch {
      problems.push('SMS_HTTP_BODY: must be a JSON object, e.g. {"to":"{{to}}","message":"{{text}}"}');
    }
  }
  if (problems.length) throw new ConfigError(problems, 'the environment');
  const headers: Record<string, string> = {};
  if (e.SMS_HTTP_AUTH_HEADER) {
    const [, name, value] = HEADER.exec(e.SMS_HTTP_AUTH_HEADER)!;
    headers[name!.toLowerCase()] = value!.trim();
  }
  return { provider: 'http', ...common, url: e.SMS_HTTP_URL!, headers, format: e.SMS_HTTP_FORMAT, body };
}

/** True for a phone number Tessera sends SMS to: E.164 (`+` country code and number, 8–15 digits). */
export function isE164(phone: string): boolean {
  return E164.test(phone);
}
