import type { Logger } from 'pino';
import type { EventBus, EventContext } from '../audit/events.js';
import type { TenantRepository, UserRepository } from '../identity/repository.js';
import { ConflictError } from '../storage/errors.js';
import type { ActionTokenRepository } from '../identity/tokens.js';
import { normalizeEmail, normalizeUsername } from '../identity/model.js';
import type { User, UserProfilePatch } from '../identity/model.js';
import { DEFAULT_POLICY } from '../identity/policy.js';
import type { TenantPolicy } from '../identity/policy.js';
import type { Mailer } from '../notify/senders.js';
import type { PhoneCodes } from '../identity/phone-codes.js';
import { LOCALES, translator } from '../i18n/index.js';
import type { Locale } from '../i18n/index.js';
import type { ProfileForm } from './schemas.js';

export interface AccountServiceDeps {
  issuer: string;
  users: UserRepository;
  tenants: TenantRepository;
  tokens: ActionTokenRepository;
  mailer: Mailer;
  /** SMS codes and their limits, shared with registration (identity/phone-codes.ts). */
  phoneCodes: PhoneCodes;
  events: EventBus;
  log: Logger;
}

/** Per account and hour: email-change links sent (each one is a message to an address the user typed; phone codes: identity/phone-codes.ts). */
export const SENDS_PER_HOUR = 5;
const HOUR_MS = 3_600_000;

export type FieldErrors = Record<string, string>;
export type ProfileResult = { ok: true; user: User; changed: string[] } | { ok: false; fields: FieldErrors };
export type EmailChangeResult = { ok: true } | { ok: false; fields: FieldErrors };
export type ConfirmEmailResult = { ok: true; email: string } | { ok: false; reason: 'invalid' | 'expired' | 'used' | 'taken' };
export type PhoneCodeResult = { ok: true } | { ok: false; reason: 'no_phone' | 'already_verified' | 'too_many_requests' };
export type ConfirmPhoneResult = { ok: true } | { ok: false; reason: 'wrong_code' | 'code_expired'; attemptsLeft: number };

/**
 * Self-service changes to one's own account: profile fields, email change
 * with re-confirmation, phone confirmation. Every change emits a domain event
 * (values of secrets never appear in them).
 */
export class AccountService {
  constructor(private readonly deps: AccountServiceDeps) {}

  /**
   * Saves the editable profile fields. Only changed fields are written; a new
   * phone number is unconfirmed again. Field errors (stable codes) come back
   * instead of throwing, so the page can show them next to the fields.
   * @throws NotFoundError if the user vanished meanwhile.
   */
  async updateProfile(user: User, form: ProfileForm, ctx: EventContext): Promise<ProfileResult> {
    const policy = await this.policy(user.tenantId);
    const fields: FieldErrors = {};
    const given: Record<string, string> = form;
    for (const name of policy.required_fields) if (given[name] === '') fields[name] = 'required';
    // Without a username or an email address there would be nothing left to sign in with.
    if (form.username === '' && !user.email) fields.username = 'required';
    if (!fields.username && form.username !== '' && normalizeUsername(form.username) !== normalizeUsername(user.username ?? '')) {
      const other = await this.deps.users.findByUsername(user.tenantId, form.username);
      if (other && other.id !== user.id) fields.username = 'taken';
    }
    if (Object.keys(fields).length) return { ok: false, fields };

    const patch: UserProfilePatch = {};
    const orNull = (v: string) => (v === '' ? null : v);
    if (orNull(form.given_name) !== user.givenName) patch.givenName = orNull(form.given_name);
    if (orNull(form.family_name) !== user.familyName) patch.familyName = orNull(form.family_name);
    if (orNull(form.username) !== user.username) patch.username = orNull(form.username);
    if (orNull(form.phone_number) !== user.phoneNumber) {
      patch.phoneNumber = orNull(form.phone_number);
      // A confirmation is for a number, not for the account: a new number starts unconfirmed.
      patch.phoneNumberVerified = false;
    }
    if (orNull(form.locale) !== user.locale) patch.locale = orNull(form.locale);
    const changed = Object.keys(patch).filter((k) => k !== 'phoneNumberVerified');
    if (!changed.length) return { ok: true, user, changed: [] };

    let updated: User;
    try {
      updated = await this.deps.users.updateProfile(user.id, patch);
    } catch (err) {
      // Someone took the username between the check and the write.
      if (err instanceof ConflictError) return { ok: false, fields: { username: 'taken' } };
      throw err;
    }
    if (patch.phoneNumber !== undefined) await this.deps.tokens.invalidate(user.id, 'phone_confirm');
    await this.emit('user.updated', updated, ctx, { fields: changed.map(snake) });
    return { ok: true, user: updated, changed };
  }

  /**
   * Sends a confirmation link to the NEW address; the current address stays
   * until the link is used. Older pending links stop working.
   */
  async requestEmailChange(user: User, email: string, locale: Locale, ctx: EventContext): Promise<EmailChangeResult> {
    if (user.email && normalizeEmail(email) === normalizeEmail(user.email)) return { ok: false, fields: { email: 'unchanged' } };
    const other = await this.deps.users.findByEmail(user.tenantId, email);
    if (other && other.id !== user.id) return { ok: false, fields: { email: 'taken' } };
    if (await this.deps.tokens.countSince(user.id, 'email_change', Date.now() - HOUR_MS) >= SENDS_PER_HOUR) {
      return { ok: false, fields: { email: 'too_many_requests' } };
    }
    const policy = await this.policy(user.tenantId);
    await this.deps.tokens.invalidate(user.id, 'email_change');
    const token = await this.deps.tokens.createLink({
      userId: user.id, tenantId: user.tenantId, purpose: 'email_change', target: email, ttlSeconds: policy.email_confirmation_ttl_seconds,
    });
    const t = translator(locale);
    const link = `${this.deps.issuer}/account/email/confirm?token=${token}`;
    await this.deps.mailer.send({
      to: email,
      subject: t('account.mail.change.subject'),
      text: t('account.mail.change.body', { link, hours: Math.max(1, Math.round(policy.email_confirmation_ttl_seconds / 3600)) }),
    });
    await this.emit('user.email_change_requested', user, ctx, { new_email: email });
    return { ok: true };
  }

