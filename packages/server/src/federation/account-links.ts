import { z } from 'zod';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { EventBus } from '../audit/events.js';
import type { AccountSessions } from '../account/session.js';
import { ACCOUNT_STEP_UP_MAX_AGE_S } from '../account/session.js';
import { eventContext, signedIn } from '../account/http.js';
import { accountLayout } from '../account/views.js';
import { originOf } from '../http/security.js';
import { formatTime } from '../account/activity-views.js';
import { verifyCsrf } from '../http/csrf.js';
import { setCookie } from '../http/cookies.js';
import { AppError } from '../http/errors.js';
import type { UserRepository } from '../identity/repository.js';
import type { Database } from '../storage/schema.js';
import { ConflictError } from '../storage/errors.js';
import { alert, csrfInput, esc, sendPage } from '../web/layout.js';
import type { PageContext } from '../web/layout.js';
import { callbackPath } from './admin-routes.js';
import { FLOW_TTL_MS } from './flows.js';
import type { FlowStore, StartedFlow } from './flows.js';
import type { MappedIdentity } from './identity.js';
import type { ExternalLink, ExternalLinkRepository } from './links.js';
import { ACCOUNT_LINK_PREFIX, cookieName, ROUND_TRIP_TYPES } from './method.js';
import type { ProviderRegistry, StoredProvider } from './providers.js';
import { authorizationUrl, endpointsOf, openidClient, UpstreamError } from './upstream.js';
import type { UpstreamClients } from './upstream.js';

/**
 * "Connected accounts" on /account/connected (docs/federation.md#connected-accounts):
 * the person's links, linking another provider through a fresh round trip
 * (state bound to the account and this browser; the callback links only to
 * the account still signed in here), and unlinking — refused with 409
 * `last_login_method` when the link is the account's last way to sign in
 * (no password, no passkey, no other link). Both changes need a recent
 * sign-in (as other sensitive account changes).
 */
export interface AccountLinkDeps {
  db: Kysely<Database>;
  sessions: AccountSessions;
  secure: boolean;
  registry: ProviderRegistry;
  clients: UpstreamClients;
  flows: FlowStore;
  links: ExternalLinkRepository;
  users: UserRepository;
  issuer: string;
  events: EventBus;
  log: Logger;
}

export const CONNECTED_ACCOUNTS_PATH = '/account/connected';
const PAGE = CONNECTED_ACCOUNTS_PATH;

/** The tenant has a provider the page can connect (the security page links to it then). */
export async function offersConnectedAccounts(registry: Pick<ProviderRegistry, 'forTenant'>, tenantId: string): Promise<boolean> {
  return (await registry.forTenant(tenantId)).some((p) => ROUND_TRIP_TYPES.has(p.type));
}
const linkForm = z.object({ provider: z.string().min(1).max(63) }).loose();
const unlinkForm = z.object({ provider: z.string().min(1).max(63), subject: z.string().min(1).max(512) }).loose();

