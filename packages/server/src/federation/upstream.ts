import { createHmac } from 'node:crypto';
import type * as OpenId from 'openid-client';
import type { StoredProvider } from './providers.js';
import { ClientKeyError } from './client-keys.js';
import type { ClientKeyStore } from './client-keys.js';
import { lazy } from '../startup/lazy.js';

/** openid-client, loaded with the first upstream round trip rather than at start (issue 20). */
export const openidClient = lazy(() => import('openid-client'));

/**
 * The upstream round trip with openid-client (OpenID Connect and OAuth 2.0
 * providers): the authorization URL (state, nonce, PKCE S256), and the
 * callback's checks — RFC 9207 `iss`, `state`, the code exchange, and the
 * ID token (signature from the upstream's JWKS, refetched on an unknown
 * `kid` at most once a minute; `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`).
 * Upstream access and refresh tokens are used here and dropped.
 */

/** A provider as the protocol sees it (a `mock` resolves to the OIDC or OAuth 2.0 shape of its mock). */
export interface Endpoints {
  protocol: 'oidc' | 'oauth2';
  issuer: string;
  authorizationEndpoint?: string;
  tokenEndpoint?: string;
  profileEndpoint?: string;
  clientId: string;
  clientSecret?: string;
  clientAuth: string;
  /** private_key_jwt: the assertion's `aud`, the upstream's issuer or its token endpoint URL. */
  assertionAudience: 'issuer' | 'token_endpoint';
  scopes: string[];
  userinfo: boolean;
  appsecretProof: boolean;
}

export function endpointsOf(p: StoredProvider): Endpoints {
  const s = p.settings as Record<string, unknown>;
  const common = {
    clientId: String(s.client_id), clientSecret: p.secrets.client_secret, clientAuth: String(s.client_auth ?? 'client_secret_basic'),
    assertionAudience: s.client_assertion_audience === 'token_endpoint' ? 'token_endpoint' as const : 'issuer' as const,
  };
  if (p.type === 'mock') {
    const base = `${String(s.url).replace(/\/$/, '')}/${String(s.mock)}`;
    if (s.mock === 'facebook') {
      return {
        ...common, protocol: 'oauth2', issuer: base, authorizationEndpoint: `${base}/dialog/oauth`, tokenEndpoint: `${base}/oauth/access_token`,
        profileEndpoint: `${base}/me?fields=id,name,email,first_name,last_name`, scopes: (s.scopes as string[] | undefined) ?? ['email', 'public_profile'],
        userinfo: false, appsecretProof: true,
      };
    }
    return { ...common, protocol: 'oidc', issuer: base, scopes: (s.scopes as string[] | undefined) ?? ['openid', 'email', 'profile'], userinfo: false, appsecretProof: false };
  }
  if (p.type === 'oauth2') {
    return {
      ...common, protocol: 'oauth2', issuer: String(s.issuer ?? new URL(String(s.authorization_endpoint)).origin),
      authorizationEndpoint: String(s.authorization_endpoint), tokenEndpoint: String(s.token_endpoint), profileEndpoint: String(s.profile_endpoint),
      scopes: s.scopes as string[], userinfo: false, appsecretProof: s.appsecret_proof === true,
    };
  }
  return { ...common, protocol: 'oidc', issuer: String(s.issuer), scopes: s.scopes as string[], userinfo: s.userinfo === true, appsecretProof: false };
}

/** Why an upstream round trip failed: a stable reason, audited and shown as the error code's page. */
export class UpstreamError extends Error {
  constructor(readonly reason: 'upstream_unavailable' | 'upstream_timeout' | 'upstream_invalid_response' | 'upstream_invalid_token' | 'upstream_client_auth_failed', detail: string, options?: { cause?: unknown }) {
    super(detail, options);
    this.name = 'UpstreamError';
  }
}

function clientAuth(oidc: typeof OpenId, alias: string, e: Endpoints, keys: ClientKeyStore | undefined): OpenId.ClientAuth {
  switch (e.clientAuth) {
    case 'client_secret_post': return oidc.ClientSecretPost(e.clientSecret);
    case 'none': return oidc.None();
    case 'private_key_jwt': return privateKeyJwt(oidc, alias, e, keys);
    default: return oidc.ClientSecretBasic(e.clientSecret);
  }
}

