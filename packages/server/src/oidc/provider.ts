import { createHash } from 'node:crypto';
import { originOf, pageCsp } from '../http/security.js';
import Provider, { errors } from 'oidc-provider';
import type { Adapter, Configuration, KoaContextWithOIDC, ResourceServer } from 'oidc-provider';
import type { JWK } from 'jose';
import type { UserRepository } from '../identity/repository.js';
import { actingTenant } from '../identity/model.js';
import type { ApiRepository, ClientRepository } from './repository.js';
import type { OidcPayloadStore } from './payload-store.js';
import { createAdapterFactory } from './adapter.js';
import { engineSigningKeys } from './signing-keys.js';
import { CookieKeys } from './cookie-keys.js';
import { createFindAccount, SCOPE_CLAIMS, userInRequest } from './account.js';
import { MFA_STATE_CLAIMS } from './mfa-claims.js';
import type { MfaStateClaims } from './mfa-claims.js';
import { clientAttributeClaims } from './attribute-claims.js';
import type { AttributeClaimSource } from './attribute-claims.js';
import { ACR_VALUES } from './acr.js';
import { CLIENT_MFA_MODES, TESSERA_CLIENT_PROPERTIES, verifyClientSecrets } from './clients.js';
import { introspectionAllowed, revocationAllowed } from './introspection-policy.js';
import { sessionOfOtherTenant, withTenantCheck } from './tenant-policy.js';
import type { TenantCheckDeps } from './tenant-policy.js';
import { isStorableText } from '../storage/text.js';
import { installUnavailableAnswers } from './unavailable.js';
import { installWriteBatch } from './write-batch.js';
import { httpsIssuerCookies, issuerHost } from './https-issuer.js';
import { PASSWORD_LOGIN_ENTITY, registerPasswordGrant } from './password-grant.js';
import type { PasswordGrantDeps, PasswordLogin } from './password-grant.js';
import { ipAllowlistProblem } from './cidr.js';
import { RP_CLIENT_PROPERTIES, autoLogoutPage, defaultResource, pkceRequired, releaseScopeClaimsInIdToken, revocationWithoutBody, rpMetadataProblem, skipsLogoutConfirmation } from './rp-compat.js';
import { stepUpInteractionPolicy } from '../interaction/step-up.js';
import { PROTOCOL_CLIENT_PROPERTIES, protocolMetadataProblem } from './protocol-metadata.js';
import { createRefreshPolicy, refreshTokenTtl } from './refresh-policy.js';
import { releaseStepUpClaims } from './step-up-claims.js';
import { clientGrantHooks } from './client-grants.js';
import { ASSIGNMENT_CLIENT_PROPERTIES, NOT_ASSIGNED_DESCRIPTION, assigned, withAssignmentCheck } from './app-assignment.js';
import { actClaimOf, registerTokenExchange, tokenExchangePolicySchema } from './token-exchange.js';
import type { TokenExchangeDeps } from './token-exchange.js';
import { deviceFlowFeature, restartDeviceFormWithoutSession, throttleDeviceCodeEntry } from './device-flow.js';
import { installRegistration, registeringClientAdapter, registrationFeatures } from './dynamic-registration/engine.js';
import type { Registered, RegistrationSettings } from './dynamic-registration/engine.js';
import type { RegistrationTokenStore } from './dynamic-registration/tokens.js';

/** Every protocol endpoint lives under this prefix; discovery stays at the issuer's `/.well-known/`. */
export const PROTOCOL_PREFIX = '/oidc';

export const ROUTES = {
  authorization: `${PROTOCOL_PREFIX}/auth`,
  token: `${PROTOCOL_PREFIX}/token`,
  userinfo: `${PROTOCOL_PREFIX}/me`,
  jwks: `${PROTOCOL_PREFIX}/jwks`,
  revocation: `${PROTOCOL_PREFIX}/token/revocation`,
  introspection: `${PROTOCOL_PREFIX}/token/introspection`,
  end_session: `${PROTOCOL_PREFIX}/session/end`,
  // Features Tessera leaves off still need distinct paths inside the prefix.
  backchannel_authentication: `${PROTOCOL_PREFIX}/backchannel`,
  // The page people type a device's user code into (RFC 8628 §3.3): short, since they type it on a phone.
  code_verification: '/device',
  device_authorization: `${PROTOCOL_PREFIX}/device/auth`,
  pushed_authorization_request: `${PROTOCOL_PREFIX}/request`,
  registration: `${PROTOCOL_PREFIX}/reg`,
  challenge: `${PROTOCOL_PREFIX}/challenge`,
  credential: `${PROTOCOL_PREFIX}/credential`,
} as const;

