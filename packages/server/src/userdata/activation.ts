import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { User } from '../identity/model.js';
import type { UserRepository } from '../identity/repository.js';
import { createUserRepository } from '../identity/repository.js';
import type { IdentityService } from '../identity/service.js';
import type { ActionTokenRepository } from '../identity/tokens.js';
import { createActionTokenRepository } from '../identity/tokens.js';
import type { TenantPolicy } from '../identity/policy.js';
import { hashPassword } from '../identity/password.js';
import { newPasswordProblems } from '../recovery/service.js';
import type { NewPassword } from '../recovery/service.js';
import type { EventBus, EventContext } from '../audit/events.js';
import type { Mailer } from '../notify/senders.js';
import { negotiateLocale, translator } from '../i18n/index.js';
import type { Locale } from '../i18n/index.js';

/**
 * Activation (docs/users.md#activation): an account created without a
 * password (an import, the admin API) gets a "set your password"
 * invitation by mail. The link is a single-use action token of purpose
 * `activation`, valid for the tenant's `activation_ttl_seconds` (longer
 * than a reset link's, at most 30 days); using it sets the password,
 * confirms the address it was sent to, activates a `pending` account and
 * records `activated_at`. A new mail voids the links sent before.
 */
export interface ActivationDeps {
  db: Kysely<Database>;
  users: UserRepository;
  identity: IdentityService;
  tokens: ActionTokenRepository;
  mailer: Mailer;
  events: EventBus;
  issuer: string;
  log: { error(obj: object, msg: string): void; info?(obj: object, msg: string): void };
}

/** Why no activation mail can go to a user (the admin API answers 409 with it). */
export type ActivationRefusal = 'no_email' | 'already_activated' | 'disabled';

export type ActivationLink = { ok: true; user: User; policy: TenantPolicy } | { ok: false; reason: 'invalid' | 'expired' | 'used' };

export type ActivationOutcome =
  | { status: 'done'; user: User }
  | { status: 'invalid_fields'; fields: Record<string, string>; user: User; policy: TenantPolicy }
  | { status: 'bad_token'; reason: 'invalid' | 'expired' | 'used' };

/** Activation mails per user and hour (resends through the admin API). */
export const ACTIVATION_PER_HOUR = 5;

export class ActivationService {
  constructor(private readonly deps: ActivationDeps) {}

  /** Why this user cannot be sent an activation mail, if so. */
  refusal(user: User): ActivationRefusal | undefined {
    if (!user.email) return 'no_email';
    if (user.status === 'disabled') return 'disabled';
    if (user.activatedAt !== null || user.passwordHash !== null) return 'already_activated';
    return undefined;
  }

  /**
   * Sends the activation mail now (waiting for the SMTP server: the caller,
   * the queue or an administrator, wants to know it left) and voids the
   * user's earlier activation links.
   * @throws DeliveryError when the mail server refuses; the new link then stays unused.
   */
  async send(user: User, context: EventContext = {}, fallbackLocale: Locale = 'en'): Promise<void> {
    const policy = await this.deps.identity.policyFor(user.tenantId);
    await this.deps.tokens.invalidate(user.id, 'activation');
    const token = await this.deps.tokens.createLink({
      userId: user.id, tenantId: user.tenantId, purpose: 'activation', target: user.email, ttlSeconds: policy.activation_ttl_seconds,
    });
    const t = translator(negotiateLocale(user.locale, fallbackLocale));
    const days = Math.max(1, Math.round(policy.activation_ttl_seconds / 86_400));
    await this.deps.mailer.send({
      to: user.email!,
      subject: t('activation.mail.subject'),
      text: t('activation.mail.body', { name: user.givenName ?? user.username ?? user.email!, account: user.username ?? user.email!, link: `${this.deps.issuer}/activate?token=${token}`, days }),
    });
    await this.deps.events.emit({ type: 'user.activation_sent', tenantId: user.tenantId, subjectId: user.id, context, data: { ttl_seconds: policy.activation_ttl_seconds } },
      (err) => this.deps.log.error({ err }, 'event listener failed'));
  }