/**
 * private_key_jwt with the provider's key from the store, read at each token
 * request (a rotation on another instance takes effect at once, without
 * rebuilding the cached configuration). openid-client signs the assertion
 * (`iss` = `sub` = client_id, a fresh `jti`, 60 s lifetime, `aud` the issuer);
 * `client_assertion_audience: token_endpoint` puts the token endpoint URL in
 * `aud` instead (OIDC Core §9's SHOULD, which Entra ID and Okta require).
 */
function privateKeyJwt(oidc: typeof OpenId, alias: string, e: Endpoints, keys: ClientKeyStore | undefined): OpenId.ClientAuth {
  return (async (as: OpenId.ServerMetadata, client: OpenId.ClientMetadata, body: URLSearchParams, headers: Headers) => {
    if (!keys) throw new ClientKeyError('no federation client key store');
    const k = await keys.signingKey(alias);
    const auth = oidc.PrivateKeyJwt({ key: k.key, kid: k.kid }, {
      [oidc.modifyAssertion]: (header, payload) => {
        // Entra ID finds the uploaded certificate by its SHA-1 thumbprint; other upstreams use kid and ignore it.
        header.x5t = k.x5t;
        if (e.assertionAudience === 'token_endpoint' && as.token_endpoint) payload.aud = as.token_endpoint;
      },
    });
    await auth(as, client, body, headers);
  }) as OpenId.ClientAuth;
}

/** Maps openid-client's and fetch's failures to a stable reason. */
export function upstreamFailure(err: unknown): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const e = err as { name?: string; code?: string; message?: string; cause?: unknown; status?: number; error?: string };
  // RFC 6749 §5.2: the token endpoint refused Tessera's client authentication (wrong secret, unknown or wrong key, bad assertion).
  if (e.code === 'OAUTH_RESPONSE_BODY_ERROR' && e.error === 'invalid_client') {
    return new UpstreamError('upstream_client_auth_failed', `the upstream refused the client authentication: ${e.message ?? 'invalid_client'}`, { cause: err });
  }
  const causeName = (e.cause as { name?: string } | undefined)?.name;
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || causeName === 'TimeoutError' || causeName === 'AbortError') {
    return new UpstreamError('upstream_timeout', 'the upstream did not answer in time', { cause: err });
  }
  if (e.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || (typeof e.status === 'number' && e.status >= 500)) {
    return new UpstreamError('upstream_unavailable', e.message ?? 'the upstream answered with an error', { cause: err });
  }
  if (e.name === 'TypeError' && /fetch failed/.test(e.message ?? '')) return new UpstreamError('upstream_unavailable', 'the upstream cannot be reached', { cause: err });
  if (e.code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' || e.code === 'OAUTH_JWS_SIGNATURE_VERIFICATION_FAILED' || e.code === 'OAUTH_KEY_SELECTION_FAILED'
    || e.code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED' || e.code === 'OAUTH_INVALID_RESPONSE' && /ID Token|"iss"|"aud"|"azp"|nonce|JWT/i.test(e.message ?? '')) {
    return new UpstreamError('upstream_invalid_token', e.message ?? 'the upstream\'s ID token failed validation', { cause: err });
  }
  return new UpstreamError('upstream_invalid_response', e.message ?? 'the upstream\'s answer failed validation', { cause: err });
}

interface CachedConfig {
  version: number;
  config: OpenId.Configuration;
}

/** openid-client configurations per provider, rebuilt when the provider changes (the JWKS cache lives in them). */
export class UpstreamClients {
  private readonly cache = new Map<string, CachedConfig>();

  /** `keys`: the private_key_jwt keys (client-keys.ts). */
  constructor(private readonly keys?: ClientKeyStore) {}

  /** @throws UpstreamError when discovery fails. */
  async configuration(p: StoredProvider): Promise<OpenId.Configuration> {
    const cached = this.cache.get(p.alias);
    if (cached && cached.version === p.updatedAt) return cached.config;
    const e = endpointsOf(p);
    const insecure = new URL(e.issuer).protocol === 'http:';
    const oidc = await openidClient();
    let config: OpenId.Configuration;
    try {
      if (e.protocol === 'oidc') {
        config = await oidc.discovery(new URL(e.issuer), e.clientId, undefined, clientAuth(oidc, p.alias, e, this.keys), {
          timeout: p.timeout_seconds, ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}),
        });
        // ID tokens from the token endpoint are verified against the JWKS too, not only trusted for arriving over TLS.
        oidc.enableNonRepudiationChecks(config);
      } else {
        config = new oidc.Configuration({ issuer: e.issuer, authorization_endpoint: e.authorizationEndpoint, token_endpoint: e.tokenEndpoint }, e.clientId, undefined, clientAuth(oidc, p.alias, e, this.keys));
        if (insecure || new URL(e.tokenEndpoint!).protocol === 'http:') oidc.allowInsecureRequests(config);
      }
    } catch (err) {
      throw upstreamFailure(err);
    }
    config.timeout = p.timeout_seconds;
    this.cache.set(p.alias, { version: p.updatedAt, config });
    return config;
  }

  /** The upstream's end_session_endpoint, when it has one. */
  async endSessionEndpoint(p: StoredProvider): Promise<string | undefined> {
    return (await this.configuration(p)).serverMetadata().end_session_endpoint;
  }
}