export function registerAccountLinks(app: FastifyInstance, deps: AccountLinkDeps) {
  const html = { config: { html: true } };
  const page = { sessions: deps.sessions, secure: deps.secure };
  const offered = async (tenantId: string) => (await deps.registry.forTenant(tenantId)).filter((p) => ROUND_TRIP_TYPES.has(p.type));
  const emit = (request: FastifyRequest, type: 'user.linked' | 'user.unlinked', userId: string, tenantId: string, data: Record<string, unknown>) =>
    deps.events.emit({ type, tenantId, subjectId: userId, context: eventContext(request, userId), data }, (err) => deps.log.error({ err }, 'event listener failed'));

  app.get(PAGE, html, async (request, reply) => {
    const signed = await signedIn(request, reply, page);
    if (!signed) return reply;
    const { user } = signed.account;
    const links = (await deps.links.listForUser(user.id)).filter((l) => l.tenantId === user.tenantId);
    const providers = await offered(user.tenantId);
    const done = (request.query as { done?: unknown }).done;
    const notice = done === 'linked' ? signed.ctx.t('federation.account.linked') : done === 'unlinked' ? signed.ctx.t('federation.account.unlinked')
      : done === 'cancelled' ? signed.ctx.t('federation.account.cancelled') : undefined;
    const body = connectedPage(signed.ctx, links, providers, signed.csrf, notice);
    // The link forms' answer redirects to the upstream: CSP form-action must allow its origin (Chromium checks redirects).
    const targets = providers.map((p) => originOf(endpointsOf(p).authorizationEndpoint ?? endpointsOf(p).issuer)).filter((o): o is string => Boolean(o));
    return sendPage(reply, accountLayout(signed.ctx, PAGE, signed.ctx.t('federation.account.title'), body, deps.sessions.logoutUrl(), user), targets);
  });

  app.post(`${PAGE}/link`, html, async (request, reply) => {
    const signed = await signedIn(request, reply, page);
    if (!signed) return reply;
    verifyCsrf(request, deps.secure);
    if (!(await deps.sessions.requireFresh(reply, signed.account, { maxAge: ACCOUNT_STEP_UP_MAX_AGE_S }, PAGE))) return reply;
    const form = linkForm.safeParse(request.body ?? {});
    const { user } = signed.account;
    const p = form.success ? (await offered(user.tenantId)).find((x) => x.alias === form.data.provider) : undefined;
    if (!p) throw new AppError('unknown_identity_provider', 400, 'This way of signing in is not available here.');
    const oidc = await openidClient();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    try {
      const { state, browserSecret } = await deps.flows.start({ uid: `${ACCOUNT_LINK_PREFIX}${user.id}`, provider: p.alias, tenantId: user.tenantId, nonce, codeVerifier });
      const url = await authorizationUrl(deps.clients, p, { redirectUri: `${deps.issuer}${callbackPath(p.alias)}`, state, nonce, codeVerifier });
      setCookie(reply, cookieName(p.alias), browserSecret, { path: callbackPath(p.alias), maxAge: Math.floor(FLOW_TTL_MS / 1000), secure: deps.secure, sameSite: 'Lax' });
      return reply.redirect(url.href, 303);
    } catch (err) {
      if (err instanceof UpstreamError) throw new AppError(err.reason, err.reason === 'upstream_timeout' ? 504 : 502, 'The identity provider cannot be reached right now.');
      throw err;
    }
  });

  app.post(`${PAGE}/unlink`, html, async (request, reply) => {
    const signed = await signedIn(request, reply, page);
    if (!signed) return reply;
    verifyCsrf(request, deps.secure);
    if (!(await deps.sessions.requireFresh(reply, signed.account, { maxAge: ACCOUNT_STEP_UP_MAX_AGE_S }, PAGE))) return reply;
    const form = unlinkForm.safeParse(request.body ?? {});
    if (!form.success) throw new AppError('invalid_request', 400, 'No link was named.');
    const { user } = signed.account;
    const links = await deps.links.listForUser(user.id);
    const link = links.find((l) => l.provider === form.data.provider && l.subject === form.data.subject);
    if (!link) throw new AppError('not_found', 404, 'You have no such connected account.');
    // The last way in stays: without a password, a passkey or another link the account could not sign in at all.
    const passkeys = await deps.db.selectFrom('passkeys').select('id').where('user_id', '=', user.id).limit(1).execute();
    if (!user.passwordHash && !passkeys.length && links.length <= 1) {
      throw new AppError('last_login_method', 409, 'This is the last way to sign in to your account: set a password or add a passkey first.');
    }
    await deps.links.unlink(user.id, link.provider, link.subject);
    await emit(request, 'user.unlinked', user.id, user.tenantId, { provider: link.provider, subject: link.subject, via: 'account' });
    return reply.redirect(`${PAGE}?done=unlinked`, 303);
  });

  /** The callback's end of a round trip started here (method.ts hands it over). */
  return async function accountLinkReturn(request: FastifyRequest, reply: FastifyReply, p: StoredProvider, started: StartedFlow, mapped: MappedIdentity | undefined): Promise<FastifyReply> {
    if (!mapped) return reply.redirect(`${PAGE}?done=cancelled`, 303);
    const account = await deps.sessions.current(request);
    // Bound to the account that started it: another (or no) account signed in here now links nothing.
    if (!account || `${ACCOUNT_LINK_PREFIX}${account.user.id}` !== started.uid) {
      throw new AppError('federation_state_invalid', 400, 'This link could not be made: sign in to your account and start again.');
    }
    const { user } = account;
    const existing = await deps.links.find(user.tenantId, p.alias, mapped.identity.subject);
    if (existing && existing.userId !== user.id) throw new AppError('conflict', 409, 'This account at the provider is connected to another account here.');
    if (!existing) {
      try {
        await deps.links.link({ tenantId: user.tenantId, provider: p.alias, subject: mapped.identity.subject, userId: user.id, email: mapped.identity.email });
      } catch (err) {
        if (err instanceof ConflictError) throw new AppError('conflict', 409, 'This account at the provider is connected to another account here.');
        throw err;
      }
      await emit(request, 'user.linked', user.id, user.tenantId, { provider: p.alias, via: 'account' });
    }
    return reply.redirect(`${PAGE}?done=linked`, 303);
  };
}

function connectedPage(ctx: PageContext, links: ExternalLink[], providers: StoredProvider[], csrf: string, notice?: string): string {
  const { t } = ctx;
  const name = (alias: string) => providers.find((p) => p.alias === alias)?.display_name ?? alias;
  const items = links.map((l) => `<li class="item">
  <h2>${esc(name(l.provider))}</h2>
  <dl><dt>${esc(t('federation.account.email'))}</dt><dd>${esc(l.email ?? '—')}</dd>
  <dt>${esc(t('federation.account.since'))}</dt><dd>${esc(formatTime(ctx, l.createdAt))}</dd>
  <dt>${esc(t('federation.account.last_used'))}</dt><dd>${esc(formatTime(ctx, l.lastUsedAt))}</dd></dl>
  <form method="post" action="${PAGE}/unlink">
    ${csrfInput(csrf)}
    <input type="hidden" name="provider" value="${esc(l.provider)}">
    <input type="hidden" name="subject" value="${esc(l.subject)}">
    <button type="submit" class="inline">${esc(t('federation.account.unlink'))}</button>
  </form>
</li>`).join('\n');
  const buttons = providers.map((p) => `<form method="post" action="${PAGE}/link">
  ${csrfInput(csrf)}
  <input type="hidden" name="provider" value="${esc(p.alias)}">
  <button type="submit" class="secondary">${esc(t('federation.account.link', { provider: p.display_name }))}</button>
</form>`).join('\n');
  return `<h1>${esc(t('federation.account.title'))}</h1>
<p class="lead">${esc(t('federation.account.lead'))}</p>
${notice ? alert(notice, 'info') : ''}
${links.length ? `<ul class="items">${items}</ul>` : `<p>${esc(t('federation.account.none'))}</p>`}
${buttons}`;
}
