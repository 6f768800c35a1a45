import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../storage/schema.js';
import { ConflictError, inTransaction } from '../storage/errors.js';
import { isStorableText } from '../storage/text.js';
import type { EventBus, EventContext } from '../audit/events.js';
import type { Mailer } from '../notify/senders.js';
import { createTenantRepository, createUserRepository } from '../identity/repository.js';
import type { TenantRepository, UserRepository } from '../identity/repository.js';
import { createActionTokenRepository } from '../identity/tokens.js';
import type { ActionTokenRepository } from '../identity/tokens.js';
import type { Tenant, User } from '../identity/model.js';
import { normalizeEmail } from '../identity/model.js';
import { hashPassword } from '../identity/password.js';
import { negotiateLocale, translator } from '../i18n/index.js';
import type { Locale } from '../i18n/index.js';
import { validateRegistration } from './fields.js';
import type { RegistrationFields } from './fields.js';
import { RegistrationInvalid, RegistrationRefused } from './errors.js';
import { RegistrationPhone } from './phone.js';
import type { PhoneCodes } from '../identity/phone-codes.js';
import { randomBytes, randomUUID } from 'node:crypto';

export interface RegistrationDeps {
  /** For transactions: repositories are rebuilt over the transaction. */
  db: Kysely<Database>;
  tenants: TenantRepository;
  users: UserRepository;
  tokens: ActionTokenRepository;
  events: EventBus;
  mailer: Mailer;
  /** SMS codes for tenants that require a confirmed phone number (identity/phone-codes.ts). */
  phoneCodes: PhoneCodes;
  issuer: string;
  log: Pick<Logger, 'info' | 'warn'>;
  /**
   * Counts "someone tried to register with your address" mails per account
   * (`take(userId)`, shared across instances): registrations naming one
   * address from many places cannot flood its owner's inbox.
   */
  noticeLimiter: { take(key: string): boolean };
}

export interface RegistrationInput extends RegistrationFields {
  tenantId: string;
  /** The page language: stored on the account, used for its mail. */
  locale?: string | null;
  /** An invitation token (required when the tenant is invite-only). */
  invite?: string;
  /** Fields the boundary already refused (e.g. a number where text belongs): reported with the rest. */
  rejected?: Record<string, string>;
}

/** What a registration answers with: the new account, or for an address that already had one, what a new one would have looked like. */
export interface RegisteredAccount {
  id: string;
  email: string;
  status: User['status'];
  emailVerified: boolean;
  phoneNumber: string | null;
  phoneNumberVerified: boolean;
}

export interface Registered {
  /**
   * The same shape whether an account was created or the address already had
   * one (then its owner is mailed instead and `id` is a fresh random id that
   * leads nowhere): the answer must not tell whether an address is registered.
   */
  account: RegisteredAccount;
  /** The account created (absent when the address already had one). */
  user?: User;
  /** An invitation proves the address, so the account is active and verified at once. */
  invited: boolean;
  /** False when the confirmation mail could not be handed to the mailer (the user can ask again). */
  confirmationSent: boolean;
  /** The tenant requires a confirmed phone number: the continuation token for the code form, and whether the first code went out. */
  phone?: { token: string; sent: boolean };
}

export type ConfirmOutcome =
  /** `phoneToken`: the account still waits for its phone number (a continuation token for the code form). */
  | { ok: true; user: User; activated: boolean; phoneToken?: string }
  /** `tenantId` when the link exists (expired, used): where to ask for a new one. */
  | { ok: false; reason: 'invalid' | 'expired' | 'used'; tenantId?: string };

/** "Someone tried to register with your address" mails per account per hour. */
export const EXISTING_ADDRESS_NOTICES_PER_HOUR = 3;
/** Confirmation mails per account per hour (the one sent at registration included). */
export const CONFIRMATIONS_PER_HOUR = 3;
/** Invitations are valid for a week unless the inviter says otherwise. */
export const INVITE_TTL_SECONDS = 7 * 86_400;
const HOUR_MS = 3_600_000;

/** Thrown inside a transaction to roll it back when a consumed token turns out stale. */
class StaleToken extends Error {}

