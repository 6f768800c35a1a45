import type { ClientRecord } from '../oidc/repository.js';

/** The built-in client the admin console (the SPA at /admin) signs in with. */
export { CONSOLE_CLIENT_ID } from '../oidc/built-in-clients.js';
import { CONSOLE_CLIENT_ID } from '../oidc/built-in-clients.js';

/** Where the console is served. */
export const CONSOLE_PATH = '/admin';

/**
 * What the console asks for, and so its `scope` metadata: the OpenID scopes
 * for its header (name, email) and both admin API scopes
 * (docs/admin.md#who-may-call; resource `${issuer}/api/admin`). A client
 * obtains only the API scopes its `scope` lists (oidc/client-grants.ts).
 */
export const CONSOLE_OIDC_SCOPES = 'openid profile email';
export const CONSOLE_SCOPE = `${CONSOLE_OIDC_SCOPES} identity.admin auth.admin`;

/**
 * An admin console session (its refresh-token family) never outlives a
 * working day, as the account pages' sessions do; it also ends with the
 * user's platform session (first-party refresh tokens without offline_access).
 */
const CONSOLE_REFRESH_TOKEN_TTL = 8 * 3600;

/** The console's URLs for an issuer (they follow it, as the account client's do). */
export function consoleUrls(issuer: string): { base: string; redirectUri: string; postLogoutRedirectUri: string } {
  const base = `${issuer}${CONSOLE_PATH}/`;
  return { base, redirectUri: `${issuer}${CONSOLE_PATH}/callback`, postLogoutRedirectUri: base };
}

/**
 * The console's client, registered at every start (bootstrap.ts): public
 * (a browser app keeps no secret: code + PKCE, RFC 9700 §2.1.1), first-party
 * (no consent page; the admin API takes people's tokens only from
 * first-party clients), in the `default` tenant, so platform administrators
 * sign in through it. With `refresh_token` it gets refresh tokens without
 * offline_access (oidc/provider.ts issueRefreshToken); the engine rotates
 * them on every use because the client is public (sender-unconstrained),
 * so the SPA renews its 10-minute admin tokens without a hidden iframe
 * (the console's CSP forbids frames).
 */
export function consoleClient(issuer: string): ClientRecord {
  const urls = consoleUrls(issuer);
  return {
    clientId: CONSOLE_CLIENT_ID,
    tenantId: 'default',
    firstParty: true,
    secretHash: null,
    metadata: {
      client_name: 'Tessera admin console',
      redirect_uris: [urls.redirectUri],
      post_logout_redirect_uris: [urls.postLogoutRedirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      scope: CONSOLE_SCOPE,
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      refresh_token_ttl: CONSOLE_REFRESH_TOKEN_TTL,
    },
  };
}
