import { decodeJwt } from 'jose';
import { z } from 'zod';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { FirstSlotView, SignInMethod } from '../interaction/methods.js';
import type { SignInFlow } from '../interaction/flow.js';
import { finishInteraction } from '../interaction/details.js';
import { AppError } from '../http/errors.js';
import type { ErrorCode } from '../http/errors.js';
import { readCookie, setCookie } from '../http/cookies.js';
import type { Metrics } from '../http/metrics.js';
import type { EventBus } from '../audit/events.js';
import type Provider from 'oidc-provider';
import { esc } from '../web/layout.js';
import { originOf } from '../http/security.js';
import { FLOW_TTL_MS, FlowStore } from './flows.js';
import type { StartedFlow } from './flows.js';
import { federationFailure } from './audit.js';
import type { FailureContext } from './audit.js';
import { authorizationUrl, completeRoundTrip, endpointsOf, openidClient, UpstreamError } from './upstream.js';
import type { UpstreamClients } from './upstream.js';
import { mapIdentity } from './identity.js';
import type { MappedIdentity } from './identity.js';
import type { ProviderRegistry, StoredProvider } from './providers.js';
import { callbackPath } from './admin-routes.js';
import type { SamlRoundTrip } from './saml/routes.js';
import type { FederatedSessions } from './sessions.js';

/**
 * Upstream providers as a first factor (docs/federation.md#sign-in): plain
 * links on the sign-in page, `idp_hint`, home-realm discovery by email
 * domain, and the round trip:
 *
 *   GET /interaction/:uid/federation/:alias/start   (engine cookie: bound to the interaction and browser)
 *     → 303 upstream authorization endpoint (state, nonce, PKCE S256)
 *   GET /federation/:alias/callback                 (state: single use, expiring, this browser's cookie)
 *     → code exchange and token checks (openid-client) → 303
 *   GET /interaction/:uid/federation/resume         → flow.complete (account step, MFA policy, finish)
 */

export interface FederationMethodDeps {
  registry: ProviderRegistry;
  clients: UpstreamClients;
  flows: FlowStore;
  issuer: string;
  secureCookies: boolean;
  events: EventBus;
  metrics: Metrics;
  log: Logger;
  provider: () => Provider;
  /** The tenant's `local_login` policy (false: no password form; with exactly one provider the browser goes there at once). */
  localLogin(tenantId: string): Promise<boolean>;
  /** SAML providers' leg of the round trip (saml/routes.ts). */
  saml: SamlRoundTrip;
  /** Upstream sign-ins kept for federated logout (providers with federated_logout). */
  sessions: FederatedSessions;
  /** Round trips started from /account/connected (uid ACCOUNT_LINK_PREFIX + user id) end there, not in an interaction. */
  accountLink?: (request: FastifyRequest, reply: FastifyReply, p: StoredProvider, started: StartedFlow, mapped: MappedIdentity | undefined) => Promise<FastifyReply>;
}

/** What the callback hands to the resume. */
export interface Returned {
  error?: 'access_denied';
  mapped?: MappedIdentity;
  /** Kept (encrypted) only for federated logout. */
  idToken?: string;
}

/** The `uid` of a round trip that links another provider to a signed-in account (federation/account-links.ts). */
export const ACCOUNT_LINK_PREFIX = 'account-link:';

/** Provider types this method's round trip serves. */
export const ROUND_TRIP_TYPES = new Set(['oidc', 'oauth2', 'mock']);
/** Provider types with a button on the sign-in page: the round-trip ones and SAML (its own leg, same resume). */
export const OFFERED_TYPES = new Set([...ROUND_TRIP_TYPES, 'saml']);

export const cookieName = (alias: string) => `tessera_fed_${alias.replace(/[^a-z0-9]/g, '_')}`;
const callbackQuery = z.object({
  state: z.string().min(1).max(512).optional(),
  code: z.string().min(1).max(4096).optional(),
  error: z.string().max(256).optional(),
  error_description: z.string().max(2048).optional(),
  iss: z.string().max(2048).optional(),
}).loose();
const aliasParams = z.object({ uid: z.string().min(1).max(256).optional(), alias: z.string().min(1).max(63) });
const discoverBody = z.object({ email: z.string().trim().min(3).max(254) }).loose();