/**
 * Local registration and email confirmation, free of HTTP. Registration
 * applies the tenant's policy (open, invite-only, closed; required fields;
 * password rules), never issues tokens, and leaves the account `pending`
 * until the address is confirmed when the policy asks for it.
 */
export class RegistrationService {
  /** The phone step (tenants with `phone_number` in `required_fields`). */
  readonly phone: RegistrationPhone;

  constructor(private readonly deps: RegistrationDeps) {
    this.phone = new RegistrationPhone({
      tenants: deps.tenants, users: deps.users, tokens: deps.tokens, phoneCodes: deps.phoneCodes, events: deps.events, log: deps.log,
    });
  }

  /** @throws RegistrationRefused `unknown_tenant` */
  async tenant(tenantId: string): Promise<Tenant> {
    const tenant = isStorableText(tenantId) ? await this.deps.tenants.findById(tenantId) : undefined;
    if (!tenant) throw new RegistrationRefused('unknown_tenant');
    return tenant;
  }

  /**
   * Who may register in a tenant, checked before a form is shown.
   * @throws RegistrationRefused `unknown_tenant`, `registration_closed`, `invite_required`, `invite_invalid`
   */
  async admission(tenantId: string, invite?: string): Promise<{ tenant: Tenant; invitedEmail?: string }> {
    const tenant = await this.tenant(tenantId);
    if (tenant.policy.registration === 'closed') throw new RegistrationRefused('registration_closed');
    if (!invite) {
      if (tenant.policy.registration === 'invite_only') throw new RegistrationRefused('invite_required');
      return { tenant };
    }
    const found = await this.deps.tokens.inspectInvite(invite);
    if (!found.ok) throw new RegistrationRefused('invite_invalid', found.reason);
    if (found.tenantId !== tenant.id) throw new RegistrationRefused('invite_invalid', 'invalid');
    return { tenant, invitedEmail: found.email };
  }

  /**
   * Registers a local account.
   * Pipeline: tenant policy → invitation → field rules → username availability →
   * hash → address already registered? (answer as if created, mail its owner) →
   * create (consuming the invitation in the same transaction) → event → mail.
   * @throws RegistrationRefused when the policy refuses the registration
   * @throws RegistrationInvalid with field codes (a username in use: `taken`; never for an address)
   */
  async register(input: RegistrationInput, context: EventContext = {}): Promise<Registered> {
    const { tenant, invitedEmail } = await this.admission(input.tenantId, input.invite);
    const checked = validateRegistration(input, tenant.policy);
    const fields: Record<string, string> = { ...(checked.ok ? {} : checked.fields), ...input.rejected };
    // An invitation is for one address: registering another one with it is refused.
    if (invitedEmail !== undefined && !fields.email && normalizeEmail(input.email ?? '') !== invitedEmail) fields.email = 'invite_mismatch';
    if (!checked.ok || Object.keys(fields).length) throw new RegistrationInvalid(fields);
    const values = checked.values;

    // A username is a public handle the registrant picks: one in use must be said, so another can be chosen.
    if (values.username && (await this.deps.users.findByUsername(tenant.id, values.username))) throw new RegistrationInvalid({ username: 'taken' });

    const invited = invitedEmail !== undefined;
    // Hashed on every path, an existing address too: the answer takes as long either way.
    const passwordHash = await hashPassword(values.password);
    // Pending until every channel the tenant requires is confirmed: the address (an invitation proves it), the phone number.
    const phoneRequired = RegistrationPhone.required(tenant);
    const status = phoneRequired || (!invited && tenant.policy.require_email_verification) ? 'pending' : 'active';
    const existing = await this.deps.users.findByEmail(tenant.id, values.email);
    if (existing) return this.existingAddress(existing, tenant, { values, status, invited, phoneRequired, context });
    let user: User;
    try {
      user = await inTransaction(this.deps.db, async (trx) => {
        if (invited) {
          // Consumed with the insert: a failed insert leaves the invitation usable, and two uses cannot both succeed.
          const used = await createActionTokenRepository(trx).consumeInvite(input.invite!, values.email);
          if (!used.ok) throw new RegistrationRefused('invite_invalid', used.reason);
        }
        return createUserRepository(trx).create({
          tenantId: tenant.id, email: values.email, emailVerified: invited, username: values.username,
          givenName: values.givenName, familyName: values.familyName, phoneNumber: values.phoneNumber,
          passwordHash, status, locale: input.locale ?? null,
        });
      });
    } catch (err) {
      if (err instanceof ConflictError) {
        // Another registration won the race between the checks and the insert: for the username, say so;
        // for the address, the same answer as any registration of an existing address.
        if (values.username && (await this.deps.users.findByUsername(tenant.id, values.username))) throw new RegistrationInvalid({ username: 'taken' });
        const winner = await this.deps.users.findByEmail(tenant.id, values.email);
        if (winner) return this.existingAddress(winner, tenant, { values, status, invited, phoneRequired, context });
      }
      throw err;
    }

    await this.deps.events.emit({
      type: 'user.registered', tenantId: tenant.id, subjectId: user.id, context,
      data: { status: user.status, invited, email_verified: user.emailVerified },
    }, (err) => this.deps.log.warn({ err }, 'event listener failed'));

    let confirmationSent = false;
    if (!user.emailVerified) {
      try {
        await this.sendConfirmation(user, tenant);
        confirmationSent = true;
      } catch (err) {
        // The account exists either way; the user can ask for the link again.
        this.deps.log.warn({ err, sub: user.id }, 'confirmation mail could not be sent');
      }
    }
    const phone = phoneRequired ? await this.phone.start(user, tenant, { ip: context.ip, locale: mailLocale(input.locale) }) : undefined;
    return { account: accountView(user), user, invited, confirmationSent, ...(phone ? { phone } : {}) };
  }

