import { createLocalJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { JWK } from 'jose';
import type { AdminPrincipal } from '../admin/access.js';
import type { ClientRepository } from '../oidc/repository.js';
import { PROVISIONING_SCOPES } from './tokens.js';
import type { ApiTokenStore, ProvisioningScope } from './tokens.js';

/** Client-credentials tokens for the provisioning APIs carry `aud` = `${issuer}/api/provisioning`. */
export const provisioningAudience = (issuer: string): string => `${issuer}/api/provisioning`;

/** Which API a request came through: it names the actor in the audit log (`via`) and the error shape. */
export type ProvisioningApi = 'okta_api' | 'scim';

/**
 * The caller of a provisioning API: an admin principal of exactly one tenant
 * (never a platform-wide one: tenant A's credential never reaches tenant
 * B's users), with the provisioning scopes it holds.
 */
export interface ProvisioningPrincipal extends AdminPrincipal {
  grants: ReadonlySet<ProvisioningScope>;
  via: ProvisioningApi;
}

/** Why a call is refused; each API renders it in its own error shape. */
export class ProvisioningDenied extends Error {
  constructor(readonly status: 401 | 403, readonly reason: 'missing' | 'invalid' | 'scope' | 'tenant', message: string) {
    super(message);
    this.name = 'ProvisioningDenied';
  }
}

export interface ProvisioningAccessDeps {
  issuer: string;
  tokens: ApiTokenStore;
  clients: Pick<ClientRepository, 'find'>;
  publicJwks(): Promise<{ keys: JWK[] }>;
}

/**
 * Authenticates provisioning calls (docs/provisioning.md#api-tokens):
 * `Authorization: SSWS <api token>` (Okta's scheme), `Bearer <api token>`,
 * or `Bearer <JWT>` from a client-credentials grant for the provisioning
 * audience by a client whose `provisioning_scopes` include the scope.
 */
export class ProvisioningAccess {
  private jwks?: { set: ReturnType<typeof createLocalJWKSet>; at: number };

  constructor(private readonly deps: ProvisioningAccessDeps) {}

  /**
   * @param tenant the tenant the URL names (SCIM), if any: the credential must be that tenant's.
   * @throws ProvisioningDenied
   */
  async authenticate(authorization: string | undefined, scope: ProvisioningScope, via: ProvisioningApi, tenant?: string): Promise<ProvisioningPrincipal> {
    const m = /^(SSWS|Bearer) +(\S+)$/i.exec(authorization ?? '');
    if (!m) throw new ProvisioningDenied(401, 'missing', 'An API token is required (Authorization: SSWS <token> or Bearer <token>).');
    const [, scheme, credential] = m as unknown as [string, string, string];
    const principal = credential.startsWith('tsr_')
      ? await this.fromApiToken(credential, via)
      : scheme.toLowerCase() === 'bearer' ? await this.fromAccessToken(credential, via) : undefined;
    if (!principal) throw new ProvisioningDenied(401, 'invalid', 'The token is not valid (unknown, expired or revoked).');
    if (tenant !== undefined && principal.tenantId !== tenant) {
      // Another tenant's credential: the same answer as a bad token, so tenants cannot be probed.
      throw new ProvisioningDenied(401, 'tenant', 'The token is not valid for this tenant.');
    }
    // users.manage includes reading: a sync job that writes must also read what it writes.
    const held = principal.grants.has(scope) || (scope === 'users.read' && principal.grants.has('users.manage'));
    if (!held) throw new ProvisioningDenied(403, 'scope', `This call needs the ${scope} scope.`);
    return principal;
  }

  private async fromApiToken(value: string, via: ProvisioningApi): Promise<ProvisioningPrincipal | undefined> {
    const token = await this.deps.tokens.verify(value);
    if (!token) return undefined;
    return principalOf(`api_token:${token.id}`, token.id, token.tenantId, new Set(token.scopes), via);
  }

  private async fromAccessToken(jwt: string, via: ProvisioningApi): Promise<ProvisioningPrincipal | undefined> {
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(jwt, (h, i) => this.key(h, i), {
        issuer: this.deps.issuer, audience: provisioningAudience(this.deps.issuer), typ: 'at+jwt',
        algorithms: ['ES256', 'RS256'], requiredClaims: ['sub', 'client_id', 'exp'], clockTolerance: 5,
      }));
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) return undefined;
      throw err;
    }
    // Only the client's own (client_credentials) tokens: a person's token is not a provisioning credential.
    if (typeof claims.client_id !== 'string' || claims.sub !== claims.client_id) return undefined;
    const client = await this.deps.clients.find(claims.client_id);
    if (!client) return undefined;
    const allowed = new Set(Array.isArray(client.metadata.provisioning_scopes) ? client.metadata.provisioning_scopes as string[] : []);
    const inToken = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
    const grants = new Set(inToken.filter((s): s is ProvisioningScope => allowed.has(s) && (PROVISIONING_SCOPES as readonly string[]).includes(s)));
    return principalOf(claims.client_id, claims.client_id, client.tenantId, grants, via);
  }

  private async key(...args: Parameters<ReturnType<typeof createLocalJWKSet>>) {
    const now = Date.now();
    if (!this.jwks || now - this.jwks.at > 30_000) this.jwks = { set: createLocalJWKSet(await this.deps.publicJwks()), at: now };
    try {
      return await this.jwks.set(...args);
    } catch (err) {
      // A key rotated in since the set was read: read it again, at most once a second.
      if (!(err instanceof joseErrors.JWKSNoMatchingKey) || now - this.jwks.at < 1000) throw err;
      this.jwks = { set: createLocalJWKSet(await this.deps.publicJwks()), at: now };
      return this.jwks.set(...args);
    }
  }
}

function principalOf(id: string, clientId: string, tenantId: string, grants: Set<ProvisioningScope>, via: ProvisioningApi): ProvisioningPrincipal {
  return {
    kind: 'client', id, clientId, tenantId, platform: false,
    // The user administration services check identity.admin; the provisioning scopes are checked above.
    scopes: new Set(['identity.admin']), acr: null, authTime: null, grants, via,
  };
}
