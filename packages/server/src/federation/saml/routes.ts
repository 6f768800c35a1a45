import { z } from 'zod';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ErrorCode } from '../../http/errors.js';
import { readCookie, setCookie } from '../../http/cookies.js';
import type { Metrics } from '../../http/metrics.js';
import type { EventBus } from '../../audit/events.js';
import type { OidcPayloadStore } from '../../oidc/payload-store.js';
import { originOf } from '../../http/security.js';
import { federationFailure } from '../audit.js';
import type { FailureContext } from '../audit.js';
import { FLOW_TTL_MS, FlowStore } from '../flows.js';
import type { StartedFlow } from '../flows.js';
import { UpstreamError } from '../upstream.js';
import type { ProviderRegistry, StoredProvider } from '../providers.js';
import type { Returned } from '../method.js';
import { samlSettingsOf } from './config.js';
import { IdpDirectory } from './idp.js';
import type { SamlKeyStore } from './keys.js';
import { acsPath, authnRequestUrl, newRequestId, peek, SamlRefusal, spMetadata, validateResponse } from './sp.js';
import type { SpContext, ValidAssertion } from './sp.js';
import { mapSamlIdentity } from './mapping.js';

/**
 * SAML 2.0 sign-in (docs/directories.md#saml), the SAML leg of the
 * federation method (federation/method.ts: buttons, idp_hint, home-realm
 * discovery and the resume are shared with OIDC upstreams):
 *
 *   GET  /interaction/:uid/federation/:alias/start   → 303 IdP (AuthnRequest, HTTP-Redirect; RelayState = the flow's state)
 *   POST /federation/:alias/saml/acs                 (HTTP-POST binding; RelayState single use, this browser's cookie,
 *                                                     InResponseTo = the flow's request id) → 303 resume
 *   GET  /federation/:alias/saml/metadata            the SP metadata to give the IdP
 */

export interface SamlDeps {
  registry: ProviderRegistry;
  flows: FlowStore;
  keys: SamlKeyStore;
  /** The shared replay cache (the engine's store: insertOnce, as for DPoP proofs). */
  payloads: OidcPayloadStore;
  issuer: string;
  secureCookies: boolean;
  events: EventBus;
  metrics: Metrics;
  log: Logger;
}

/** The replay cache's model name in the shared store. */
const REPLAY_MODEL = 'SamlAssertion';
const cookieName = (alias: string) => `tessera_saml_${alias.replace(/[^a-z0-9]/g, '_')}`;
const aliasParams = z.object({ alias: z.string().min(1).max(63) });
// Fastify's form parser keeps the body under its limit (1 MiB); RelayState is at most 80 bytes in SAML bindings §3.4.3, a flow state is 43.
const acsBody = z.object({ SAMLResponse: z.string().min(1).max(1_000_000).regex(/^[A-Za-z0-9+/=\s]+$/), RelayState: z.string().max(512).optional() }).loose();

export interface SamlRoundTrip {
  /** Starts the round trip: 303 to the IdP with an AuthnRequest. */
  leave(request: FastifyRequest, reply: FastifyReply, p: StoredProvider, uid: string, tenantId: string): Promise<FastifyReply>;
  /** The IdP's origin for the sign-in page's CSP form-action (home-realm discovery redirects there), when known. */
  formTarget(p: StoredProvider): Promise<string | undefined>;
  routes(app: FastifyInstance): void;
}