  /**
   * A registration for an address that already has an account in the tenant:
   * nothing is created or changed; the owner is mailed (in the background, at
   * most EXISTING_ADDRESS_NOTICES_PER_HOUR an hour) that someone tried, with
   * links to sign in or reset the password; the caller gets what a new
   * registration would have answered, so the answer does not reveal the
   * account (docs/security.md#enumeration).
   */
  private async existingAddress(owner: User, tenant: Tenant, v: {
    values: { email: string; phoneNumber: string | null }; status: User['status']; invited: boolean; phoneRequired: boolean; context: EventContext;
  }): Promise<Registered> {
    this.deps.log.info({ sub: owner.id, ip: v.context.ip }, 'registration for an address that already has an account: owner notified');
    await this.deps.events.emit({
      type: 'user.registration_attempted', tenantId: tenant.id, subjectId: owner.id, context: v.context, data: {},
    }, (err) => this.deps.log.warn({ err }, 'event listener failed'));
    if (owner.email && owner.status !== 'disabled' && this.deps.noticeLimiter.take(owner.id)) {
      this.deps.mailer.send(this.existingAddressMail(owner, tenant))
        .catch((err: unknown) => this.deps.log.warn({ err, sub: owner.id }, 'registration notice could not be sent'));
    }
    const account: RegisteredAccount = {
      id: randomUUID(), email: v.values.email, status: v.status, emailVerified: v.invited,
      phoneNumber: v.values.phoneNumber, phoneNumberVerified: false,
    };
    // A continuation token of the same form as a real one, leading nowhere (the phone step answers "not valid").
    const phone = v.phoneRequired ? { token: randomBytes(32).toString('base64url'), sent: true } : undefined;
    return { account, invited: v.invited, confirmationSent: !v.invited, ...(phone ? { phone } : {}) };
  }

  private existingAddressMail(owner: User, tenant: Tenant) {
    const t = translator(mailLocale(owner.locale));
    const query = new URLSearchParams({ tenant: tenant.id });
    return {
      to: owner.email!,
      subject: t('mail.existing_account.subject', { tenant: tenant.name }),
      text: t('mail.existing_account.body', {
        tenant: tenant.name, name: owner.givenName ? ` ${owner.givenName}` : '',
        signin: `${this.deps.issuer}/account`, reset: `${this.deps.issuer}/password/forgot?${query}`,
      }),
    };
  }

  /** The address a confirmation link is for, without consuming it (GET pages: mail scanners prefetch links). */
  async inspectConfirmation(token: string): Promise<{ ok: true; email: string } | { ok: false; reason: 'invalid' | 'expired' | 'used'; tenantId?: string }> {
    const found = await this.deps.tokens.inspectLink(token, 'email_confirm');
    if (!found.ok) return found;
    return { ok: true, email: found.target ?? '' };
  }

