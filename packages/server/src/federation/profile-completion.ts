import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { SignInContext, SignInFlow } from '../interaction/flow.js';
import type { Mailer } from '../notify/senders.js';
import type { Database } from '../storage/schema.js';
import type { KeyEncryptionKey } from '../oidc/kek.js';
import { AppError } from '../http/errors.js';
import { alert, esc, field, layout, pageContext, sendPage } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import type { MappedIdentity } from './identity.js';
import type { ProviderRegistry, StoredProvider } from './providers.js';
import { endpointsOf } from './upstream.js';

/**
 * Profile completion (docs/federation.md#profile-completion): a JIT account
 * needs an email (`required_claims: [email]`) or a verified one
 * (`email_verified`) the upstream did not release. Instead of refusing, the
 * sign-in pauses on a page that asks for the address, mails a six-digit
 * code to it, and goes on once the code comes back — with that address as
 * verified (it reached the person). The account step then treats it as any
 * verified address: a local account with it means the link page, never a
 * silent link. State per interaction (federation_flows, encrypted), the
 * code stored as a digest, five tries, 15 minutes.
 */
export interface ProfileCompletionDeps {
  db: Kysely<Database>;
  kek: KeyEncryptionKey;
  registry: ProviderRegistry;
  mailer: Mailer;
  log: Logger;
  flow: () => SignInFlow;
}

interface Pending {
  provider: string;
  mapped: MappedIdentity;
  email?: string;
  codeHash?: string;
  tries: number;
  sends: number;
}

const TTL_MS = 15 * 60_000;
const MAX_TRIES = 5;
const MAX_SENDS = 5;
const key = (uid: string) => `profile:${uid}`;
const digest = (v: string) => createHash('sha256').update(v).digest();
const emailBody = z.object({ email: z.email().max(254) }).loose();
const codeBody = z.object({ code: z.string().trim().regex(/^\d{6}$/) }).loose();

export class ProfileCompletion {
  constructor(private readonly deps: ProfileCompletionDeps) {}

  private async load(uid: string, now = Date.now()): Promise<Pending | undefined> {
    const row = await this.deps.db.selectFrom('federation_flows').selectAll().where('state_hash', '=', key(uid)).where('status', '=', 'profile').executeTakeFirst();
    if (!row || Number(row.expires_at) <= now) return undefined;
    return JSON.parse(this.deps.kek.decrypt(row.data)) as Pending;
  }

  private async save(uid: string, tenantId: string, p: Pending, now = Date.now()): Promise<void> {
    await this.deps.db.deleteFrom('federation_flows').where('state_hash', '=', key(uid)).execute();
    await this.deps.db.insertInto('federation_flows').values({
      state_hash: key(uid), uid, provider: p.provider, tenant_id: tenantId, browser_hash: '', status: 'profile',
      data: this.deps.kek.encrypt(JSON.stringify(p)), created_at: now, expires_at: now + TTL_MS,
    }).execute();
  }

  /** The account step's pause: keeps the upstream identity and asks for the address. */
  async ask(request: FastifyRequest, reply: FastifyReply, signIn: SignInContext, p: StoredProvider, mapped: MappedIdentity): Promise<void> {
    await this.save(signIn.uid, signIn.tenantId, { provider: p.alias, mapped, tries: 0, sends: 0 });
    request.log.info({ event: 'federation.profile_completion', provider: p.alias }, 'required email missing or unverified: asking the person');
    emailPage(reply, pageContext(request), signIn.uid, mapped.identity.email ?? '');
  }