  /** What the email-change link would do, without using it (for the page a GET shows). */
  async inspectEmailChange(token: string): Promise<{ ok: true } | { ok: false; reason: 'invalid' | 'expired' | 'used' }> {
    const state = await this.deps.tokens.inspectLink(token, 'email_change');
    return state.ok ? { ok: true } : state;
  }

  /**
   * Applies a confirmed email change: the address becomes the account's,
   * verified, and the old address is told. A used, expired or forged token
   * changes nothing.
   * @throws NotFoundError if the user vanished meanwhile.
   */
  async confirmEmailChange(token: string, locale: Locale, ctx: EventContext): Promise<ConfirmEmailResult> {
    // An address someone else holds now is refused before the link is used up:
    // once that address is free again, the same link still works.
    const peek = await this.deps.tokens.inspectLink(token, 'email_change');
    if (!peek.ok) return { ok: false, reason: peek.reason };
    if (peek.target && peek.tenantId) {
      const holder = await this.deps.users.findByEmail(peek.tenantId, peek.target);
      if (holder && holder.id !== peek.userId) return { ok: false, reason: 'taken' };
    }
    const consumed = await this.deps.tokens.consumeLink(token, 'email_change');
    if (!consumed.ok) return { ok: false, reason: consumed.reason };
    const user = await this.deps.users.findById(consumed.userId);
    if (!user || user.status === 'disabled' || !consumed.target) return { ok: false, reason: 'invalid' };
    const email = consumed.target;
    const other = await this.deps.users.findByEmail(user.tenantId, email);
    if (other && other.id !== user.id) return { ok: false, reason: 'taken' };
    let updated: User;
    try {
      updated = await this.deps.users.updateProfile(user.id, { email, emailVerified: true });
    } catch (err) {
      if (err instanceof ConflictError) return { ok: false, reason: 'taken' };
      throw err;
    }
    // Links sent to the old address must not outlive it (a reset link there would take the account back).
    await this.deps.tokens.invalidate(user.id, 'password_reset');
    await this.deps.tokens.invalidate(user.id, 'email_confirm');
    if (user.email && normalizeEmail(user.email) !== normalizeEmail(email)) {
      const t = translator(userLocale(user, locale));
      await this.deps.mailer.send({ to: user.email, subject: t('account.mail.changed.subject'), text: t('account.mail.changed.body', { email: maskEmail(email) }) })
        // The change is done; a mail server hiccup must not turn it into an error page.
        .catch((err: unknown) => this.deps.log.warn({ err }, 'could not notify the previous email address'));
    }
    await this.emit('user.updated', updated, { ...ctx, actorId: ctx.actorId ?? user.id }, { fields: ['email', 'email_verified'], via: 'email_change' });
    return { ok: true, email };
  }

  /**
   * Sends a 6-digit code to the account's (unconfirmed) phone number, within
   * the limits per account, number and client IP.
   * @throws DeliveryError when the SMS provider cannot take it.
   */
  async sendPhoneCode(user: User, locale: Locale, ip?: string | null): Promise<PhoneCodeResult> {
    const sent = await this.deps.phoneCodes.send(user, { locale, ip });
    return sent.ok ? { ok: true } : { ok: false, reason: sent.reason };
  }

  /**
   * Checks a phone code; wrong guesses count against it (identity/phone-codes.ts).
   * @throws NotFoundError if the user vanished meanwhile.
   */
  async confirmPhone(user: User, code: string, ctx: EventContext): Promise<ConfirmPhoneResult> {
    const checked = await this.deps.phoneCodes.check(user, code);
    if (!checked.ok) return checked;
    const updated = await this.deps.users.updateProfile(user.id, { phoneNumberVerified: true });
    await this.emit('user.phone_confirmed', updated, ctx, {});
    return { ok: true };
  }

  private async policy(tenantId: string): Promise<TenantPolicy> {
    return (await this.deps.tenants.findById(tenantId))?.policy ?? DEFAULT_POLICY;
  }

  private async emit(type: 'user.updated' | 'user.email_change_requested' | 'user.phone_confirmed', user: User, ctx: EventContext, data: Record<string, unknown>) {
    await this.deps.events.emit({ type, tenantId: user.tenantId, subjectId: user.id, context: ctx, data },
      (err) => this.deps.log.error({ err, event: type }, 'event listener failed'));
  }
}

/** Messages go out in the user's chosen language, else the language of the page they used. */
function userLocale(user: User, fallback: Locale): Locale {
  return (LOCALES as readonly string[]).includes(user.locale ?? '') ? (user.locale as Locale) : fallback;
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** "alice@example.com" → "a***@example.com": enough to recognise, not enough to harvest. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 1) return '***';
  return `${email[0]}***${email.slice(at)}`;
}
