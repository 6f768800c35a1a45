import { ipThrottled } from '../http/engine.js';
import { errors } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { ResourceServer, ResourceServerInstance, TokenEndpointGrantContext } from 'oidc-provider';
import type { IdentityService } from '../identity/service.js';
import type { User } from '../identity/model.js';
import { actingTenant } from '../identity/model.js';
import type { FailureThrottle } from '../http/throttle.js';
import type { Metrics } from '../http/metrics.js';
import type { TenantRepository } from '../identity/repository.js';
import { DEFAULT_POLICY } from '../identity/policy.js';
import { loginBody } from '../interaction/schemas.js';
import type { MfaFactors } from '../mfa/factors.js';
import { clientMfaMode, decideMfa } from '../interaction/policy.js';
import type { ClientRepository } from './repository.js';
import { ACR_PASSWORD } from './acr.js';
import { assigned, restrictsUsers } from './app-assignment.js';

/**
 * The legacy resource-owner password credentials grant (RFC 6749 §4.3),
 * for B2B integrations that cannot run a browser flow. Off by default: a
 * client gets it only by listing `password` in its `grant_types`, and only a
 * confidential client may (config/schema.ts). OAuth 2.1 and the OAuth
 * security BCP (RFC 9700 §2.4) drop this grant: the client sees the user's
 * password, and no second factor can be asked for. See docs/protocol.md.
 */
export const PASSWORD_GRANT = 'password';

/** The grant's parameters, besides `grant_type` and client authentication. No duplicates (one `resource`). */
const PARAMETERS = ['username', 'password', 'scope', 'resource'];

/**
 * The entity under which the handler leaves what the sign-in proved
 * (`acr`, `amr`) for `extraTokenClaims` (provider.ts), as an authorization
 * code or refresh token carries it for the other grants.
 */
export const PASSWORD_LOGIN_ENTITY = 'TesseraPasswordLogin';

export interface PasswordLogin {
  acr: string;
  amr: string[];
}

export interface PasswordGrantDeps {
  identity: Pick<IdentityService, 'verifyLogin' | 'findByLogin' | 'signInCompleted'>;
  /** The per-IP failed-credential throttle the sign-in page uses. */
  throttle: Pick<FailureThrottle, 'recordFailure'>;
  metrics?: Pick<Metrics, 'logins'>;
  /**
   * The engine's resource server description of a declared API, exactly as
   * `resourceIndicators.getResourceServerInfo` gives it: narrowed to the
   * client's grant (client-grants.ts).
   * @throws InvalidTarget for an unknown resource; InvalidScope for a requested API scope the client was not granted
   */
  resourceServer(indicator: string, ctx: Ctx): Promise<ResourceServer>;
  /**
   * The client's `scope` rule for the request's OpenID scopes (client-grants.ts).
   * @throws InvalidScope
   */
  checkScopes(ctx: Ctx): Promise<void>;
  /**
   * Whether this user must complete multi-factor authentication to sign in
   * through this client. The password grant cannot ask for a second factor,
   * so such users are refused. Absent: no MFA policy applies.
   */
  mfaRequired?(user: User, clientId: string): Promise<boolean>;
}

type Params = { username?: unknown; password?: unknown };
type Ctx = TokenEndpointGrantContext<Params>;

/** Every credential failure gets this one answer: it never says whether the account exists, is locked or is disabled. */
const INVALID_CREDENTIALS = 'the username or password is incorrect';

function invalidGrant(description: string, detail: string): errors.InvalidGrant {
  const err = new errors.InvalidGrant(detail);
  err.error_description = description;
  return err;
}

/**
 * The sign-in page's MFA decision (interaction/policy.ts) applied to the password
 * grant: whenever the page would ask this user for a second factor (MFA
 * required by the client, the tenant or a role, or optional and the user has
 * enrolled a factor), the grant refuses, since it cannot ask. Otherwise a
 * password alone would get around a factor the user or the policy relies on.
 */
