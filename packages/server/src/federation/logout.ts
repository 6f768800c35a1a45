import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import { z } from 'zod';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import type { EventBus } from '../audit/events.js';
import type { AccessService } from '../account/access.js';
import { AppError } from '../http/errors.js';
import { ROUTES } from '../oidc/provider.js';
import { underEnginePath } from '../oidc/engine-paths.js';
import type { FlowStore } from './flows.js';
import type { FederatedSessions } from './sessions.js';
import type { ProviderRegistry, StoredProvider } from './providers.js';
import { endpointsOf, UpstreamError } from './upstream.js';
import type { UpstreamClients } from './upstream.js';
import { ROUND_TRIP_TYPES } from './method.js';

/**
 * Federated logout (docs/federation.md#federated-logout), for providers with
 * `federated_logout: true`:
 *  - RP-initiated: when a person signs out of Tessera (the engine's
 *    end-session, "sign out everywhere" answered yes), the browser goes on to
 *    the upstream's end_session_endpoint with the kept ID token as
 *    `id_token_hint` and `post_logout_redirect_uri` = /federation/{alias}/logged-out,
 *    which sends it on to where the engine would have (the client's
 *    post_logout_redirect_uri with its state, or the signed-out page);
 *  - back-channel: the upstream's logout tokens (OpenID Connect Back-Channel
 *    Logout 1.0 §2.4–2.6) at POST /federation/{alias}/backchannel-logout end
 *    the Tessera sessions its sign-ins made.
 */

export const loggedOutPath = (alias: string) => `/federation/${encodeURIComponent(alias)}/logged-out`;
export const backchannelPath = (alias: string) => `/federation/${encodeURIComponent(alias)}/backchannel-logout`;

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** A logout token older than this is refused (§2.6 lets the RP bound `iat`); its jti is remembered as long. */
const MAX_TOKEN_AGE_S = 600;
const CLOCK_TOLERANCE_S = 60;

export interface FederatedLogoutDeps {
  registry: ProviderRegistry;
  clients: UpstreamClients;
  flows: FlowStore;
  sessions: FederatedSessions;
  access: AccessService;
  issuer: string;
  events: EventBus;
  log: Logger;
}

const aliasParams = z.object({ alias: z.string().min(1).max(63) });
const loggedOutQuery = z.object({ state: z.string().min(1).max(512).optional() }).loose();
const backchannelBody = z.object({ logout_token: z.string().min(1).max(16_384) }).loose();

/** The providers whose sign-ins are kept for federated logout. */
const federates = (p: StoredProvider | undefined): p is StoredProvider =>
  Boolean(p && p.enabled && p.federated_logout && ROUND_TRIP_TYPES.has(p.type) && endpointsOf(p).protocol === 'oidc');

/**
 * Engine middleware: binds a federated sign-in to the engine Session its
 * interaction resumed into, and turns the end-session's redirect into the
 * upstream round trip. Installed on every engine build (Platform.onEngine).
 */