  routes(app: FastifyInstance): void {
    const html = { config: { html: true } };
    app.post('/interaction/:uid/federation/profile', html, async (request, reply) => {
      const signIn = await this.deps.flow().load(request, reply);
      const pending = await this.load(signIn.uid);
      if (!pending) throw expired();
      const ctx = pageContext(request);
      const body = emailBody.safeParse(request.body ?? {});
      if (!body.success) return emailPage(reply.code(400), ctx, signIn.uid, '', ctx.t('federation.profile.bad_email'));
      if (pending.sends >= MAX_SENDS) throw new AppError('too_many_requests', 429, 'Too many codes were sent for this sign-in. Start again.');
      const email = body.data.email.toLowerCase();
      const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
      await this.save(signIn.uid, signIn.tenantId, { ...pending, email, codeHash: digest(code).toString('base64url'), tries: 0, sends: pending.sends + 1 });
      await this.deps.mailer.send({ to: email, subject: ctx.t('federation.profile.mail_subject'), text: ctx.t('federation.profile.mail_text', { code }) });
      return codePage(reply, ctx, signIn.uid, email);
    });

    app.post('/interaction/:uid/federation/profile/confirm', html, async (request, reply) => {
      const signIn = await this.deps.flow().load(request, reply);
      const pending = await this.load(signIn.uid);
      if (!pending?.email || !pending.codeHash) throw expired();
      const ctx = pageContext(request);
      const body = codeBody.safeParse(request.body ?? {});
      const ok = body.success && timingSafeEqual(digest(body.data.code), Buffer.from(pending.codeHash, 'base64url'));
      if (!ok) {
        const tries = pending.tries + 1;
        // Five wrong codes: the code is spent; the person asks for a new one.
        await this.save(signIn.uid, signIn.tenantId, tries >= MAX_TRIES ? { ...pending, codeHash: undefined, tries: 0 } : { ...pending, tries });
        if (tries >= MAX_TRIES) return emailPage(reply.code(400), ctx, signIn.uid, pending.email, ctx.t('federation.profile.too_many'));
        return codePage(reply.code(400), ctx, signIn.uid, pending.email, ctx.t('federation.profile.bad_code'));
      }
      await this.deps.db.deleteFrom('federation_flows').where('state_hash', '=', key(signIn.uid)).execute();
      const p = await this.deps.registry.get(pending.provider);
      if (!p || !p.enabled) throw new AppError('identity_provider_disabled', 403, 'This way of signing in is switched off.');
      // The address reached the person: verified, whatever the upstream said.
      const mapped: MappedIdentity = { ...pending.mapped, identity: { ...pending.mapped.identity, email: pending.email, emailVerified: true } };
      request.tesseraFederation = { mapped };
      return this.deps.flow().complete(request, reply, {
        method: p.type === 'mock' ? endpointsOf(p).protocol : p.type, kind: 'first', subject: { external: mapped.identity },
        amr: ['fed'], upstreamMfa: mapped.upstreamMfa, provider: p.alias,
      });
    });
  }
}

const expired = () => new AppError('session_expired', 400, 'This sign-in session has expired. Go back to the application and start again.');

function emailPage(reply: FastifyReply, ctx: PageContext, uid: string, email: string, error?: string): FastifyReply {
  const { t } = ctx;
  return sendPage(reply, layout(ctx, t('federation.profile.title'), `<h1>${esc(t('federation.profile.title'))}</h1>
<p class="lead">${esc(t('federation.profile.lead'))}</p>
${alert(error)}
<form method="post" action="/interaction/${esc(encodeURIComponent(uid))}/federation/profile">
  ${field({ name: 'email', label: t('federation.profile.email'), type: 'email', autocomplete: 'email', value: email, required: true, autofocus: true })}
  <button type="submit">${esc(t('federation.profile.send'))}</button>
</form>`));
}

function codePage(reply: FastifyReply, ctx: PageContext, uid: string, email: string, error?: string): FastifyReply {
  const { t } = ctx;
  return sendPage(reply, layout(ctx, t('federation.profile.title'), `<h1>${esc(t('federation.profile.title'))}</h1>
<p class="lead">${esc(t('federation.profile.sent', { email }))}</p>
${alert(error)}
<form method="post" action="/interaction/${esc(encodeURIComponent(uid))}/federation/profile/confirm">
  ${field({ name: 'code', label: t('federation.profile.code'), type: 'text', autocomplete: 'one-time-code', required: true, autofocus: true })}
  <button type="submit">${esc(t('federation.profile.confirm'))}</button>
</form>`));
}