  /** Seconds an activation link of the tenant is valid. */
  async policyTtl(tenantId: string): Promise<number> {
    return (await this.deps.identity.policyFor(tenantId)).activation_ttl_seconds;
  }

  /** How many activation mails the user was sent in the last hour. */
  sentLastHour(userId: string): Promise<number> {
    return this.deps.tokens.countSince(userId, 'activation', Date.now() - 3_600_000);
  }

  /** Checks a link without using it (mail scanners open links; the form comes first). */
  async check(token: string): Promise<ActivationLink> {
    const found = await this.deps.tokens.inspectLink(token, 'activation');
    if (!found.ok) return { ok: false, reason: found.reason };
    const user = await this.deps.users.findById(found.userId);
    if (!user || user.status === 'disabled') return { ok: false, reason: 'invalid' };
    return { ok: true, user, policy: await this.deps.identity.policyFor(user.tenantId) };
  }

  /**
   * Sets the first password through an activation link: checked against
   * the tenant's policy first (a refused password leaves the link usable),
   * then, in one transaction, the link is consumed, the password set, the
   * address confirmed (while it is still the one the mail went to), a
   * pending account activated and `activated_at` recorded.
   */
  async complete(token: string, input: NewPassword, context: EventContext = {}): Promise<ActivationOutcome> {
    const check = await this.check(token);
    if (!check.ok) return { status: 'bad_token', reason: check.reason };
    const fields = newPasswordProblems(input, check.policy, check.user);
    if (fields) return { status: 'invalid_fields', fields, user: check.user, policy: check.policy };
    const hash = await hashPassword(input.password);
    const done = await this.deps.db.transaction().execute(async (trx) => {
      const consumed = await createActionTokenRepository(trx).consumeLink(token, 'activation');
      if (!consumed.ok) return { ok: false as const, reason: consumed.reason };
      const users = createUserRepository(trx);
      await users.setPasswordHash(consumed.userId, hash);
      if (consumed.target) await users.markEmailVerified(consumed.userId, consumed.target);
      await trx.updateTable('users').set({ activated_at: Date.now() }).where('id', '=', consumed.userId).execute();
      await trx.deleteFrom('activation_queue').where('user_id', '=', consumed.userId).execute();
      return { ok: true as const, user: (await users.findById(consumed.userId))! };
    });
    if (!done.ok) return { status: 'bad_token', reason: done.reason };
    await this.deps.events.emit({ type: 'user.activated', tenantId: done.user.tenantId, subjectId: done.user.id, context, data: {} },
      (err) => this.deps.log.error({ err }, 'event listener failed'));
    return { status: 'done', user: done.user };
  }
}

/**
 * Sends queued activation mails at `perMinute` across every instance: each
 * instance reserves sends in the current second through one row of
 * `tessera_meta` (a compare-and-set), claims that many due rows, sends, and
 * deletes a row once its mail is handed over. A failed send is retried with
 * backoff (1 min, doubling, at most 1 h), up to 10 attempts. A claim older
 * than 5 minutes (a crashed instance) is taken again: a mail may then go
 * twice, never not at all.
 */
