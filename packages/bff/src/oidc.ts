import * as oidc from 'openid-client';
import type { BffConfig } from './config.js';
import type { Transaction } from './session.js';

/** Tokens as the BFF keeps them. */
export interface TokenSet {
  accessToken: string;
  /** Epoch ms. */
  accessTokenExpiresAt: number;
  refreshToken: string | undefined;
  idToken: string | undefined;
  claims: Record<string, unknown> | undefined;
  /** The granted scopes (the token response's `scope`), when the platform said. */
  scopes: string[] | undefined;
  /** The ID token's `sid` (the platform session), kept for back-channel logout. */
  sid: string | undefined;
}

/**
 * ID token claims the BFF asks for (OIDC Core §5.5 `claims` parameter) so
 * that `/bff/user` can show who is signed in without a UserInfo call. Tessera
 * returns profile claims from UserInfo only, and UserInfo does not accept the
 * access token the BFF holds when that token is a JWT for an API (`resource`).
 */
const CLAIMS_BY_SCOPE: Record<string, string[]> = {
  profile: ['name', 'given_name', 'family_name', 'preferred_username'],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  roles: ['roles'],
};

/**
 * Asked for with every sign-in: how the user signed in (OIDC Core §2; an ID
 * token carries them only when asked) and Tessera's MFA state of the user for
 * this client (docs/protocol.md).
 */
const MFA_CLAIMS = ['acr', 'amr', 'auth_time', 'mfa_enrolled', 'mfa_required'];

/** What `/bff/user` may show: identity claims, never token material (`nonce`, `at_hash`, `sid`). */
export const USER_CLAIMS = ['sub', 'tenant', 'auth_time', 'acr', 'amr', ...MFA_CLAIMS, ...Object.values(CLAIMS_BY_SCOPE).flat()];

/** Used when a token response lacks `expires_in` (Tessera always sends it). */
const FALLBACK_EXPIRES_IN = 60;

/** An OAuth error answered by the platform, e.g. `invalid_grant` for a revoked refresh token. */
export function oauthErrorCode(err: unknown): string | undefined {
  if (err instanceof oidc.ResponseBodyError || err instanceof oidc.AuthorizationResponseError) return err.error;
  return undefined;
}

/**
 * The BFF's side of the protocol, on openid-client: a confidential client
 * using the authorization code flow with PKCE, state and nonce.
 */
export class OidcClient {
  private configuration: Promise<oidc.Configuration> | undefined;

  constructor(private readonly cfg: BffConfig, private readonly now: () => number = Date.now) {}

  /**
   * Discovery is lazy and retried: the BFF starts (and serves its pages) even
   * while the platform is still starting or briefly unreachable.
   * @throws when discovery fails (the next call tries again)
   */
  async config(): Promise<oidc.Configuration> {
    if (!this.configuration) {
      const auth = this.cfg.clientAuth === 'client_secret_post'
        ? oidc.ClientSecretPost(this.cfg.clientSecret)
        : oidc.ClientSecretBasic(this.cfg.clientSecret);
      this.configuration = oidc.discovery(new URL(this.cfg.issuer), this.cfg.clientId, undefined, auth, {
        // Only when the config allows it: loopback http or an explicit operator flag.
        execute: this.cfg.allowInsecureIssuer ? [oidc.allowInsecureRequests] : [],
        timeout: 10,
      });
      this.configuration.catch(() => {
        this.configuration = undefined;
      });
    }
    return this.configuration;
  }

  /** The authorization request for a new transaction (PKCE S256: Tessera requires it of every client). */
  async authorizationUrl(tx: Transaction, extra: Record<string, string> = {}): Promise<URL> {
    const config = await this.config();
    const params: Record<string, string> = {
      // Validated pass-through parameters first, so they can never replace the protocol's own.
      ...extra,
      redirect_uri: this.cfg.redirectUri,
      scope: this.cfg.scope,
      state: tx.state,
      nonce: tx.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(tx.verifier),
      code_challenge_method: 'S256',
    };
    const claims = [...MFA_CLAIMS, ...this.cfg.scope.split(' ').flatMap((s) => CLAIMS_BY_SCOPE[s] ?? [])];
    if (claims.length) params.claims = JSON.stringify({ id_token: Object.fromEntries(claims.map((c) => [c, null])) });
    if (this.cfg.resource) params.resource = this.cfg.resource;
    return oidc.buildAuthorizationUrl(config, params);
  }

  /**
   * Redeems the code. openid-client checks `state`, `iss` (RFC 9207), the PKCE
   * verifier (at the platform), and the ID token's `iss`, `aud`, `exp`, `nonce`.
   * @throws oidc.AuthorizationResponseError (error at the redirect), oidc.ResponseBodyError (token endpoint)
   */
  async redeem(callbackQuery: string, tx: Transaction): Promise<TokenSet> {
    const config = await this.config();
    // Built from the configured redirect URI, never from the request's Host header.
    const current = new URL(this.cfg.redirectUri);
    current.search = callbackQuery;
    const res = await oidc.authorizationCodeGrant(config, current, {
      pkceCodeVerifier: tx.verifier,
      expectedState: tx.state,
      expectedNonce: tx.nonce,
      idTokenExpected: true,
    }, this.cfg.resource ? { resource: this.cfg.resource } : undefined);
    return this.toTokenSet(res, undefined);
  }

  /**
   * Renews the access token. Tessera rotates the refresh token at every
   * refresh (unless the client's `refresh_token_rotation` is `never`, when the
   * same one comes back): always keep whichever comes back.
   * @throws oidc.ResponseBodyError `invalid_grant` when the refresh token is expired or revoked
   */
  async refresh(refreshToken: string): Promise<TokenSet> {
    const config = await this.config();
    const res = await oidc.refreshTokenGrant(config, refreshToken, this.cfg.resource ? { resource: this.cfg.resource } : undefined);
    return this.toTokenSet(res, refreshToken);
  }

  /** RFC 7009. Revoking a refresh token revokes its whole grant at Tessera. */
  async revoke(refreshToken: string): Promise<void> {
    await oidc.tokenRevocation(await this.config(), refreshToken, { token_type_hint: 'refresh_token' });
  }

  /** RP-initiated logout at the platform; the confirmation page and redirect are the platform's. */
  async endSessionUrl(idToken: string | undefined): Promise<URL> {
    const config = await this.config();
    const params: Record<string, string> = {};
    // id_token_hint names the session and the client; without it, client_id names the client.
    if (idToken) params.id_token_hint = idToken;
    else params.client_id = this.cfg.clientId;
    if (this.cfg.postLogoutRedirectUri) params.post_logout_redirect_uri = this.cfg.postLogoutRedirectUri;
    return oidc.buildEndSessionUrl(config, params);
  }

  private toTokenSet(res: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, previousRefresh: string | undefined): TokenSet {
    const expiresIn = res.expiresIn() ?? FALLBACK_EXPIRES_IN;
    const idClaims = res.claims();
    return {
      accessToken: res.access_token,
      accessTokenExpiresAt: this.now() + expiresIn * 1000,
      refreshToken: res.refresh_token ?? previousRefresh,
      idToken: res.id_token,
      claims: idClaims ? pickClaims(idClaims as Record<string, unknown>) : undefined,
      scopes: typeof res.scope === 'string' ? res.scope.split(' ').filter(Boolean) : undefined,
      sid: typeof idClaims?.sid === 'string' ? idClaims.sid : undefined,
    };
  }
}

function pickClaims(all: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(USER_CLAIMS.filter((c) => all[c] !== undefined).map((c) => [c, all[c]]));
}