export interface UpstreamAnswer {
  /** Every claim, ID token and UserInfo or profile merged (ID token wins for `sub`). */
  claims: Record<string, unknown>;
  /** The upstream ID token (kept, encrypted, only for federated logout). */
  idToken?: string;
}

/** The authorization URL for one round trip. */
export async function authorizationUrl(clients: UpstreamClients, p: StoredProvider, o: { redirectUri: string; state: string; nonce: string; codeVerifier: string; loginHint?: string }): Promise<URL> {
  const config = await clients.configuration(p);
  const e = endpointsOf(p);
  // MFA trust reads the ID token's acr/amr: ask for them where the upstream takes the claims parameter (OIDC Core §5.5).
  const trusts = p.trust_upstream_mfa.acr.length + p.trust_upstream_mfa.amr.length > 0;
  const claimsParam = e.protocol === 'oidc' && trusts && config.serverMetadata().claims_parameter_supported === true;
  const oidc = await openidClient();
  return oidc.buildAuthorizationUrl(config, {
    ...(claimsParam ? { claims: JSON.stringify({ id_token: { acr: null, amr: null } }) } : {}),
    redirect_uri: o.redirectUri,
    scope: e.scopes.join(' '),
    state: o.state,
    ...(e.protocol === 'oidc' ? { nonce: o.nonce } : {}),
    code_challenge: await oidc.calculatePKCECodeChallenge(o.codeVerifier),
    code_challenge_method: 'S256',
    ...(o.loginHint ? { login_hint: o.loginHint } : {}),
  });
}

/**
 * The callback: checks the authorization response and exchanges the code.
 * @throws UpstreamError
 */
export async function completeRoundTrip(clients: UpstreamClients, p: StoredProvider, callbackUrl: URL, checks: { state: string; nonce: string; codeVerifier: string }): Promise<UpstreamAnswer> {
  const config = await clients.configuration(p);
  const e = endpointsOf(p);
  const oidc = await openidClient();
  try {
    if (e.protocol === 'oidc') {
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: checks.codeVerifier, expectedState: checks.state, expectedNonce: checks.nonce, idTokenExpected: true,
      });
      const idClaims = tokens.claims();
      if (!idClaims) throw new UpstreamError('upstream_invalid_token', 'no ID token');
      let claims: Record<string, unknown> = { ...idClaims };
      if (e.userinfo && tokens.access_token) {
        const info = await oidc.fetchUserInfo(config, tokens.access_token, idClaims.sub);
        claims = { ...info, ...idClaims };
      }
      return { claims, idToken: tokens.id_token };
    }
    const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: checks.codeVerifier, expectedState: checks.state });
    const url = new URL(e.profileEndpoint!);
    if (e.appsecretProof && e.clientSecret) {
      url.searchParams.set('appsecret_proof', createHmac('sha256', e.clientSecret).update(tokens.access_token).digest('hex'));
    }
    const res = await oidc.fetchProtectedResource(config, tokens.access_token, url, 'GET');
    if (res.status >= 500) throw new UpstreamError('upstream_unavailable', `profile endpoint answered ${res.status}`);
    if (res.status !== 200) throw new UpstreamError('upstream_invalid_response', `profile endpoint answered ${res.status}`);
    const profile = await res.json() as unknown;
    if (!profile || typeof profile !== 'object' || Array.isArray(profile)) throw new UpstreamError('upstream_invalid_response', 'profile is not a JSON object');
    return { claims: profile as Record<string, unknown> };
  } catch (err) {
    // Tessera's own key store failing is not the upstream's fault: a server error, not an upstream reason.
    if (err instanceof ClientKeyError) throw err;
    throw upstreamFailure(err);
  }
}
