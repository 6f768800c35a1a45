import type { Logger } from 'pino';
import type { EventBus, EventContext } from '../audit/events.js';
import type { TenantRepository, UserRepository } from '../identity/repository.js';
import type { ActionTokenRepository } from '../identity/tokens.js';
import type { Tenant, User } from '../identity/model.js';
import type { PhoneCodes, SendCodeResult } from '../identity/phone-codes.js';
import { DeliveryError } from '../notify/senders.js';
import type { Locale } from '../i18n/index.js';

export interface RegistrationPhoneDeps {
  tenants: Pick<TenantRepository, 'findById'>;
  users: Pick<UserRepository, 'findById' | 'markPhoneVerified'>;
  tokens: ActionTokenRepository;
  phoneCodes: PhoneCodes;
  events: EventBus;
  log: Pick<Logger, 'info' | 'warn'>;
}

/** The phone step of a registration, as its pages and API see it. */
export type PhoneStepState =
  | { ok: true; user: User; tenant: Tenant }
  /** `used`: the number is confirmed already (or the step ended); `invalid`: unknown, or the account changed. */
  | { ok: false; reason: 'invalid' | 'expired' | 'used' };

export type PhoneConfirmOutcome =
  | { ok: true; user: User; activated: boolean }
  | { ok: false; reason: 'invalid' | 'expired' | 'used' }
  | { ok: false; reason: 'wrong_code' | 'code_expired'; attemptsLeft: number };

export type PhoneResendOutcome = SendCodeResult | { ok: false; reason: 'invalid' | 'expired' | 'used' };

/**
 * Phone confirmation at registration, for tenants whose `required_fields`
 * include `phone_number`: the account stays `pending` until the number (and,
 * when the tenant requires it, the address) is confirmed. The person who
 * registered cannot sign in yet, so a continuation token (single purpose,
 * stored as a digest, valid as long as an email confirmation link) carries
 * them from the registration answer to the code form; the code itself comes
 * by SMS (identity/phone-codes.ts, with its limits).
 */
export class RegistrationPhone {
  constructor(private readonly deps: RegistrationPhoneDeps) {}

  /** True when the tenant asks for a confirmed phone number at registration. */
  static required(tenant: Tenant): boolean {
    return tenant.policy.required_fields.includes('phone_number');
  }

  /** A new continuation token for a user whose number is still to be confirmed. */
  async continuation(user: User, tenant: Tenant): Promise<string> {
    return this.deps.tokens.createLink({
      userId: user.id, tenantId: tenant.id, purpose: 'phone_registration', target: user.phoneNumber, ttlSeconds: tenant.policy.email_confirmation_ttl_seconds,
    });
  }

  /**
   * Right after the account was created: the continuation token and the
   * first code. A code that could not be sent (provider down, a limit) does
   * not undo the registration: the page and the API offer to send another.
   */
  async start(user: User, tenant: Tenant, ctx: { ip?: string | null; locale: Locale }): Promise<{ token: string; sent: boolean }> {
    const token = await this.continuation(user, tenant);
    try {
      const sent = await this.deps.phoneCodes.send(user, ctx);
      return { token, sent: sent.ok };
    } catch (err) {
      if (!(err instanceof DeliveryError)) throw err;
      this.deps.log.warn({ err, sub: user.id }, 'registration: the first phone code could not be sent');
      return { token, sent: false };
    }
  }

  /** Where a continuation token stands, without using it. */
  async inspect(token: string): Promise<PhoneStepState> {
    const found = await this.deps.tokens.inspectLink(token, 'phone_registration');
    if (!found.ok) return { ok: false, reason: found.reason };
    const [user, tenant] = await Promise.all([this.deps.users.findById(found.userId), this.deps.tenants.findById(found.tenantId)]);
    if (!user || !tenant || user.tenantId !== tenant.id) return { ok: false, reason: 'invalid' };
    if (user.phoneNumberVerified) return { ok: false, reason: 'used' };
    // The number changed since (an administrator edited it), or the account left `pending`: this step is over.
    if (!user.phoneNumber || user.phoneNumber !== found.target || user.status !== 'pending') return { ok: false, reason: 'invalid' };
    return { ok: true, user, tenant };
  }

  /** @throws DeliveryError when the SMS provider cannot take the code. */
  async resend(token: string, ctx: { ip?: string | null; locale: Locale }): Promise<PhoneResendOutcome> {
    const state = await this.inspect(token);
    if (!state.ok) return state;
    return this.deps.phoneCodes.send(state.user, ctx);
  }

  /**
   * Checks the code; a right one confirms the number and activates the
   * account when nothing else is pending (one UPDATE), and ends the step.
   */
  async confirm(token: string, code: string, context: EventContext): Promise<PhoneConfirmOutcome> {
    const state = await this.inspect(token);
    if (!state.ok) return state;
    const { user, tenant } = state;
    const checked = await this.deps.phoneCodes.check(user, code);
    if (!checked.ok) return checked;
    const updated = await this.deps.users.markPhoneVerified(user.id, user.phoneNumber!, { requireEmail: tenant.policy.require_email_verification });
    if (!updated) return { ok: false, reason: 'invalid' };
    await this.deps.tokens.invalidate(user.id, 'phone_registration');
    const activated = user.status === 'pending' && updated.status === 'active';
    const onError = (err: unknown) => this.deps.log.warn({ err }, 'event listener failed');
    const ctx = { ...context, actorId: context.actorId ?? user.id };
    await this.deps.events.emit({ type: 'user.phone_confirmed', tenantId: tenant.id, subjectId: user.id, context: ctx, data: { via: 'registration' } }, onError);
    await this.deps.events.emit({ type: 'user.confirmed', tenantId: tenant.id, subjectId: user.id, context: ctx, data: { channel: 'phone', activated } }, onError);
    return { ok: true, user: updated, activated };
  }
}