export function mfaDueForPasswordGrant(deps: {
  clients: Pick<ClientRepository, 'find'>;
  tenants: Pick<TenantRepository, 'findById'>;
  /** The factor registry (looked up per request: the composition root creates it after the engine). */
  factors: () => Pick<MfaFactors, 'hasSecondFactor'>;
}): NonNullable<PasswordGrantDeps['mfaRequired']> {
  return async (user, clientId) => {
    const client = await deps.clients.find(clientId);
    // The client's tenant's policy: a member signing in to another tenant gets its rules (and roles).
    const policy = (await deps.tenants.findById(actingTenant(user)))?.policy ?? DEFAULT_POLICY;
    const { action } = decideMfa({
      tenant: policy.mfa,
      client: clientMfaMode(client?.metadata),
      roles: user.roles,
      acrRequested: false,
      hasSecondFactor: await deps.factors().hasSecondFactor(user.id),
    });
    return action !== 'skip';
  };
}

/** Registers the grant with the engine (it then appears in `grant_types_supported`). */
export function registerPasswordGrant(provider: Provider, deps: PasswordGrantDeps): void {
  provider.registerGrantType<Params>(PASSWORD_GRANT, (ctx) => passwordGrant(provider, deps, ctx), PARAMETERS);
}

/**
 * The grant as named steps. Before it runs, the engine has authenticated
 * the client, checked that `password` is among its grant types (otherwise
 * `invalid_request`, as for any grant) and refused duplicate parameters; the
 * client's IP allowlist has been applied (ip-allowlist.ts); from a throttled
 * IP the password is not checked (http/engine.ts answers 429).
 *
 * confidential client → parameters → scope → resource → assigned user → verify the user
 * (the sign-in page's pipeline: tenant, lockout, events) → MFA policy → tokens
 */
async function passwordGrant(provider: Provider, deps: PasswordGrantDeps, ctx: Ctx): Promise<void> {
  const { client, params } = ctx.oidc;

  // 1. A public client cannot keep anything secret, least of all a user's password.
  if (client.clientAuthMethod === 'none') throw new errors.UnauthorizedClient('the password grant is for confidential clients only');

  // 2. RFC 6749 §4.3.2: username and password are required; the sign-in form's limits apply.
  for (const name of ['username', 'password'] as const) {
    if (typeof params[name] !== 'string' || params[name] === '') throw new errors.InvalidRequest(`missing required parameter '${name}'`);
  }
  const form = loginBody.safeParse({ username: params.username, password: params.password });
  if (!form.success) throw new errors.InvalidRequest('username or password is too long');

  // 3. Scope: OpenID scopes must pass the client's `scope` list; API scopes are checked against its grant below.
  const oidcScopes = [...ctx.oidc.requestParamOIDCScopes];
  await deps.checkScopes(ctx);

  // 4. Resource (RFC 8707): a declared API gets a JWT (its scopes narrowed to the client's grant);
  //    without one the token is opaque (UserInfo only).
  const resourceServer = typeof params.resource === 'string' ? await resolveResource(provider, deps, ctx, params.resource) : undefined;
  const requested = [...ctx.oidc.requestParamScopes].filter(Boolean);
  const apiScopes = resourceServer ? requested.filter((s) => resourceServer.scopes.has(s)) : [];

  // 5. The user, in the client's tenant, through the same pipeline as the sign-in page:
  //    one argon2 verification on every path, lockout, login.succeeded / login.failed events.
  const tenant = (client as unknown as { tenant?: unknown }).tenant;
  const tenantId = typeof tenant === 'string' ? tenant : 'default';
  // App assignment (app-assignment.ts), before the password is looked at: a client bound to its users
  // cannot be used to try (or lock out) anyone else's password. The same answer as wrong credentials.
  const metadata = client as unknown as Record<string, unknown>;
  if (restrictsUsers(metadata)) {
    const candidate = await deps.identity.findByLogin(tenantId, form.data.username);
    if (!candidate || !assigned(metadata, candidate)) {
      deps.throttle.recordFailure(ctx.ip);
      throw invalidGrant(INVALID_CREDENTIALS, `password grant refused: ${form.data.username} is not assigned to client ${client.clientId}`);
    }
  }
  // From a throttled address the password is not even looked at (the answer becomes 429: http/engine.ts).
  if (ipThrottled(ctx.req)) throw invalidGrant(INVALID_CREDENTIALS, 'password grant refused: the address is throttled');
  const outcome = await deps.identity.verifyLogin(tenantId, form.data.username, form.data.password, {
    ip: ctx.ip, userAgent: ctx.get('user-agent') || null,
  });
  if (!outcome.ok && outcome.reason === 'pending') {
    // Only reachable with the right password, so saying why leaks nothing (as on the sign-in page).
    deps.metrics?.logins.inc({ outcome: 'pending' });
    throw invalidGrant('the account is not confirmed yet', 'account pending confirmation');
  }
  if (!outcome.ok) {
    deps.throttle.recordFailure(ctx.ip);
    deps.metrics?.logins.inc({ outcome: outcome.reason });
    throw invalidGrant(INVALID_CREDENTIALS, 'invalid resource owner credentials');
  }
  const { user } = outcome;

  // 6. No second factor can be asked for here; whoever needs one must use a browser flow.
  if (await deps.mfaRequired?.(user, client.clientId)) {
    deps.metrics?.logins.inc({ outcome: 'mfa_required' });
    throw invalidGrant('multi-factor authentication required', 'password grant refused: the user must use MFA');
  }
  deps.metrics?.logins.inc({ outcome: 'success' });
  // The sign-in is complete (no second factor here): the address is a known source of the account from now on.
  await deps.identity.signInCompleted(user.id, { ip: ctx.ip });

  // 7. Tokens.
  await issueTokens(provider, ctx, user, { oidcScopes, apiScopes, resourceServer });
}