export function federationMethod(deps: FederationMethodDeps): SignInMethod {
  const { registry, flows } = deps;
  const redirectUri = (alias: string) => `${deps.issuer}${callbackPath(alias)}`;
  const startUrl = (uid: string, alias: string) => `/interaction/${encodeURIComponent(uid)}/federation/${encodeURIComponent(alias)}/start`;

  const fail = (request: FastifyRequest, code: ErrorCode, ctx: FailureContext) => federationFailure(deps, request, code, ctx);

  /** The tenant's enabled providers this method signs in with (LDAP sits behind the password form). */
  const offeredTo = async (tenantId: string) => (await registry.forTenant(tenantId)).filter((p) => OFFERED_TYPES.has(p.type));

  /** A provider named by `idp_hint`, found by the login_hint's domain, or the only way in when local login is off. */
  const preferred = async (view: FirstSlotView, providers: StoredProvider[], localLogin: boolean): Promise<string | undefined> => {
    const hint = typeof view.params.idp_hint === 'string' ? view.params.idp_hint : undefined;
    if (hint !== undefined) {
      const p = providers.find((x) => x.alias === hint);
      if (!p) return `/interaction/${encodeURIComponent(view.uid)}/federation/${encodeURIComponent(hint.slice(0, 63) || '-')}/start`; // refused there, audited
      return startUrl(view.uid, p.alias);
    }
    const login = typeof view.params.login_hint === 'string' ? view.params.login_hint : undefined;
    const domain = login?.includes('@') ? login.split('@').pop()!.toLowerCase() : undefined;
    const byDomain = domain ? providers.find((p) => p.email_domains.includes(domain)) : undefined;
    if (byDomain) return startUrl(view.uid, byDomain.alias);
    if (!localLogin && providers.length === 1) return startUrl(view.uid, providers[0]!.alias);
    return undefined;
  };

  return {
    id: 'federation',
    kinds: ['first'],
    amr: ['fed'],
    order: 30,
    offered: async ({ tenantId, kind }) => kind === 'first' && (await offeredTo(tenantId)).length > 0,
    async redirect(view) {
      const providers = await offeredTo(view.tenantId);
      return preferred(view, providers, await deps.localLogin(view.tenantId));
    },
    async slot(view) {
      if (view.kind !== 'first') return undefined;
      const providers = await offeredTo(view.tenantId);
      if (!providers.length) return undefined;
      const { t } = view.ctx;
      const buttons = providers.map((p) => `<li><a class="button secondary idp${p.icon ? ` idp-${esc(p.icon)}` : ''}" href="${esc(startUrl(view.uid, p.alias))}" data-provider="${esc(p.alias)}">`
        + `${esc(t('federation.with', { provider: p.display_name }))}</a></li>`).join('');
      const domains = providers.filter((p) => p.email_domains.length);
      const hrd = domains.length ? `<form method="post" action="${esc(`/interaction/${view.uid}/federation/discover`)}" class="idp-discover">
  <label for="idp-email">${esc(t('federation.company_email'))}</label>
  <input id="idp-email" name="email" type="email" autocomplete="email" required>
  <button type="submit" class="secondary">${esc(t('federation.continue'))}</button>
</form>` : '';
      // The discovery form's answer redirects to the upstream: CSP form-action must allow its origin (Chromium checks redirects).
      const formTargets = (await Promise.all(domains.map(async (p) => (p.type === 'saml'
        ? deps.saml.formTarget(p)
        : originOf(endpointsOf(p).authorizationEndpoint ?? endpointsOf(p).issuer))))).filter((o): o is string => Boolean(o));
      return { html: `<section class="idps"><h2>${esc(t('federation.or'))}</h2><ul class="idp-list">${buttons}</ul>${hrd}</section>`, formTargets };
    },
    routes(app: FastifyInstance, flow: SignInFlow) {
      deps.saml.routes(app);
      app.get('/interaction/:uid/federation/:alias/start', { config: { html: true } }, async (request, reply) => {
        const signIn = await flow.load(request, reply);
        const params = aliasParams.safeParse(request.params);
        const alias = params.success ? params.data.alias : '';
        const p = params.success ? await registry.get(alias) : undefined;
        if (!p || !OFFERED_TYPES.has(p.type) || !p.tenants.includes(signIn.tenantId)) return fail(request, 'unknown_identity_provider', { provider: alias || undefined, tenantId: signIn.tenantId });
        if (!p.enabled) return fail(request, 'identity_provider_disabled', { provider: alias, tenantId: signIn.tenantId });
        // The application's login_hint goes on to the upstream (it preselects the account there; the mocks read persona:scenario).
        const hint = signIn.details.params.login_hint;
        return leave(request, reply, p, signIn.uid, signIn.tenantId, typeof hint === 'string' && hint.length <= 256 ? hint : undefined);
      });

      // Home-realm discovery: the address's domain picks the provider; unknown domains go back to the page.
      app.post('/interaction/:uid/federation/discover', { config: { html: true } }, async (request, reply) => {
        const signIn = await flow.load(request, reply);
        const body = discoverBody.safeParse(request.body);
        const domain = body.success && body.data.email.includes('@') ? body.data.email.split('@').pop()!.toLowerCase() : undefined;
        const p = domain ? (await offeredTo(signIn.tenantId)).find((x) => x.email_domains.includes(domain)) : undefined;
        if (!p) return flow.signInPage(request, reply.code(400), signIn, { error: 'federation.no_domain' });
        return leave(request, reply, p, signIn.uid, signIn.tenantId, body.success ? body.data.email : undefined);
      });

      app.get('/federation/:alias/callback', { config: { html: true } }, async (request, reply) => {
        const params = aliasParams.safeParse(request.params);
        const alias = params.success ? params.data.alias : '';
        const query = callbackQuery.safeParse(request.query);
        const state = query.success ? query.data.state : undefined;
        const started = state ? await flows.take(state) : undefined;
        if (!started || started.provider !== alias) {
          return fail(request, 'federation_state_invalid', { provider: alias || undefined, detail: started ? 'another provider\'s state' : 'unknown, used or expired state' });
        }
        const browser = readCookie(request, cookieName(alias));
        setCookie(reply, cookieName(alias), '', { path: callbackPath(alias), maxAge: 0, secure: deps.secureCookies, sameSite: 'Lax' });
        if (!FlowStore.sameBrowser(started, browser)) {
          return fail(request, 'federation_state_invalid', { provider: alias, tenantId: started.tenantId, detail: 'state from another browser' });
        }
        const p = await registry.get(alias);
        if (!p || !ROUND_TRIP_TYPES.has(p.type)) return fail(request, 'unknown_identity_provider', { provider: alias, tenantId: started.tenantId });
        if (!p.enabled) return fail(request, 'identity_provider_disabled', { provider: alias, tenantId: started.tenantId });
        const q = query.data!;
        if (q.error) {
          // RFC 9207: an error response from another issuer (mix-up) is not believed either.
          if (q.iss !== undefined && q.iss !== endpointsOf(p).issuer) {
            return fail(request, 'upstream_invalid_response', { provider: alias, tenantId: started.tenantId, detail: 'iss mismatch on an error response' });
          }
          if (started.uid.startsWith(ACCOUNT_LINK_PREFIX) && deps.accountLink) return deps.accountLink(request, reply, p, started, undefined);
          if (q.error === 'access_denied') {
            deps.metrics.federationLogins.inc({ provider: alias, outcome: 'access_denied' });
            await audit(request, 'federation.login.failed', started.tenantId, { provider: alias, reason: 'access_denied' });
            await flows.returned<Returned>(started, { error: 'access_denied' });
            return reply.redirect(`/interaction/${encodeURIComponent(started.uid)}/federation/resume`, 303);
          }
          return fail(request, 'upstream_error', { provider: alias, tenantId: started.tenantId, detail: q.error });
        }
        return returnFrom(request, reply, p, started, state!);
      });

      app.get('/interaction/:uid/federation/resume', { config: { html: true } }, async (request, reply) => {
        const signIn = await flow.load(request, reply);
        const back = await flows.resume<Returned>(signIn.uid);
        if (!back) throw new AppError('session_expired', 400, 'This sign-in session has expired. Go back to the application and start again.');
        if (back.result.error === 'access_denied') {
          return finishInteraction(deps.provider, request, reply, { error: 'access_denied', error_description: 'The sign-in at the identity provider was cancelled or refused.' });
        }
        const p = await registry.get(back.provider);
        if (!p || !p.enabled) return fail(request, p ? 'identity_provider_disabled' : 'unknown_identity_provider', { provider: back.provider, tenantId: back.tenantId });
        const mapped = back.result.mapped!;
        request.tesseraFederation = { mapped, idToken: back.result.idToken };
        if (p.federated_logout && back.result.idToken) {
          // Kept (encrypted) for federated logout; claimed by the finish hook, bound to the engine session at its resume.
          const idClaims = decodeJwt(back.result.idToken);
          await deps.sessions.pending({
            interactionUid: signIn.uid, tenantId: signIn.tenantId, provider: p.alias, upstreamSub: String(idClaims.sub),
            upstreamSid: typeof idClaims.sid === 'string' ? idClaims.sid : undefined, idToken: back.result.idToken,
          });
        }
        return flow.complete(request, reply, {
          method: p.type === 'mock' ? endpointsOf(p).protocol : p.type, kind: 'first', subject: { external: mapped.identity },
          amr: ['fed'], upstreamMfa: mapped.upstreamMfa, provider: p.alias,
        });
      });
    },
  };

  async function leave(request: FastifyRequest, reply: FastifyReply, p: StoredProvider, uid: string, tenantId: string, loginHint?: string): Promise<FastifyReply> {
    if (p.type === 'saml') return deps.saml.leave(request, reply, p, uid, tenantId);
    const oidc = await openidClient();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    let url: URL;
    try {
      const { state, browserSecret } = await flows.start({ uid, provider: p.alias, tenantId, nonce, codeVerifier });
      url = await authorizationUrl(deps.clients, p, { redirectUri: redirectUri(p.alias), state, nonce, codeVerifier, loginHint });
      // Bound to this browser: the callback needs this cookie (scoped to the callback path; Lax: the upstream's redirect is a top-level GET).
      setCookie(reply, cookieName(p.alias), browserSecret, { path: callbackPath(p.alias), maxAge: Math.floor(FLOW_TTL_MS / 1000), secure: deps.secureCookies, sameSite: 'Lax' });
    } catch (err) {
      if (err instanceof UpstreamError) return fail(request, err.reason, { provider: p.alias, tenantId, detail: err.message });
      throw err;
    }
    return reply.redirect(url.href, 303);
  }

  async function returnFrom(request: FastifyRequest, reply: FastifyReply, p: StoredProvider, started: StartedFlow, state: string): Promise<FastifyReply> {
    const callbackUrl = new URL(`${redirectUri(p.alias)}?${new URLSearchParams(request.query as Record<string, string>).toString()}`);
    const begun = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - begun) / 1e9;
    let mapped: MappedIdentity | undefined;
    let idToken: string | undefined;
    try {
      const answer = await completeRoundTrip(deps.clients, p, callbackUrl, { state, nonce: started.nonce, codeVerifier: started.codeVerifier });
      mapped = mapIdentity(p, answer.claims);
      if (!mapped) throw new UpstreamError('upstream_invalid_response', 'no usable subject claim');
      idToken = p.federated_logout ? answer.idToken : undefined;
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      deps.metrics.federationLatency.observe({ provider: p.alias, outcome: 'error' }, seconds());
      return fail(request, err.reason, { provider: p.alias, tenantId: started.tenantId, detail: err.message });
    }
    deps.metrics.federationLatency.observe({ provider: p.alias, outcome: 'ok' }, seconds());
    if (started.uid.startsWith(ACCOUNT_LINK_PREFIX) && deps.accountLink) return deps.accountLink(request, reply, p, started, mapped);
    await flows.returned<Returned>(started, { mapped, ...(idToken ? { idToken } : {}) });
    return reply.redirect(`/interaction/${encodeURIComponent(started.uid)}/federation/resume`, 303);
  }

  async function audit(request: FastifyRequest, type: 'federation.login.failed', tenantId: string, data: Record<string, unknown>): Promise<void> {
    await deps.events.emit({ type, tenantId, subjectId: null, context: { ip: request.ip, userAgent: request.headers['user-agent'] ?? null }, data },
      (err) => deps.log.error({ err }, 'event listener failed'));
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the federation resume for its account step and finish hook (this request only). */
    tesseraFederation?: { mapped: MappedIdentity; idToken?: string };
  }
}