/** What the engine knows of the user's language when it renders a page. */
export interface EngineLanguage {
  uiLocales?: string;
  acceptLanguage?: string;
}

/** Pages the engine renders through Tessera's templates. */
export interface EnginePages {
  error(lang: EngineLanguage, status: number, out: Record<string, string>): string;
  logoutConfirm(lang: EngineLanguage, form: string, clientName: string | undefined): string;
  /** Sign-out without the question: the engine's form (logout=yes) and the script that posts it. */
  signingOut(lang: EngineLanguage, form: string, script: string): string;
  loggedOut(lang: EngineLanguage, clientName: string | undefined): string;
  /** The device flow's pages (RFC 8628 §3.3): enter the user code, confirm it, done. */
  deviceInput(lang: EngineLanguage, v: { action: string; xsrf: string; code?: string; error?: 'invalid' | 'aborted' | 'throttled' }): string;
  deviceConfirm(lang: EngineLanguage, v: { action: string; xsrf: string; userCode: string; clientName: string }): string;
  deviceDone(lang: EngineLanguage, clientName: string): string;
}

const languageOf = (ctx: KoaContextWithOIDC): EngineLanguage => ({
  uiLocales: typeof ctx.oidc?.params?.ui_locales === 'string' ? ctx.oidc.params.ui_locales : undefined,
  acceptLanguage: ctx.get('accept-language') || undefined,
});

export interface ProviderDeps {
  issuer: string;
  /** Sessions' sign-in tenants (members' single sign-on within a tenant: tenant-policy.ts). */
  sessionMeta?: TenantCheckDeps['sessionMeta'];
  jwks: { keys: JWK[] };
  cookieKeys: string[];
  /** Proxies in front to believe (0: none; TESSERA_TRUST_PROXY). */
  trustProxy: number;
  store: OidcPayloadStore;
  clients: ClientRepository;
  apis: ApiRepository;
  users: UserRepository;
  pages: EnginePages;
  /** Hostnames exempt from the engine's SSRF guard (private/loopback targets). */
  outboundPrivateHosts: string[];
  /** The `mfa_enrolled` / `mfa_required` claims (mfa-claims.ts). */
  mfaState?: MfaStateClaims;
  /**
   * Custom attributes as per-client claims (docs/users.md#claims). The engine
   * learns the scopes and claim names clients use from `catalog` (it is
   * rebuilt when they change); each client gets only what it lists.
   */
  attributeClaims?: AttributeClaimSource;
  /** Token exchange (RFC 8693) for clients with a `token_exchange` policy: the audit hook (token-exchange.ts). */
  tokenExchange?: Pick<TokenExchangeDeps, 'onExchange'>;
  /** Failed user-code entries per client IP (device flow, RFC 8628 §5.1: the code is short, so guessing must be slow). */
  deviceCodeThrottle?: { isBlocked(key: string): boolean; recordFailure(key: string): void };
  /** Dynamic client registration (docs/b2b.md#dynamic-client-registration); absent or `mode: off`: the endpoint does not exist. */
  registration?: { settings: RegistrationSettings; tokens: RegistrationTokenStore; onRegistered(r: Registered): Promise<void> };
  /** Registers the legacy password grant, for clients that list `password` in their grant types (password-grant.ts). */
  passwordGrant?: Omit<PasswordGrantDeps, 'resourceServer' | 'checkScopes'>;
}

const DEFAULTS = {
  accessTokenTtl: 3600,
  idTokenTtl: 3600,
  refreshTokenTtl: 14 * 24 * 3600,
  clientCredentialsTtl: 600,
  sessionTtl: 14 * 24 * 3600,
};

/**
 * How long a rotated-out key must stay published: the longest lifetime of
 * anything it may have signed (ID tokens, JWT access tokens), plus clock skew.
 */