export function federatedLogoutEngine(deps: FederatedLogoutDeps): (provider: Provider) => void {
  // Only `resume` (GET /oidc/auth/:uid) and `end_session_confirm` (POST /oidc/session/end/confirm) matter here:
  // requests for other paths are handed on without an async frame (oidc/engine-paths.ts).
  return (provider) => provider.use((koaCtx, next) => (underEnginePath(koaCtx.path, `${ROUTES.authorization}/`) || underEnginePath(koaCtx.path, `${ROUTES.end_session}/`)
    ? afterEngine(koaCtx, next) : next()));

  async function afterEngine(koaCtx: unknown, next: () => Promise<unknown>): Promise<void> {
    await next();
    const ctx = koaCtx as unknown as KoaContextWithOIDC;
    const route = ctx.oidc?.route;
    if (route !== 'resume' && route !== 'end_session_confirm') return;
    try {
      if (route === 'resume') {
        const interaction = ctx.oidc.entities.Interaction as { uid?: string; jti?: string } | undefined;
        const session = ctx.oidc.session;
        const uid = interaction?.uid ?? interaction?.jti;
        if (uid && session?.uid && typeof session.accountId === 'string') await deps.sessions.bind(uid, session.uid, session.accountId);
        return;
      }
      // Only a whole sign-out (the engine destroyed the session) goes upstream; "this application only" does not.
      if (ctx.status !== 303 || !ctx.oidc.params?.logout || !ctx.oidc.session?.uid) return;
      await upstreamLogout(ctx, ctx.oidc.session.uid, typeof ctx.oidc.session.accountId === 'string' ? ctx.oidc.session.accountId : null);
    } catch (err) {
      // The person is signed out of Tessera either way; the upstream hop is best effort.
      deps.log.warn({ err, route }, 'federated logout step failed');
    }
  }

  async function upstreamLogout(ctx: KoaContextWithOIDC, sessionUid: string, accountId: string | null): Promise<void> {
    const rows = await deps.sessions.takeForSession(sessionUid);
    const location = ctx.response.get('location');
    for (const row of rows) {
      if (!row.idToken || !location) continue;
      const p = await deps.registry.get(row.provider);
      if (!federates(p)) continue;
      let endpoint: string | undefined;
      try {
        endpoint = await deps.clients.endSessionEndpoint(p);
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err;
        deps.log.warn({ provider: p.alias, reason: err.reason }, 'upstream end-session endpoint unknown: no federated logout');
      }
      if (!endpoint) continue;
      const state = await deps.flows.logoutStarted({ sessionUid, provider: p.alias, tenantId: row.tenantId, location });
      const url = new URL(endpoint);
      url.searchParams.set('id_token_hint', row.idToken);
      url.searchParams.set('post_logout_redirect_uri', `${deps.issuer}${loggedOutPath(p.alias)}`);
      url.searchParams.set('state', state);
      url.searchParams.set('client_id', endpointsOf(p).clientId);
      ctx.redirect(url.href);
      await deps.events.emit({
        type: 'federation.logout', tenantId: row.tenantId, subjectId: accountId, context: { ip: ctx.ip, userAgent: ctx.get('user-agent') || null },
        data: { provider: p.alias, via: 'rp_initiated', sessions: 1 },
      }, (err) => deps.log.error({ err }, 'event listener failed'));
      // One upstream per sign-out: the session's latest federated sign-in (the browser can follow one chain).
      return;
    }
  }
}