  /**
   * Consumes a confirmation link: the address becomes verified and a
   * `pending` account `active`, in one transaction with the consumption. A
   * link for an address the account no longer has changes nothing.
   */
  async confirmEmail(token: string, context: EventContext = {}): Promise<ConfirmOutcome> {
    let outcome: ConfirmOutcome;
    try {
      outcome = await inTransaction(this.deps.db, async (trx): Promise<ConfirmOutcome> => {
        const tokens = createActionTokenRepository(trx);
        const used = await tokens.consumeLink(token, 'email_confirm');
        if (!used.ok) return used;
        const users = createUserRepository(trx);
        const before = await users.findById(used.userId);
        // Inside the transaction, through it: SQLite has one connection, and the outer handle would wait for it forever.
        const tenant = before ? await createTenantRepository(trx).findById(before.tenantId) : undefined;
        const requirePhone = tenant ? RegistrationPhone.required(tenant) : false;
        const user = before && used.target ? await users.markEmailVerified(used.userId, used.target, { requirePhone }) : undefined;
        if (!before || !user) throw new StaleToken();
        // The address is proven: other links sent to it have nothing left to do.
        await tokens.invalidate(user.id, 'email_confirm');
        return { ok: true, user, activated: before.status === 'pending' && user.status === 'active' };
      });
    } catch (err) {
      if (err instanceof StaleToken) return { ok: false, reason: 'invalid' };
      throw err;
    }
    // A failed link still says which tenant it was for, so the page can offer a new one there.
    if (!outcome.ok && outcome.reason !== 'invalid') return { ...outcome, tenantId: (await this.deps.tokens.inspectLink(token, 'email_confirm')).tenantId };
    if (outcome.ok) {
      await this.deps.events.emit({
        type: 'user.confirmed', tenantId: outcome.user.tenantId, subjectId: outcome.user.id, context,
        data: { channel: 'email', activated: outcome.activated },
      }, (err) => this.deps.log.warn({ err }, 'event listener failed'));
      // Still waiting for the phone number: the confirmation page carries on with the code form.
      const tenant = await this.deps.tenants.findById(outcome.user.tenantId);
      if (tenant && outcome.user.status === 'pending' && RegistrationPhone.required(tenant) && !outcome.user.phoneNumberVerified && outcome.user.phoneNumber) {
        return { ...outcome, phoneToken: await this.phone.continuation(outcome.user, tenant) };
      }
    }
    return outcome;
  }

  /**
   * Sends a new confirmation link when an account with this address exists
   * and still needs one, at most CONFIRMATIONS_PER_HOUR times an hour.
   * Returns nothing either way (the caller's answer must not tell whether the
   * account exists), and the mail is sent in the background so the answer
   * takes about as long with or without an account.
   */
  async resendConfirmation(tenantId: string, email: string): Promise<void> {
    const tenant = isStorableText(tenantId) ? await this.deps.tenants.findById(tenantId) : undefined;
    if (!tenant || !isStorableText(email) || email.length > 254) return;
    const user = await this.deps.users.findByEmail(tenant.id, email);
    if (!user?.email || user.status === 'disabled') return;
    if (user.emailVerified) {
      // The address is confirmed, the phone number not yet (and the continuation token may be lost): a link back to the code form.
      if (user.status === 'pending' && RegistrationPhone.required(tenant) && user.phoneNumber && !user.phoneNumberVerified) await this.mailPhoneContinuation(user, tenant);
      return;
    }
    const sent = await this.deps.tokens.countSince(user.id, 'email_confirm', Date.now() - HOUR_MS);
    if (sent >= CONFIRMATIONS_PER_HOUR) {
      this.deps.log.info({ sub: user.id }, 'confirmation mail not sent: hourly limit reached');
      return;
    }
    const mail = await this.confirmationMail(user, tenant);
    this.deps.mailer.send(mail).catch((err: unknown) => this.deps.log.warn({ err, sub: user.id }, 'confirmation mail could not be sent'));
  }