export async function signingKeyOverlapSeconds(apis: ApiRepository, clients: ClientRepository): Promise<number> {
  const ttls = [DEFAULTS.accessTokenTtl, DEFAULTS.idTokenTtl, DEFAULTS.clientCredentialsTtl];
  for (const api of await apis.list()) ttls.push(api.accessTokenTtl);
  for (const c of await clients.list()) {
    for (const k of ['access_token_ttl', 'id_token_ttl']) if (typeof c.metadata[k] === 'number') ttls.push(c.metadata[k] as number);
  }
  return Math.max(...ttls) + 300;
}

/**
 * Builds the protocol engine with Tessera's policies. Secure defaults:
 * code flow only, PKCE (S256) for every client, exact redirect URI matching,
 * no implicit/hybrid grants, the password grant only for clients that
 * enable it, asymmetric signing only.
 */
export function buildProvider(deps: ProviderDeps): Provider {
  const extraProperties = [...TESSERA_CLIENT_PROPERTIES, ...RP_CLIENT_PROPERTIES, ...PROTOCOL_CLIENT_PROPERTIES, ...ASSIGNMENT_CLIENT_PROPERTIES];
  const clientExtra = (ctx: KoaContextWithOIDC | undefined, name: string): unknown =>
    (ctx?.oidc?.client as unknown as Record<string, unknown> | undefined)?.[name];
  // A declared API as the engine's resource server (RFC 8707); also used by the password grant.
  const resourceServerInfo = async (resourceIndicator: string): Promise<ResourceServer> => {
    const api = isStorableText(resourceIndicator) ? await deps.apis.find(resourceIndicator) : undefined;
    if (!api) throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
    const info = { scope: api.scopes.join(' '), audience: api.identifier, accessTokenTTL: api.accessTokenTtl };
    // Opaque tokens are stored references: the API introspects them (RFC 7662), so revocation bites at once.
    if (api.accessTokenFormat === 'opaque') return { ...info, accessTokenFormat: 'opaque' };
    return { ...info, accessTokenFormat: 'jwt', jwt: { sign: { alg: api.signingAlg as 'ES256' | 'RS256' } } };
  };
  // Client grants (client-grants.ts): a client obtains only the API scopes its `scope` lists.
  const grants = clientGrantHooks(deps.clients);

  const refreshPolicy = createRefreshPolicy(createAdapterFactory(deps.store, deps.clients));
  const configuration: Configuration = {
    adapter: registrationAdapterFactory(deps, extraProperties),
    // EC keys sign on the calling thread (signing-keys.ts); RSA keys stay JWKs.
    jwks: engineSigningKeys(deps.jwks),
    findAccount: createFindAccount(deps.users, deps.mfaState, deps.attributeClaims),
    routes: ROUTES,
    // Standalone claims (null) are released whenever they have a value: acr/amr/auth_time come from the login.
    claims: { acr: null, amr: null, auth_time: null, sid: null, iss: null, ...Object.fromEntries(MFA_STATE_CLAIMS.map((c) => [c, null])), ...Object.fromEntries(Object.entries(SCOPE_CLAIMS).map(([k, v]) => [k, [...v]])),
      // Attribute claims under `openid`, so the engine lets them into ID tokens (conformIdTokenClaims masks those to
      // openid's claims) and UserInfo; whether a client gets one is decided per client and granted scope (attribute-claims.ts).
      openid: [...SCOPE_CLAIMS.openid, ...(deps.attributeClaims?.catalog.claims ?? [])] },
    scopes: [...new Set(['openid', 'offline_access', 'profile', 'email', 'phone', 'roles', ...(deps.attributeClaims?.catalog.scopes ?? [])])],
    acrValues: ACR_VALUES,
    responseTypes: ['code'],
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    // The secret is stored as a digest, so nothing may use it as an HMAC key.
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'ES256'],
      userinfoSigningAlgValues: ['RS256', 'ES256'],
      introspectionSigningAlgValues: ['RS256', 'ES256'],
      authorizationSigningAlgValues: ['RS256', 'ES256'],
      // RFC 9449: the keys clients may prove possession of (openid-client and most libraries use ES256).
      dPoPSigningAlgValues: ['ES256', 'EdDSA', 'PS256', 'RS256'],
      requestObjectSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    },
    // S256 for every client; a confidential client may opt out when it sends a nonce (rp-compat.ts).
    pkce: { required: pkceRequired as never },
    allowOmittingSingleRegisteredRedirectUri: false,
    clockTolerance: 5,
    cookies: {
      // Keygrip's signatures, checked with one HMAC per key (cookie-keys.ts).
      keys: new CookieKeys(deps.cookieKeys) as never,
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    extraClientMetadata: {
      properties: extraProperties,
      validator(_ctx, key, value, metadata) {
        const rpProblem = rpMetadataProblem(key, value, metadata as Record<string, unknown>);
        if (rpProblem) throw new errors.InvalidClientMetadata(rpProblem);
        if (key.endsWith('_ttl') && value !== undefined && !(Number.isInteger(value) && (value as number) > 0)) {
          throw new errors.InvalidClientMetadata(`${key} must be a positive integer`);
        }
        const ipProblem = key === 'ip_allowlist' ? ipAllowlistProblem(value) : undefined;
        if (ipProblem) throw new errors.InvalidClientMetadata(ipProblem);
        if (key === 'mfa' && value !== undefined && !(CLIENT_MFA_MODES as readonly unknown[]).includes(value)) {
          throw new errors.InvalidClientMetadata('mfa must be off, optional or required');
        }
        if (key === 'token_exchange' && value !== undefined && !tokenExchangePolicySchema.safeParse(value).success) {
          throw new errors.InvalidClientMetadata('token_exchange must list subject_clients, audiences and scopes');
        }
        const protocolProblem = protocolMetadataProblem(key, value);
        if (protocolProblem) throw new errors.InvalidClientMetadata(protocolProblem);
      },
    },
    // The default prompts plus step-up: a session weaker than the requested acr signs in again (interaction/step-up.ts).
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}`, policy: withAssignmentCheck(withTenantCheck(stepUpInteractionPolicy(), deps), deps) },
    // The built-in apps name the tenant whose users sign in (interaction/tenant.ts).
    // idp_hint: go straight to one upstream identity provider (docs/federation.md#choosing-a-provider).
    extraParams: ['tenant', 'idp_hint'],
    features: {
      devInteractions: { enabled: false },
      // The engine's extension point for keys it signs with through an object (signing-keys.ts); an
      // oidc-provider whose experiment is at another version refuses to start, so an upgrade is checked.
      externalSigningSupport: { enabled: true, ack: 'experimental-01' },
      // RFC 7591/7592: off unless TESSERA_CLIENT_REGISTRATION says otherwise (dynamic-registration/engine.ts).
      ...registrationFeatures(deps.registration?.settings),
      // Signed UserInfo responses for clients with userinfo_signed_response_alg (oidc/protocol-metadata.ts).
      jwtUserinfo: { enabled: true },
      // OIDC Core §5.5: lets a client ask for individual claims (the account pages ask for `sid`).
      claimsParameter: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: introspectionAllowed as never },
      revocation: { enabled: true, allowedPolicy: revocationAllowed as never },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          // A valid id_token_hint for this session signs out without the question (rp-compat.ts).
          if (skipsLogoutConfirmation(ctx)) return autoLogoutPage(ctx, form, (f, script) => deps.pages.signingOut(languageOf(ctx), f, script));
          ctx.type = 'html';
          // The hosted pages' strict CSP; the answer to the form redirects to the post-logout URI, which form-action must allow.
          const target = originOf(typeof ctx.oidc.params?.post_logout_redirect_uri === 'string' ? ctx.oidc.params.post_logout_redirect_uri : undefined);
          ctx.set('content-security-policy', pageCsp(target ? [target] : []));
          ctx.body = deps.pages.logoutConfirm(languageOf(ctx), form, ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.set('content-security-policy', pageCsp());
          ctx.body = deps.pages.loggedOut(languageOf(ctx), ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId);
        },
      },
      // RFC 9126: authorization requests pushed to /oidc/request first (the request never shows in the browser);
      // per client `require_pushed_authorization_requests`. Redirect URIs must still be registered ones.
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false, allowUnregisteredRedirectUris: false },
      // RFC 8628: devices without a browser (TVs, command-line tools), for clients that list the device_code grant.
      // People enter the user code at /device (device-flow.ts), then sign in through the hosted pages (MFA, consent).
      deviceFlow: deviceFlowFeature(deps.pages, deps.deviceCodeThrottle, languageOf),
      // RFC 9449: sender-constrained tokens for clients that send a DPoP proof (or must: `dpop_bound_access_tokens`).
      // Access tokens carry cnf.jkt; a public client's refresh tokens are bound to the key too. Proofs are single use:
      // their jti is kept in the shared store (dpopReplayCache below), so a replay to another instance fails too.
      dPoP: { enabled: true, allowReplay: false },
      resourceIndicators: {
        enabled: true,
        // Without `resource`, a token is for UserInfo only (opaque).
        // ... or the client's `default_resource` (rp-compat.ts). First, client grants check the request's OpenID scopes.
        defaultResource: async (ctx, client, oneOf) => {
          await grants.checkWithoutResource(ctx, client?.clientId);
          return defaultResource(client as never, oneOf) as never;
        },
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resourceIndicator, client) => grants.restrict(ctx, client?.clientId, await resourceServerInfo(resourceIndicator)),
      },
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (clientExtra(ctx, 'first_party') !== true) return existing;
      // A session of another tenant's user is about to be asked to sign in again (tenant-policy.ts): no grant for it.
      if (await sessionOfOtherTenant(ctx, deps)) return existing;
      // First-party clients skip consent: the grant simply covers what they ask for.
      const grant = existing ?? new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
      grant.addOIDCScope([...ctx.oidc.requestParamOIDCScopes].join(' '));
      const claims = ctx.oidc.requestParamClaims;
      if (claims?.size) grant.addOIDCClaims([...claims]);
      const requested = ctx.oidc.requestParamScopes;
      for (const [indicator, resourceServer] of Object.entries(ctx.oidc.resourceServers ?? {})) {
        const allowed = new Set((resourceServer.scope ?? '').split(' '));
        const scopes = [...requested].filter((s) => allowed.has(s));
        if (scopes.length) grant.addResourceScope(indicator, scopes.join(' '));
      }
      await grant.save();
      return grant;
    },
    // As in Keycloak: a client with the refresh_token grant gets one. Without
    // offline_access (which OIDC ties to prompt=consent) it ends with the
    // user's session (expiresWithSession); third-party clients still need offline_access.
    async issueRefreshToken(_ctx, client, code) {
      if (!client.grantTypeAllowed('refresh_token')) return false;
      return code.scopes.has('offline_access') || (client as unknown as Record<string, unknown>).first_party === true;
    },
    // Every client rotates unless it says `refresh_token_rotation: never` (refresh-policy.ts).
    rotateRefreshToken: refreshPolicy.rotateRefreshToken,
    async extraTokenClaims(ctx, token) {
      // The client's ip_allowlist travels in its access tokens, so the gateway refuses API calls from
      // elsewhere too, not only token requests (docs/b2b.md#ip-policy).
      const ipAllowlist = clientExtra(ctx, 'ip_allowlist');
      const ipClaim = Array.isArray(ipAllowlist) && ipAllowlist.length ? { ip_allowlist: [...ipAllowlist as string[]] } : {};
      const accountId = (token as { accountId?: string }).accountId;
      if (accountId) {
        const user = await userInRequest(deps.users, ctx, accountId);
        // Not a user of the token's tenant (a membership removed meanwhile, or an exchange across tenants): no token.
        if (!user) throw new errors.InvalidGrant(`user ${accountId} is not a user of the client's tenant`);
        // App assignment (app-assignment.ts): no token for a user the client does not list, whatever the grant
        // (a code issued, or a refresh token granted, before an operator narrowed the list).
        if (!assigned(ctx?.oidc?.client as unknown as Record<string, unknown> | undefined, user)) {
          const err = new errors.InvalidGrant(`user ${user.id} is not assigned to client ${ctx?.oidc?.client?.clientId}`);
          err.error_description = NOT_ASSIGNED_DESCRIPTION;
          throw err;
        }
        // Resource servers (the gateway) authorize by role and step up by acr; the engine's
        // access tokens carry neither, so they are added here: the user's roles in their
        // tenant (the client's, for a member), and the acr/amr of the sign-in behind the code or refresh token being redeemed
        // (or of the password grant's own sign-in).
        type Login = { acr?: string; amr?: string[] };
        const entities = ctx?.oidc?.entities as { AuthorizationCode?: Login; RefreshToken?: Login } & Record<string, unknown> | undefined;
        const login = entities?.AuthorizationCode ?? entities?.RefreshToken ?? (entities?.[PASSWORD_LOGIN_ENTITY] as PasswordLogin | undefined);
        const acr = login?.acr;
        const amr = login?.amr;
        // RFC 9470 §3 / RFC 9068 §2.2.1: with acr, the resource server (the admin API) checks how recent the sign-in was.
        const authTime = (login as { authTime?: unknown } | undefined)?.authTime;
        // The scopes of the grant behind the token (a resource's token lists only the API's scopes).
        const granted = (login as { scope?: unknown } | undefined)?.scope;
        const attributes = await clientAttributeClaims(deps.attributeClaims, ctx?.oidc?.client, user.id, 'access_token',
          typeof granted === 'string' ? granted : (token as { scope?: string }).scope);
        // A token exchange (token-exchange.ts): who acts for the user (RFC 8693 §4.1).
        const act = actClaimOf(ctx);
        return {
          ...attributes,
          ...ipClaim,
          ...(act ? { act } : {}),
          // A member of the client's tenant gets that tenant and its roles (userInRequest read them for it).
          tenant: actingTenant(user),
          ...(user.roles.length ? { roles: [...user.roles] } : {}),
          ...(typeof acr === 'string' ? { acr } : {}),
          ...(Array.isArray(amr) && amr.length ? { amr: [...amr] } : {}),
          ...(typeof authTime === 'number' ? { auth_time: authTime } : {}),
        };
      }
      const tenant = clientExtra(ctx, 'tenant');
      return typeof tenant === 'string' ? { tenant, ...ipClaim } : Object.keys(ipClaim).length ? ipClaim : undefined;
    },
    ttl: {
      AccessToken: (ctx, token, client) =>
        token.resourceServer?.accessTokenTTL ?? numberOr((client as unknown as Record<string, unknown>)?.access_token_ttl, DEFAULTS.accessTokenTtl),
      ClientCredentials: (_ctx, token, client) =>
        token.resourceServer?.accessTokenTTL ?? numberOr((client as unknown as Record<string, unknown>)?.access_token_ttl, DEFAULTS.clientCredentialsTtl),
      IdToken: (_ctx, _token, client) => numberOr((client as unknown as Record<string, unknown>)?.id_token_ttl, DEFAULTS.idTokenTtl),
      // Absolute (refresh_token_ttl, from the family's first token) and idle (refresh_token_idle_ttl) lifetimes: refresh-policy.ts.
      RefreshToken: (ctx, token, client) => refreshTokenTtl(ctx, token, client),
      AuthorizationCode: 60,
      Interaction: 3600,
      Session: DEFAULTS.sessionTtl,
      Grant: DEFAULTS.sessionTtl,
    },
    // The engine guards outgoing requests against special-use (private, loopback) addresses.
    // Operators may exempt named hosts, e.g. a back-channel logout receiver on the same machine.
    fetch: (url, options) => {
      const href = typeof url === 'string' ? url : url instanceof URL ? url.href : url.url;
      const host = new URL(href).hostname.replace(/^\[|\]$/g, '').toLowerCase();
      if (deps.outboundPrivateHosts.includes(host)) delete (options as { dispatcher?: unknown }).dispatcher;
      return globalThis.fetch(url, options);
    },
    async renderError(ctx, out, error) {
      ctx.type = 'html';
      // The engine renders its error pages itself: the hosted pages' strict CSP (no forms, no script).
      ctx.set('content-security-policy', pageCsp());
      const status = (error as { statusCode?: number } | undefined)?.statusCode ?? 400;
      ctx.body = deps.pages.error(languageOf(ctx), status, out as unknown as Record<string, string>);
    },
    clientBasedCORS(_ctx, origin, client) {
      // Browser apps may call the token/userinfo endpoints from their own origin only.
      return client.redirectUris?.some((uri) => {
        try {
          return new URL(uri).origin === origin;
        } catch {
          return false;
        }
      }) ?? false;
    },
  };

  const provider = new Provider(deps.issuer, configuration);
  // X-Forwarded-For read from the right, as many entries as there are trusted proxies (Koa's maxIpsCount):
  // Koa's default takes the leftmost entry, which a client can set to any address (ip_allowlist, throttles).
  provider.proxy = deps.trustProxy > 0;
  provider.maxIpsCount = deps.trustProxy;
  // A database outage answers 503 temporarily_unavailable, not 500 server_error (unavailable.ts).
  installUnavailableAnswers(provider, (ctx, out) => deps.pages.error(languageOf(ctx), 503, out));
  // The token endpoint's saves of one request as one statement (write-batch.ts); inside the 503 answers above.
  installWriteBatch(provider, deps.store, { token: ROUTES.token, resumePrefix: `${ROUTES.authorization}/` },
    (ctx, out) => deps.pages.error(languageOf(ctx), 500, out));
  // An https issuer: every engine cookie is Secure, behind a TLS-terminating proxy too (https-issuer.ts).
  httpsIssuerCookies(provider, deps.issuer);
  // The engine's own absolute URLs follow the issuer, not a (rewritten) Host header.
  issuerHost(provider, deps.issuer);
  // Client secrets are stored as digests (clients.ts); compare as such, in constant time.
  (provider.Client.prototype as unknown as { compareClientSecret(actual: string): Promise<boolean> }).compareClientSecret =
    async function compareClientSecret(this: { clientSecret?: string; previous_secret?: unknown }, actual: string) {
      return verifyClientSecrets(this, actual);
    };
  // An empty 200 without a content type from the revocation endpoint (rp-compat.ts).
  provider.use((ctx, next) => revocationWithoutBody(ctx, next, ROUTES.revocation));
  // Scope claims in the ID token for clients with id_token_claims (rp-compat.ts).
  releaseScopeClaimsInIdToken(provider);
  refreshPolicy.install(provider, ROUTES.token);
  provider.use((ctx, next) => restartDeviceFormWithoutSession(ctx, next, ROUTES.code_verification));
  if (deps.deviceCodeThrottle) provider.use((ctx, next) => throttleDeviceCodeEntry(ctx as unknown as KoaContextWithOIDC, next, deps.deviceCodeThrottle!, ROUTES.code_verification,
    (c) => deps.pages.deviceInput(languageOf(c), { action: ROUTES.code_verification, xsrf: '', error: 'throttled' })));
  // Also the jti check of private_key_jwt client assertions (client-keys.ts): one atomic insert for both.
  dpopReplayCache(provider, createAdapterFactory(deps.store, deps.clients)('ReplayDetection'));
  releaseStepUpClaims(provider);
  registerTokenExchange(provider, {
    issuer: deps.issuer, jwks: deps.jwks, onExchange: deps.tokenExchange?.onExchange,
    resourceServer: async (indicator, ctx) => grants.restrict(ctx, ctx.oidc.client?.clientId, await resourceServerInfo(indicator)),
  });
  if (deps.registration) installRegistration(provider, deps.registration.settings, deps.registration.tokens, ROUTES.registration, deps.registration.onRegistered);
  if (deps.passwordGrant) {
    registerPasswordGrant(provider, {
      ...deps.passwordGrant,
      resourceServer: async (indicator, ctx) => grants.restrict(ctx, ctx.oidc.client?.clientId, await resourceServerInfo(indicator)),
      checkScopes: (ctx) => grants.checkWithoutResource(ctx, ctx.oidc.client?.clientId),
    });
  }
  return provider;
}

