import { errors } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC, ResourceServer } from 'oidc-provider';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { JWK } from 'jose';
import { z } from 'zod';

/**
 * Token exchange (RFC 8693) for service-to-service delegation,
 * docs/protocol.md#token-exchange. Off unless a client lists the grant and
 * has a `token_exchange` policy. A service holding a user's access token (the
 * subject token, issued by this issuer for an API) obtains a token for
 * another API, for the same user, with an `act` claim naming itself (and, if
 * the subject token was itself exchanged, the earlier actors nested inside,
 * §4.1). Only what the policy lists may be exchanged: the clients whose
 * tokens it may present (`subject_clients`), the APIs it may obtain tokens
 * for (`audiences`) and their scopes (`scopes`). Impersonation (a token
 * without `act`) is not offered. Every exchange is audited (`token.exchanged`).
 */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

export const tokenExchangePolicySchema = z.strictObject({
  /** client_ids whose access tokens this client may exchange (the services that call it). */
  subject_clients: z.array(z.string().min(1)).min(1, 'must list at least one client'),
  /** API identifiers (apis[].identifier) this client may obtain tokens for. */
  audiences: z.array(z.string().min(1)).min(1, 'must list at least one API'),
  /** Scopes it may obtain at those APIs. */
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'must be a scope token')).min(1, 'must list at least one scope'),
});
export type TokenExchangePolicy = z.infer<typeof tokenExchangePolicySchema>;

export interface TokenExchangeDeps {
  issuer: string;
  jwks: { keys: JWK[] };
  resourceServer(indicator: string, ctx: KoaContextWithOIDC): Promise<ResourceServer>;
  /** Audit: one entry per exchange. */
  onExchange?(e: { tenantId: string | null; subject: string; client: string; subjectClient: string; audience: string; scope: string; ip: string }): Promise<void> | void;
}

const PARAMETERS = new Set(['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'audience', 'resource', 'scope', 'requested_token_type']);

/** The act claim of tokens minted by an exchange, per request (read by extraTokenClaims in provider.ts). */
const acting = new WeakMap<object, Record<string, unknown>>();
export const actClaimOf = (ctx: object | undefined): Record<string, unknown> | undefined => (ctx ? acting.get(ctx) : undefined);
/**
 * The tenant of the exchanged subject token, per request: the new token is for the same tenant
 * (a member's other tenant stays that tenant; oidc/account.ts reads the user for it).
 */
const exchangedTenants = new WeakMap<object, string>();
export const exchangedTenantOf = (ctx: object | undefined): string | undefined => (ctx ? exchangedTenants.get(ctx) : undefined);

const publicJwks = (jwks: { keys: JWK[] }) => ({
  keys: jwks.keys.map(({ kty, crv, x, y, n, e, kid, alg, use }) => ({ kty, crv, x, y, n, e, kid, alg, use }) as JWK),
});

export function registerTokenExchange(provider: Provider, deps: TokenExchangeDeps): void {
  const keys = createLocalJWKSet(publicJwks(deps.jwks));
  provider.registerGrantType(TOKEN_EXCHANGE_GRANT, async (ctx) => {
    const client = ctx.oidc.client!;
    const parsed = tokenExchangePolicySchema.safeParse((client as unknown as Record<string, unknown>).token_exchange);
    if (!parsed.success) throw new errors.UnauthorizedClient('token exchange is not enabled for this client');
    const policy = parsed.data;
    const p = ctx.oidc.params as Record<string, string | undefined>;
    if (!p.subject_token || !p.subject_token_type) throw new errors.InvalidRequest('subject_token and subject_token_type are required');
    if (p.subject_token_type !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest('subject_token_type must be urn:ietf:params:oauth:token-type:access_token');
    if (p.actor_token) throw new errors.InvalidRequest('actor_token is not supported: the authenticated client is the actor');
    if (p.requested_token_type && p.requested_token_type !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest('requested_token_type must be urn:ietf:params:oauth:token-type:access_token');

    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(p.subject_token, keys, { issuer: deps.issuer, typ: 'at+jwt', clockTolerance: 5 }));
    } catch {
      throw new errors.InvalidGrant('subject_token is not a valid access token of this issuer');
    }
    const subjectClient = typeof claims.client_id === 'string' ? claims.client_id : '';
    if (!policy.subject_clients.includes(subjectClient)) throw new errors.InvalidGrant('subject_token was issued to a client this client may not exchange tokens of');
    const sub = claims.sub;
    // A user's token: a machine's own token (sub = its client id) is not exchanged for it.
    if (typeof sub !== 'string' || sub === subjectClient) throw new errors.InvalidGrant('subject_token must be a user\'s access token');

    const audience = p.resource ?? p.audience;
    if (!audience) throw new errors.InvalidTarget('resource (or audience) is required');
    if (!policy.audiences.includes(audience)) throw new errors.InvalidTarget('this client may not obtain tokens for this audience');
    const resourceServer = new provider.ResourceServer(audience, await deps.resourceServer(audience, ctx as unknown as KoaContextWithOIDC));
    const offered = new Set((resourceServer.scope ?? '').split(' ').filter((s) => policy.scopes.includes(s)));
    const requested = p.scope ? p.scope.split(' ') : [...offered];
    const refused = requested.filter((s) => !offered.has(s));
    if (refused.length) throw new errors.InvalidScope('requested scope may not be exchanged for', refused.join(' '));

    // RFC 8693 §4.1: the current actor outermost, earlier ones nested.
    const act: Record<string, unknown> = { sub: client.clientId, ...(claims.act && typeof claims.act === 'object' ? { act: claims.act } : {}) };
    acting.set(ctx, act);
    if (typeof claims.tenant === 'string') exchangedTenants.set(ctx, claims.tenant);
    // A grant records what was exchanged, as for every user token (the user sees the client among their applications).
    const grant = new provider.Grant({ accountId: sub, clientId: client.clientId });
    if (requested.length) grant.addResourceScope(audience, requested.join(' '));
    const grantId = await grant.save();
    const at = new provider.AccessToken({ accountId: sub, client, grantId, gty: TOKEN_EXCHANGE_GRANT });
    at.resourceServer = resourceServer;
    at.scope = requested.join(' ') || undefined;
    ctx.oidc.entity('AccessToken', at);
    const accessToken = await at.save();
    await deps.onExchange?.({
      tenantId: typeof claims.tenant === 'string' ? claims.tenant : null, subject: sub, client: client.clientId, subjectClient,
      audience, scope: at.scope ?? '', ip: ctx.ip,
    });
    ctx.body = {
      access_token: accessToken, issued_token_type: ACCESS_TOKEN_TYPE, token_type: at.tokenType, expires_in: at.expiration,
      ...(at.scope ? { scope: at.scope } : {}),
    };
  }, [...PARAMETERS]);
}