/** The routes: the upstream's return after its end-session, and its back-channel logout endpoint. */
export function federatedLogoutRoutes(app: FastifyInstance, deps: FederatedLogoutDeps): void {
  const jwksCache = new Map<string, { version: number; jwks: ReturnType<typeof createRemoteJWKSet> }>();

  app.get('/federation/:alias/logged-out', { config: { html: true } }, async (request, reply) => {
    const params = aliasParams.safeParse(request.params);
    const query = loggedOutQuery.safeParse(request.query);
    const state = query.success ? query.data.state : undefined;
    const location = params.success && state ? await deps.flows.takeLogout(params.data.alias, state) : undefined;
    // Without a (valid) state the person is signed out all the same: the engine's signed-out page.
    return reply.header('cache-control', 'no-store').redirect(location ?? `${ROUTES.end_session}/success`, 303);
  });

  app.post('/federation/:alias/backchannel-logout', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const params = aliasParams.safeParse(request.params);
    const alias = params.success ? params.data.alias : '';
    const p = alias ? await deps.registry.get(alias) : undefined;
    if (!p || !ROUND_TRIP_TYPES.has(p.type) || !p.federated_logout || endpointsOf(p).protocol !== 'oidc') {
      throw new AppError('unknown_identity_provider', 400, 'No back-channel logout for this identity provider.');
    }
    if (!p.enabled) throw new AppError('identity_provider_disabled', 403, 'This identity provider is disabled.');
    const body = backchannelBody.safeParse(request.body);
    if (!body.success) return refuse(request, p, 'no logout_token in a form-encoded body');
    const claims = await verify(request, p, body.data.logout_token);
    const sub = typeof claims.sub === 'string' ? claims.sub : undefined;
    const sid = typeof claims.sid === 'string' ? claims.sid : undefined;
    const until = ((typeof claims.exp === 'number' ? claims.exp : claims.iat! + MAX_TOKEN_AGE_S) + CLOCK_TOLERANCE_S) * 1000;
    if (!(await deps.sessions.firstUse(p.alias, claims.jti!, until))) return refuse(request, p, 'jti replayed');

    const rows = await deps.sessions.takeForLogout(p.alias, { sub, sid });
    const context = { ip: request.ip, userAgent: request.headers['user-agent'] ?? null };
    let ended = 0;
    for (const row of rows) {
      if (!row.sessionUid || !row.userId) continue;
      if (await deps.access.revokeSession(row.userId, row.tenantId, row.sessionUid, context)) ended++;
    }
    await deps.events.emit({
      type: 'federation.logout', tenantId: rows[0]?.tenantId ?? null, subjectId: rows[0]?.userId ?? null, context,
      data: { provider: p.alias, via: 'backchannel', sessions: ended },
    }, (err) => deps.log.error({ err }, 'event listener failed'));
    // §2.8: 200 when the logout succeeded (also when no session of ours was left to end).
    return reply.code(200).send();
  });

  /** §2.6: signature (the upstream's JWKS), iss, aud, iat, typ, events, sub/sid, no nonce, jti. @throws AppError */
  async function verify(request: FastifyRequest, p: StoredProvider, token: string): Promise<JWTPayload> {
    const e = endpointsOf(p);
    let jwksUri: string | undefined;
    try {
      jwksUri = (await deps.clients.configuration(p)).serverMetadata().jwks_uri;
    } catch (err) {
      if (err instanceof UpstreamError) throw new AppError(err.reason, err.reason === 'upstream_timeout' ? 504 : 502, 'The identity provider\'s keys could not be read.');
      throw err;
    }
    if (!jwksUri) return refuse(request, p, 'the upstream publishes no jwks_uri');
    let cached = jwksCache.get(p.alias);
    if (!cached || cached.version !== p.updatedAt) {
      // An unknown kid refetches the key set, at most once a minute (as for ID tokens).
      cached = { version: p.updatedAt, jwks: createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: p.timeout_seconds * 1000, cooldownDuration: 60_000 }) };
      jwksCache.set(p.alias, cached);
    }
    let payload: JWTPayload;
    let typ: string | undefined;
    try {
      const out = await jwtVerify(token, cached.jwks, {
        issuer: e.issuer, audience: e.clientId, requiredClaims: ['iat', 'jti'], maxTokenAge: MAX_TOKEN_AGE_S, clockTolerance: CLOCK_TOLERANCE_S,
      });
      payload = out.payload;
      typ = out.protectedHeader.typ;
    } catch (err) {
      return refuse(request, p, `signature, iss, aud or iat: ${(err as { code?: string }).code ?? (err as Error).message}`);
    }
    // §2.4: explicitly typed logout+jwt where the upstream types it (an ID token passed off as a logout token is not).
    if (typ !== undefined && typ.toLowerCase().replace(/^application\//, '') !== 'logout+jwt') return refuse(request, p, `typ ${typ}`);
    const events = payload.events as Record<string, unknown> | undefined;
    const event = events && typeof events === 'object' && !Array.isArray(events) ? events[BACKCHANNEL_EVENT] : undefined;
    if (!event || typeof event !== 'object' || Array.isArray(event)) return refuse(request, p, 'no back-channel logout event');
    if (typeof payload.sub !== 'string' && typeof payload.sid !== 'string') return refuse(request, p, 'neither sub nor sid');
    if ('nonce' in payload) return refuse(request, p, 'a nonce (an ID token, not a logout token)');
    if (typeof payload.jti !== 'string' || payload.jti.length > 256) return refuse(request, p, 'bad jti');
    return payload;
  }

  async function refuse(request: FastifyRequest, p: StoredProvider, reason: string): Promise<never> {
    request.log.info({ event: 'federation.logout_refused', provider: p.alias, reason }, 'back-channel logout token refused');
    await deps.events.emit({
      type: 'federation.logout_refused', tenantId: null, subjectId: null,
      context: { ip: request.ip, userAgent: request.headers['user-agent'] ?? null }, data: { provider: p.alias, reason: reason.slice(0, 300) },
    }, (err) => deps.log.error({ err }, 'event listener failed'));
    throw new AppError('logout_token_invalid', 400, 'The logout token could not be accepted.');
  }
}