  /**
   * Invites an address to register in a tenant: an invitation link (single
   * use, bound to the address) by mail. Returns the link too (the CLI prints
   * where it went, not the link).
   * @throws RegistrationRefused `unknown_tenant`, `registration_closed`
   * @throws RegistrationInvalid `email`: `invalid_email` or `taken`
   */
  async invite(input: { tenantId: string; email: string; locale?: string | null; ttlSeconds?: number }, context: EventContext = {}): Promise<{ link: string }> {
    const tenant = await this.tenant(input.tenantId);
    if (tenant.policy.registration === 'closed') throw new RegistrationRefused('registration_closed');
    const checked = validateRegistration({ email: input.email, password: 'unused-by-this-check' }, { ...tenant.policy, required_fields: [] });
    if (!checked.ok && checked.fields.email) throw new RegistrationInvalid({ email: checked.fields.email });
    const email = input.email.trim();
    if (await this.deps.users.findByEmail(tenant.id, email)) throw new RegistrationInvalid({ email: 'taken' });
    const ttlSeconds = input.ttlSeconds ?? INVITE_TTL_SECONDS;
    const token = await this.deps.tokens.createInvite({ tenantId: tenant.id, email, ttlSeconds });
    const link = `${this.deps.issuer}/register?${new URLSearchParams({ tenant: tenant.id, invite: token })}`;
    const t = translator(mailLocale(input.locale));
    await this.deps.mailer.send({
      to: email,
      subject: t('mail.invite.subject', { tenant: tenant.name }),
      text: t('mail.invite.body', { tenant: tenant.name, link, days: Math.max(1, Math.round(ttlSeconds / 86_400)) }),
    });
    await this.deps.events.emit({
      type: 'user.invited', tenantId: tenant.id, subjectId: null, context, data: { email: normalizeEmail(email), ttl_seconds: ttlSeconds },
    }, (err) => this.deps.log.warn({ err }, 'event listener failed'));
    return { link };
  }

  private async sendConfirmation(user: User, tenant: Tenant): Promise<void> {
    await this.deps.mailer.send(await this.confirmationMail(user, tenant));
  }

  /** Mails a link to the phone step (at most CONFIRMATIONS_PER_HOUR an hour), in the background as `resendConfirmation` does. */
  private async mailPhoneContinuation(user: User, tenant: Tenant): Promise<void> {
    if (await this.deps.tokens.countSince(user.id, 'phone_registration', Date.now() - HOUR_MS) >= CONFIRMATIONS_PER_HOUR) return;
    const token = await this.phone.continuation(user, tenant);
    const t = translator(mailLocale(user.locale));
    const link = `${this.deps.issuer}/register/phone?${new URLSearchParams({ token })}`;
    this.deps.mailer.send({ to: user.email!, subject: t('mail.phone_step.subject', { tenant: tenant.name }), text: t('mail.phone_step.body', { tenant: tenant.name, link }) })
      .catch((err: unknown) => this.deps.log.warn({ err, sub: user.id }, 'phone-step mail could not be sent'));
  }

  /** Creates the single-use link (bound to the current address) and the mail carrying it. */
  private async confirmationMail(user: User, tenant: Tenant) {
    const ttl = tenant.policy.email_confirmation_ttl_seconds;
    const token = await this.deps.tokens.createLink({
      userId: user.id, tenantId: tenant.id, purpose: 'email_confirm', target: user.email, ttlSeconds: ttl,
    });
    const t = translator(mailLocale(user.locale));
    const link = `${this.deps.issuer}/confirm-email?${new URLSearchParams({ token })}`;
    return {
      to: user.email!,
      subject: t('mail.confirm.subject', { tenant: tenant.name }),
      text: t('mail.confirm.body', {
        tenant: tenant.name, link, name: user.givenName ? ` ${user.givenName}` : '', hours: Math.max(1, Math.round(ttl / 3600)),
      }),
    };
  }

}

function accountView(user: User): RegisteredAccount {
  return {
    id: user.id, email: user.email ?? '', status: user.status, emailVerified: user.emailVerified,
    phoneNumber: user.phoneNumber, phoneNumberVerified: user.phoneNumberVerified,
  };
}

function mailLocale(locale: string | null | undefined): Locale {
  return negotiateLocale(locale ?? undefined, undefined);
}
