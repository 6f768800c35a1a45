import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../storage/schema.js';
import type { SmsSender } from '../notify/senders.js';
import { isE164 } from '../notify/sms-config.js';
import { LOCALES, translator } from '../i18n/index.js';
import type { Locale } from '../i18n/index.js';
import type { TenantRepository } from './repository.js';
import type { ActionTokenRepository } from './tokens.js';
import type { User } from './model.js';
import { DEFAULT_POLICY } from './policy.js';

/** Codes sent per account and hour (the account page and registration together). */
export const PHONE_CODES_PER_ACCOUNT_PER_HOUR = 5;
/** Wrong guesses a code survives; the next one voids it (10^6 codes: the odds stay at 5 in a million per code). */
export const PHONE_CODE_ATTEMPTS = 5;
export const PHONE_CODE_TTL_SECONDS = 600;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export type SendCodeResult =
  | { ok: true }
  /** `limit` says which limit was reached: the account's, the number's or the client IP's (per tenant and hour). */
  | { ok: false; reason: 'no_phone' | 'already_verified' }
  | { ok: false; reason: 'too_many_requests'; limit: 'account' | 'number' | 'ip' };

export type CheckCodeResult = { ok: true } | { ok: false; reason: 'wrong_code' | 'code_expired'; attemptsLeft: number };

export interface PhoneCodeDeps {
  db: Kysely<Database>;
  tokens: ActionTokenRepository;
  tenants: Pick<TenantRepository, 'findById'>;
  sms: SmsSender;
  log: Pick<Logger, 'info' | 'warn'>;
}

/**
 * Six-digit codes by SMS that prove a phone number (the account page, and
 * registration when a tenant requires a phone number). One place for the
 * limits, so every way to make Tessera send an SMS counts against them:
 * per account, and per tenant per phone number and per client IP (the
 * tenant policy's `sms` block), each per hour and across instances (counted
 * in the database). A code is bound to the number it was sent to.
 */
export class PhoneCodes {
  constructor(private readonly deps: PhoneCodeDeps) {}

  /**
   * Sends a new code to the user's unconfirmed number (older codes stop working).
   * @throws DeliveryError when the provider cannot take the message (HTTP: 503 `delivery_failed`).
   */
  async send(user: User, ctx: { ip?: string | null; locale: Locale }): Promise<SendCodeResult> {
    const phone = user.phoneNumber;
    if (!phone || !isE164(phone)) return { ok: false, reason: 'no_phone' };
    if (user.phoneNumberVerified) return { ok: false, reason: 'already_verified' };
    const limits = (await this.deps.tenants.findById(user.tenantId))?.policy.sms ?? DEFAULT_POLICY.sms;
    const since = Date.now() - HOUR_MS;
    if (await this.deps.tokens.countSince(user.id, 'phone_confirm', since) >= PHONE_CODES_PER_ACCOUNT_PER_HOUR) return this.limited(user, 'account');
    if (await this.sentSince(user.tenantId, 'phone', phone, since) >= limits.per_number_per_hour) return this.limited(user, 'number');
    if (ctx.ip && await this.sentSince(user.tenantId, 'ip', ctx.ip, since) >= limits.per_ip_per_hour) return this.limited(user, 'ip');

    const code = await this.deps.tokens.createCode({
      userId: user.id, tenantId: user.tenantId, purpose: 'phone_confirm', target: phone, ttlSeconds: PHONE_CODE_TTL_SECONDS,
    });
    // Counted before sending: a failing provider must not be hammered by retries from the page either.
    await this.record(user.tenantId, phone, ctx.ip ?? null);
    const t = translator(userLocale(user, ctx.locale));
    await this.deps.sms.send({ to: phone, text: t('account.sms.code', { code, minutes: PHONE_CODE_TTL_SECONDS / 60 }) });
    return { ok: true };
  }

  /**
   * Checks a code against the user's current number. Wrong guesses count
   * against the code; the PHONE_CODE_ATTEMPTS-th voids it. Changes nothing
   * else: the caller marks the number confirmed.
   */
  async check(user: User, code: string): Promise<CheckCodeResult> {
    const consumed = await this.deps.tokens.consumeCode(user.id, code, 'phone_confirm');
    if (!consumed.ok) {
      const left = await this.deps.tokens.recordFailure(user.id, 'phone_confirm', PHONE_CODE_ATTEMPTS);
      return { ok: false, reason: left > 0 ? 'wrong_code' : 'code_expired', attemptsLeft: left };
    }
    // The code was sent to a number the account no longer has.
    if (!user.phoneNumber || consumed.target !== user.phoneNumber) return { ok: false, reason: 'code_expired', attemptsLeft: 0 };
    return { ok: true };
  }

  private limited(user: User, limit: 'account' | 'number' | 'ip'): SendCodeResult {
    this.deps.log.info({ sub: user.id, tenant: user.tenantId, limit }, 'phone code not sent: hourly limit reached');
    return { ok: false, reason: 'too_many_requests', limit };
  }

  private async sentSince(tenantId: string, column: 'phone' | 'ip', value: string, since: number): Promise<number> {
    const r = await this.deps.db.selectFrom('sms_sends').select((eb) => eb.fn.countAll().as('n'))
      .where('tenant_id', '=', tenantId).where(column, '=', value).where('at', '>=', since).executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  private async record(tenantId: string, phone: string, ip: string | null): Promise<void> {
    const now = Date.now();
    await this.deps.db.insertInto('sms_sends').values({ id: randomUUID(), tenant_id: tenantId, phone, ip, at: now }).execute();
    // Only the last hour counts; a day's rows are kept, older ones go as new ones come (an indexed range).
    await this.deps.db.deleteFrom('sms_sends').where('at', '<', now - DAY_MS).execute();
  }
}

/** Messages go out in the user's chosen language, else the language of the page they used. */
function userLocale(user: User, fallback: Locale): Locale {
  return (LOCALES as readonly string[]).includes(user.locale ?? '') ? (user.locale as Locale) : fallback;
}
