import { createLocalJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { JWK, JWTPayload } from 'jose';
import type { UserRepository } from '../identity/repository.js';
import type { ClientRepository } from '../oidc/repository.js';
import { isUsable } from '../identity/model.js';
import { ACR_MFA, acrSatisfies } from '../oidc/acr.js';
import { isStorableText } from '../storage/text.js';

/** The admin APIs' resource identifier (RFC 8707) is `${issuer}${ADMIN_API_SUFFIX}`: the `aud` of their tokens. */
export const ADMIN_API_SUFFIX = '/api/admin';
export const adminAudience = (issuer: string): string => `${issuer}${ADMIN_API_SUFFIX}`;

/** The two policies: identity (users, tenants, roles, sessions, audit) and authorization server (clients, APIs, keys). */
export const ADMIN_SCOPES = ['identity.admin', 'auth.admin'] as const;
export type AdminScope = (typeof ADMIN_SCOPES)[number];

/** The tenant whose administrators administer every tenant (docs/admin.md#who-may-call). */
export const PLATFORM_TENANT = 'default';
export const ADMIN_ROLE = 'admin';

/** Who is calling, as the admin API sees it. */
export interface AdminPrincipal {
  kind: 'user' | 'client';
  /** The audit log's actor: the user's id, or the client_id. */
  id: string;
  clientId: string;
  /** The tenant the principal administers. */
  tenantId: string;
  /** Administers every tenant (an administrator of the `default` tenant). */
  platform: boolean;
  scopes: ReadonlySet<string>;
  acr: string | null;
  /** Epoch seconds of the user's sign-in behind the token. */
  authTime: number | null;
  /**
   * A machine client's `attribute_source` (docs/users.md#source-ownership): the
   * client writes, besides what any administrator may, the attributes that source owns.
   */
  attributeSource?: string;
}

/**
 * A refused admin request, with what RFC 6750 §3 / RFC 9470 §3 want in
 * `WWW-Authenticate`. The HTTP layer renders it; nothing here knows Fastify.
 */
export class AdminAccessError extends Error {
  constructor(
    readonly code: 'invalid_token' | 'insufficient_scope' | 'insufficient_user_authentication' | 'access_denied',
    readonly status: 401 | 403,
    readonly description: string,
    readonly challenge?: Record<string, string | number>,
    readonly missingToken = false,
  ) {
    super(description);
    this.name = 'AdminAccessError';
  }

  /** The `WWW-Authenticate` value, or undefined for a plain 403 (the token is fine, the caller is not allowed). */
  wwwAuthenticate(): string | undefined {
    if (this.code === 'access_denied') return undefined;
    // RFC 6750 §3.1: a request without any token gets the challenge without an error code.
    if (this.missingToken) return 'Bearer realm="tessera-admin"';
    const params: Record<string, string | number> = { error: this.code, error_description: this.description, ...this.challenge };
    const quoted = Object.entries(params).map(([k, v]) => (typeof v === 'number' ? `${k}=${v}` : `${k}="${v.replace(/["\\]/g, '')}"`));
    return `Bearer ${quoted.join(', ')}`;
  }
}

export interface AdminAccessDeps {
  issuer: string;
  /** The published public signing keys (KeyService.publicJwks): tokens are verified in-process, no HTTP round trip. */
  publicJwks(): Promise<{ keys: JWK[] }>;
  users: Pick<UserRepository, 'findById'>;
  clients: Pick<ClientRepository, 'find'>;
  /** A multi-factor sign-in older than this (seconds) does not count for sensitive operations. */
  stepUpMaxAge: number;
  now?: () => number;
}

/** Key sets are re-read at most this often, and at most once a second for a token naming an unknown kid (after a rotation). */
const JWKS_TTL_MS = 30_000;
const JWKS_MISS_INTERVAL_MS = 1_000;

/**
 * Verifies admin API bearer tokens: JWT access tokens (RFC 9068) that
 * Tessera issued for the admin API audience, signed by a published key. Then
 * decides who the caller is: a user holding the `admin` role in their
 * tenant, signed in through a first-party client, or a client whose
 * `admin_scopes` grant the scope (any client may *request* a declared
 * scope, so the grant is checked here, per request).
 */
export class AdminAccess {
  private jwks?: { set: ReturnType<typeof createLocalJWKSet>; loadedAt: number };

  constructor(private readonly deps: AdminAccessDeps) {}

  get stepUpMaxAge(): number {
    return this.deps.stepUpMaxAge;
  }

  /**
   * @throws AdminAccessError: 401 invalid_token (missing, malformed, expired,
   * wrong audience, unknown or unusable account), 403 insufficient_scope, 403
   * access_denied (not an administrator, client not granted the scope).
   */
  async authenticate(authorization: string | undefined, scope: AdminScope): Promise<AdminPrincipal> {
    const token = bearerToken(authorization);
    const claims = await this.verify(token);
    const scopes = new Set(typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : []);
    if (!scopes.has(scope)) {
      throw new AdminAccessError('insufficient_scope', 403, `This endpoint needs the ${scope} scope.`, { scope });
    }
    const sub = claims.sub!;
    const clientId = claims.client_id as string;
    const acr = typeof claims.acr === 'string' ? claims.acr : null;
    const authTime = typeof claims.auth_time === 'number' ? claims.auth_time : null;

    // RFC 9068 §2.2: a client_credentials token's subject is the client itself.
    if (sub === clientId) {
      const client = await this.deps.clients.find(clientId);
      if (!client) throw new AdminAccessError('invalid_token', 401, 'The client no longer exists.');
      const granted = Array.isArray(client.metadata.admin_scopes) ? client.metadata.admin_scopes : [];
      if (!granted.includes(scope)) throw new AdminAccessError('access_denied', 403, `The client is not granted ${scope} (admin_scopes).`);
      const attributeSource = typeof client.metadata.attribute_source === 'string' ? client.metadata.attribute_source : undefined;
      return {
        kind: 'client', id: clientId, clientId, tenantId: client.tenantId, platform: client.tenantId === PLATFORM_TENANT, scopes, acr, authTime,
        ...(attributeSource ? { attributeSource } : {}),
      };
    }
    const user = isStorableText(sub) ? await this.deps.users.findById(sub) : undefined;
    // Disabled or locked since the token was issued: refused at once, not when the token expires.
    if (!user || !isUsable(user)) throw new AdminAccessError('invalid_token', 401, 'The account behind the token can no longer be used.');
    if (!user.roles.includes(ADMIN_ROLE)) throw new AdminAccessError('access_denied', 403, 'Only administrators may use the admin API.');
    // A person's admin token must come from a first-party client (the console, your own tools): a third-party
    // application an administrator once consented to must not be able to act as that administrator.
    if (!(await this.deps.clients.find(clientId))?.firstParty) {
      throw new AdminAccessError('access_denied', 403, 'Admin API tokens for people must be issued to a first-party client.');
    }
    return { kind: 'user', id: user.id, clientId, tenantId: user.tenantId, platform: user.tenantId === PLATFORM_TENANT, scopes, acr, authTime };
  }

  /**
   * Sensitive operations (docs/admin.md#step-up) need a user who signed in
   * with a second factor recently: `acr` at the MFA level and `auth_time`
   * within the window. Clients act on credentials the operator granted them
   * explicitly (`admin_scopes`); no user is there to step up.
   * @throws AdminAccessError 401 insufficient_user_authentication (RFC 9470 §3).
   */
  requireStepUp(principal: AdminPrincipal): void {
    if (principal.kind === 'client') return;
    const now = Math.floor((this.deps.now?.() ?? Date.now()) / 1000);
    const recent = principal.authTime !== null && now - principal.authTime <= this.deps.stepUpMaxAge;
    if (acrSatisfies(principal.acr, ACR_MFA) && recent) return;
    throw new AdminAccessError('insufficient_user_authentication', 401,
      'This operation needs a recent multi-factor sign-in.', { acr_values: ACR_MFA, max_age: this.deps.stepUpMaxAge });
  }

  private async verify(token: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, (header, input) => this.keyFor(header, input), {
        issuer: this.deps.issuer,
        audience: adminAudience(this.deps.issuer),
        typ: 'at+jwt',
        algorithms: ['ES256', 'RS256'],
        requiredClaims: ['sub', 'client_id', 'exp', 'iat'],
        clockTolerance: 5,
        currentDate: this.deps.now ? new Date(this.deps.now()) : undefined,
      });
      if (typeof payload.client_id !== 'string') throw new joseErrors.JWTClaimValidationFailed('client_id must be a string', payload, 'client_id');
      return payload;
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) throw new AdminAccessError('invalid_token', 401, 'The access token is invalid or expired.');
      throw err;
    }
  }

  /** The current key set; reloaded on expiry, or early (rate-limited) when a token names a kid it lacks, as after a rotation. */
  private async keyFor(...args: Parameters<ReturnType<typeof createLocalJWKSet>>) {
    const now = Date.now();
    if (!this.jwks || now - this.jwks.loadedAt > JWKS_TTL_MS) await this.loadJwks(now);
    try {
      return await this.jwks!.set(...args);
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey) || now - this.jwks!.loadedAt < JWKS_MISS_INTERVAL_MS) throw err;
      await this.loadJwks(now);
      return this.jwks!.set(...args);
    }
  }

  private async loadJwks(now: number): Promise<void> {
    this.jwks = { set: createLocalJWKSet(await this.deps.publicJwks()), loadedAt: now };
  }
}

/** RFC 6750 §2.1: `Authorization: Bearer <token>`; anything else is a missing token. */
function bearerToken(authorization: string | undefined): string {
  const m = /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i.exec(authorization ?? '');
  if (!m) throw new AdminAccessError('invalid_token', 401, 'A bearer access token for the admin API is required.', undefined, !authorization);
  return m[1]!;
}