export function samlRoundTrip(deps: SamlDeps): SamlRoundTrip {
  const idps = new IdpDirectory();
  const fail = (request: FastifyRequest, code: ErrorCode, ctx: FailureContext) => federationFailure(deps, request, code, ctx);
  const contextOf = async (p: StoredProvider): Promise<SpContext> => {
    const settings = samlSettingsOf(p);
    const [idp, keys] = await Promise.all([idps.info(p, settings), deps.keys.get(p.alias)]);
    return { alias: p.alias, issuer: deps.issuer, settings, idp, keys };
  };
  const cookieOptions = (alias: string, maxAge: number) => ({
    // The IdP's page posts the form cross-site: only a SameSite=None cookie comes along (it needs Secure, i.e. an https issuer).
    path: acsPath(alias), maxAge, secure: deps.secureCookies, sameSite: deps.secureCookies ? 'None' as const : 'Lax' as const,
  });

  async function accepted(request: FastifyRequest, p: StoredProvider, ctx: SpContext, samlResponse: string, expect: string | null, tenantId: string | undefined): Promise<ValidAssertion | 'denied'> {
    const begun = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - begun) / 1e9;
    try {
      const a = await validateResponse(ctx, samlResponse, expect);
      // Replay cache shared by every instance: one atomic insert per assertion id, kept until the assertion expires.
      const fresh = await deps.payloads.insertOnce(REPLAY_MODEL, `${p.alias} ${a.assertionId}`, { provider: p.alias },
        Math.max(1, Math.ceil((a.notOnOrAfter - Date.now()) / 1000)));
      if (!fresh) throw new SamlRefusal('upstream_invalid_token', `assertion ${a.assertionId.slice(0, 80)} was used before (replay)`);
      deps.metrics.federationLatency.observe({ provider: p.alias, outcome: 'ok' }, seconds());
      return a;
    } catch (err) {
      if (!(err instanceof SamlRefusal)) throw err;
      deps.metrics.federationLatency.observe({ provider: p.alias, outcome: 'error' }, seconds());
      if (err.code === 'access_denied') return 'denied';
      return fail(request, err.code, { provider: p.alias, tenantId, detail: err.message });
    }
  }

  async function solicited(request: FastifyRequest, reply: FastifyReply, p: StoredProvider, ctx: SpContext, samlResponse: string, relayState: string | undefined): Promise<FastifyReply> {
    const started: StartedFlow | undefined = relayState ? await deps.flows.take(relayState) : undefined;
    // Unknown, used (the same POST twice) or expired RelayState, or another provider's.
    if (!started || started.provider !== p.alias) {
      return fail(request, 'federation_state_invalid', { provider: p.alias, detail: started ? 'another provider\'s RelayState' : 'unknown, used or expired RelayState' });
    }
    const browser = readCookie(request, cookieName(p.alias));
    setCookie(reply, cookieName(p.alias), '', cookieOptions(p.alias, 0));
    if (!FlowStore.sameBrowser(started, browser)) {
      return fail(request, 'federation_state_invalid', { provider: p.alias, tenantId: started.tenantId, detail: 'RelayState from another browser' });
    }
    const a = await accepted(request, p, ctx, samlResponse, started.nonce, started.tenantId);
    if (a === 'denied') {
      deps.metrics.federationLogins.inc({ provider: p.alias, outcome: 'access_denied' });
      await deps.events.emit({
        type: 'federation.login.failed', tenantId: started.tenantId, subjectId: null,
        context: { ip: request.ip, userAgent: request.headers['user-agent'] ?? null }, data: { provider: p.alias, reason: 'access_denied' },
      }, (err) => deps.log.error({ err }, 'event listener failed'));
      await deps.flows.returned<Returned>(started, { error: 'access_denied' });
    } else {
      const mapped = mapSamlIdentity(p, ctx.settings, a);
      if (!mapped) return fail(request, 'upstream_invalid_response', { provider: p.alias, tenantId: started.tenantId, detail: 'no usable subject in the assertion' });
      await deps.flows.returned<Returned>(started, { mapped });
    }
    return reply.redirect(`/interaction/${encodeURIComponent(started.uid)}/federation/resume`, 303);
  }

  return {
    async leave(request, reply, p, uid, tenantId) {
      let url: string;
      try {
        const ctx = await contextOf(p);
        // The flow keeps the AuthnRequest's id (in its nonce slot): the response must name it in InResponseTo.
        const requestId = newRequestId();
        const { state, browserSecret } = await deps.flows.start({ uid, provider: p.alias, tenantId, nonce: requestId, codeVerifier: '' });
        url = await authnRequestUrl(ctx, state, requestId);
        setCookie(reply, cookieName(p.alias), browserSecret, cookieOptions(p.alias, Math.floor(FLOW_TTL_MS / 1000)));
      } catch (err) {
        if (err instanceof UpstreamError) return fail(request, err.reason, { provider: p.alias, tenantId, detail: err.message });
        throw err;
      }
      return reply.redirect(url, 303);
    },

    async formTarget(p) {
      try {
        return originOf((await idps.info(p, samlSettingsOf(p))).ssoUrl);
      } catch {
        return undefined;
      }
    },

    routes(app) {
      const provider = async (request: FastifyRequest): Promise<StoredProvider> => {
        const params = aliasParams.safeParse(request.params);
        const alias = params.success ? params.data.alias : '';
        const p = params.success ? await deps.registry.get(alias) : undefined;
        if (!p || p.type !== 'saml') return fail(request, 'unknown_identity_provider', { provider: alias || undefined });
        if (!p.enabled) return fail(request, 'identity_provider_disabled', { provider: alias });
        return p;
      };

      app.get('/federation/:alias/saml/metadata', { config: { html: true } }, async (request, reply) => {
        const p = await provider(request);
        // The SP's side only: an administrator gives it to the IdP before the IdP's own metadata may be reachable.
        const settings = samlSettingsOf(p);
        const xml = await spMetadata({ alias: p.alias, issuer: deps.issuer, settings, keys: await deps.keys.get(p.alias) });
        return reply.type('application/samlmetadata+xml; charset=utf-8').header('cache-control', 'no-cache').send(xml);
      });

      app.post('/federation/:alias/saml/acs', { config: { html: true, crossSitePost: true } }, async (request, reply) => {
        const p = await provider(request);
        const body = acsBody.safeParse(request.body);
        if (!body.success) return fail(request, 'invalid_request', { provider: p.alias, detail: 'no base64 SAMLResponse in the form' });
        const samlResponse = body.data.SAMLResponse.replace(/\s+/g, '');
        let ctx: SpContext;
        try {
          ctx = await contextOf(p);
        } catch (err) {
          if (err instanceof UpstreamError) return fail(request, err.reason, { provider: p.alias, detail: err.message });
          throw err;
        }
        if ((await peek(samlResponse)).inResponseTo !== undefined || body.data.RelayState && !ctx.settings.allow_idp_initiated) {
          return solicited(request, reply, p, ctx, samlResponse, body.data.RelayState);
        }
        // IdP-initiated: off unless the provider allows it. Even then the assertion signs no one in here
        // (it would be a login-CSRF vector, bound to no interaction): once validated, the browser goes to the
        // application, which starts an ordinary SP-initiated sign-in (idp_hint) the IdP answers at once.
        if (!ctx.settings.allow_idp_initiated) {
          return fail(request, 'federation_state_invalid', { provider: p.alias, tenantId: p.tenants[0], detail: 'IdP-initiated sign-in is off for this provider' });
        }
        const a = await accepted(request, p, ctx, samlResponse, null, p.tenants[0]);
        if (a === 'denied') return fail(request, 'upstream_error', { provider: p.alias, tenantId: p.tenants[0], detail: 'IdP-initiated response with an error status' });
        request.log.info({ event: 'federation.saml.idp_initiated', provider: p.alias }, 'IdP-initiated SAML response: redirected to the application');
        return reply.redirect(ctx.settings.idp_initiated_redirect!, 303);
      });
    },
  };
}