export function startActivationSender(deps: { db: Kysely<Database>; service: ActivationService; users: UserRepository; perMinute: number; log: ActivationDeps['log'] }): { stop(): void; tick(): Promise<number> } {
  const perSecond = Math.max(1, Math.ceil(deps.perMinute / 60));
  let running = false;
  const tick = async (): Promise<number> => {
    if (running) return 0;
    running = true;
    try {
      const now = Date.now();
      // What is due first: an empty queue (the usual case) costs one read a second, no write, and
      // an instance reserves only as many sends as it has mails for (the rest stay for the others).
      const due = await deps.db.selectFrom('activation_queue').select(['user_id', 'attempts'])
        .where('not_before', '<=', now).where((eb) => eb.or([eb('claimed_at', 'is', null), eb('claimed_at', '<', now - 300_000)]))
        .orderBy('not_before').orderBy('queued_at').limit(perSecond).execute();
      if (!due.length) return 0;
      const allowed = await reserve(deps.db, perSecond, due.length);
      let sent = 0;
      for (const row of due.slice(0, allowed)) {
        const claim = await deps.db.updateTable('activation_queue').set({ claimed_at: now }).where('user_id', '=', row.user_id)
          .where((eb) => eb.or([eb('claimed_at', 'is', null), eb('claimed_at', '<', now - 300_000)])).executeTakeFirst();
        if (Number(claim.numUpdatedRows) === 0) continue;
        const user = await deps.users.findById(row.user_id);
        if (!user || deps.service.refusal(user)) {
          await deps.db.deleteFrom('activation_queue').where('user_id', '=', row.user_id).execute();
          continue;
        }
        try {
          await deps.service.send(user);
          await deps.db.deleteFrom('activation_queue').where('user_id', '=', row.user_id).execute();
          sent += 1;
        } catch (err) {
          const attempts = Number(row.attempts) + 1;
          deps.log.error({ err, userId: row.user_id, attempts }, 'activation mail failed');
          if (attempts >= 10) await deps.db.deleteFrom('activation_queue').where('user_id', '=', row.user_id).execute();
          else {
            await deps.db.updateTable('activation_queue').set({
              attempts, claimed_at: null, last_error: String((err as Error).message).slice(0, 200), not_before: Date.now() + Math.min(3_600_000, 60_000 * 2 ** (attempts - 1)),
            }).where('user_id', '=', row.user_id).execute();
          }
        }
      }
      return sent;
    } finally {
      running = false;
    }
  };
  // stop() waits for a tick in flight: closing the store under it would fail its queries.
  let inFlight: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => { inFlight = tick().catch((err) => deps.log.error({ err }, 'activation sender failed')); }, 1000);
  timer.unref();
  return { stop: async () => { clearInterval(timer); await inFlight; }, tick };
}

const RATE_KEY = 'activation_mail_rate';

/** Reserves up to `want` of the `perSecond` sends of the current second for all instances; returns how many this one may make. */
async function reserve(db: Kysely<Database>, perSecond: number, want: number): Promise<number> {
  const second = Math.floor(Date.now() / 1000);
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = await db.selectFrom('tessera_meta').select('value').where('key', '=', RATE_KEY).executeTakeFirst();
    if (!row) {
      try {
        const take = Math.min(want, perSecond);
        await db.insertInto('tessera_meta').values({ key: RATE_KEY, value: `${second}:${take}` }).execute();
        return take;
      } catch {
        continue;
      }
    }
    const [s, used] = row.value.split(':').map(Number);
    const left = Math.min(want, s === second ? perSecond - (used ?? perSecond) : perSecond);
    if (left <= 0) return 0;
    const next = `${second}:${(s === second ? used! : 0) + left}`;
    const res = await db.updateTable('tessera_meta').set({ value: next }).where('key', '=', RATE_KEY).where('value', '=', row.value).executeTakeFirst();
    if (Number(res.numUpdatedRows) === 1) return left;
  }
  return 0;
}

/** Queues activation mails (the admin API's bulk path and tests); a user already queued stays queued once. */
export async function queueActivation(db: Kysely<Database>, users: { id: string; tenantId: string }[]): Promise<void> {
  const now = Date.now();
  for (const u of users) {
    await db.insertInto('activation_queue').values({ user_id: u.id, tenant_id: u.tenantId, queued_at: now, not_before: now, claimed_at: null, last_error: null })
      .onConflict((oc) => oc.column('user_id').doNothing()).execute();
  }
}