/**
 * The engine checks a DPoP proof's jti by reading, then writing its replay
 * record: two instances given the same proof at once could both accept it.
 * Tessera's store inserts it atomically instead (RFC 9449 §11.1).
 */
function dpopReplayCache(provider: Provider, adapter: Adapter): void {
  const insertOnce = (adapter as Adapter & { insertOnce?(id: string, payload: object, expiresIn: number): Promise<boolean> }).insertOnce;
  if (!insertOnce) return;
  (provider.ReplayDetection as unknown as { unique(iss: string, jti: string, exp: number): Promise<boolean> }).unique =
    async (iss, jti, exp) => insertOnce(createHash('sha256').update(`${iss}${jti}`).digest('base64url'), { iss }, Math.max(1, exp - Math.floor(Date.now() / 1000)));
}

/** The adapter factory, with a Client adapter that stores dynamic registrations when they are on. */
function registrationAdapterFactory(deps: ProviderDeps, tesseraFields: readonly string[]): (name: string) => Adapter {
  const base = createAdapterFactory(deps.store, deps.clients);
  const r = deps.registration;
  if (!r || r.settings.mode === 'off') return base;
  return (name) => (name === 'Client' ? registeringClientAdapter(base(name), deps.clients, r.tokens, r.settings, tesseraFields) : base(name));
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && value > 0 ? value : fallback;
}