async function resolveResource(provider: Provider, deps: PasswordGrantDeps, ctx: Ctx, indicator: string): Promise<ResourceServerInstance> {
  // The engine's own rules for a resource indicator (RFC 8707 §2).
  const url = URL.canParse(indicator) ? new URL(indicator) : undefined;
  if (!url) throw new errors.InvalidTarget('resource indicator must be an absolute URI');
  if (url.href.includes('#')) throw new errors.InvalidTarget('resource indicator must not contain a fragment component');
  return new provider.ResourceServer(indicator, await deps.resourceServer(indicator, ctx));
}

interface Issue {
  oidcScopes: string[];
  apiScopes: string[];
  resourceServer: ResourceServerInstance | undefined;
}

/**
 * Mints the access token the way the engine's client_credentials and
 * refresh_token grants do: the engine's `AccessToken` model, with the
 * resource server (a JWT for the API: `aud`, its signing algorithm and TTL)
 * and the scopes the API declares. `extraTokenClaims` adds `tenant`,
 * `roles`, `acr` and `amr`. A refresh token only when the client also has
 * the `refresh_token` grant and `offline_access` was requested; it is
 * redeemed by the engine's refresh_token grant like any other, and stops
 * working when the user may no longer sign in. No ID token: this is not an
 * OpenID Connect sign-in.
 */
async function issueTokens(provider: Provider, ctx: Ctx, user: User, { oidcScopes, apiScopes, resourceServer }: Issue): Promise<void> {
  const { client } = ctx.oidc;
  const login: PasswordLogin = { acr: ACR_PASSWORD, amr: ['pwd'] };
  ctx.oidc.entity(PASSWORD_LOGIN_ENTITY, login);

  const withRefresh = oidcScopes.includes('offline_access') && client.grantTypeAllowed('refresh_token');
  // As for every user token the engine issues, a grant records what was granted: UserInfo and
  // refresh read it back, and the user sees (and can revoke) the client among their applications.
  const grant = new provider.Grant({ accountId: user.id, clientId: client.clientId });
  if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
  if (resourceServer && apiScopes.length) grant.addResourceScope(resourceServer.identifier(), apiScopes.join(' '));
  const grantId = await grant.save();
  ctx.oidc.entity('Grant', grant);

  const at = new provider.AccessToken({ accountId: user.id, client, grantId, gty: PASSWORD_GRANT });
  if (resourceServer) {
    at.resourceServer = resourceServer;
    at.scope = apiScopes.join(' ') || undefined;
  } else {
    at.scope = oidcScopes.join(' ') || undefined;
  }
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();

  let refreshToken: string | undefined;
  if (withRefresh) {
    const rt = new provider.RefreshToken({
      accountId: user.id,
      acr: login.acr,
      amr: login.amr,
      authTime: Math.floor(Date.now() / 1000),
      client,
      grantId,
      gty: PASSWORD_GRANT,
      resource: resourceServer?.identifier(),
      rotations: 0,
      scope: [...oidcScopes, ...apiScopes].join(' '),
    });
    ctx.oidc.entity('RefreshToken', rt);
    refreshToken = await rt.save();
  }

  ctx.body = Object.fromEntries(Object.entries({
    access_token: accessToken,
    expires_in: at.expiration,
    refresh_token: refreshToken,
    scope: at.scope || undefined,
    token_type: at.tokenType,
  }).filter(([, v]) => v !== undefined));
}
