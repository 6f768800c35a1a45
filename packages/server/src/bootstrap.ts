import { randomBytes } from 'node:crypto';
import type { IdentityService } from './identity/service.js';
import type { RoleRepository, TenantRepository, UserRepository } from './identity/repository.js';
import type { ApiRepository, ClientRepository } from './oidc/repository.js';
import { ADMIN_SCOPES, adminAudience } from './admin/access.js';
import { PROVISIONING_SCOPES } from './provisioning/tokens.js';
import { provisioningAudience } from './provisioning/access.js';
import { ACCOUNT_CLIENT_ID } from './account/session.js';
import { consoleClient } from './console/client.js';
import type { InstanceRepository } from './instance/repository.js';

export interface BootstrapDeps {
  tenants: TenantRepository;
  roles: RoleRepository;
  users: UserRepository;
  clients: ClientRepository;
  identity: IdentityService;
  /** Declares the admin API (resource `${issuer}/api/admin`); optional for callers that only need users. */
  apis?: ApiRepository;
  /** Where `serve` records the issuer it runs as (read by the CLI). */
  instance?: InstanceRepository;
}

export interface BootstrapOptions {
  /**
   * True for `serve` (and servers in tests and benchmarks): register what
   * follows the issuer (the built-in clients' URIs, the admin API's
   * identifier) and record the issuer. The CLI passes false: it runs without
   * the server's PORT / TESSERA_ISSUER more often than not, and rewriting the
   * built-in clients' redirect URIs would break sign-in on the running server.
   */
  serving: boolean;
}

export interface BootstrapResult {
  /** Set only on the start that created the first administrator. */
  admin?: { username: string; password: string; generated: boolean };
}

/**
 * What every store needs before anything else: the default tenant, the admin
 * role, on an empty store the first administrator, and, when serving, the
 * built-in account and console clients (their URIs follow the issuer).
 */
export async function bootstrap(deps: BootstrapDeps, issuer: string, adminPassword: string | undefined, opts: BootstrapOptions): Promise<BootstrapResult> {
  if (!(await deps.tenants.findById('default'))) await deps.tenants.upsert('default', 'Default');
  const roles = await deps.roles.list('default');
  if (!roles.some((r) => r.name === 'admin')) await deps.roles.upsert('default', 'admin', 'Tessera administrators');
  if (opts.serving) await registerServedIssuer(deps, issuer);

  if ((await deps.users.count()) > 0) return {};
  const password = adminPassword ?? randomBytes(15).toString('base64url');
  await deps.identity.createUser({ tenantId: 'default', username: 'admin', password, roles: ['admin'], emailVerified: false });
  return { admin: { username: 'admin', password, generated: !adminPassword } };
}

/** `serve` only: what depends on the issuer, and the issuer itself for the CLI (instance/repository.ts). */
async function registerServedIssuer(deps: BootstrapDeps, issuer: string): Promise<void> {
  await deps.instance?.recordServedIssuer(issuer);

  // The admin API is a resource like any other: tokens for it are JWTs with aud `${issuer}/api/admin`
  // and the admin scopes (src/admin/access.ts checks who may use them).
  await deps.apis?.upsert({
    identifier: adminAudience(issuer), name: 'Tessera admin API', scopes: [...ADMIN_SCOPES], signingAlg: 'ES256', accessTokenTtl: 600,
  });
  // So are the provisioning APIs (Okta-compatible Users API, SCIM) for client-credentials callers (provisioning/access.ts).
  await deps.apis?.upsert({
    identifier: provisioningAudience(issuer), name: 'Tessera provisioning APIs', scopes: [...PROVISIONING_SCOPES], signingAlg: 'ES256', accessTokenTtl: 600,
  });

  await deps.clients.upsert({
    clientId: ACCOUNT_CLIENT_ID,
    tenantId: 'default',
    firstParty: true,
    secretHash: null,
    metadata: {
      client_name: 'Tessera account',
      redirect_uris: [`${issuer}/account/callback`],
      post_logout_redirect_uris: [`${issuer}/`],
      grant_types: ['authorization_code'],
      scope: 'openid profile email phone',
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    },
  });

  // The admin console's client (console/client.ts): public, first-party, its URIs follow the issuer.
  await deps.clients.upsert(consoleClient(issuer));
}
