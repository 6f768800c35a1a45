import { UserManager, WebStorageStateStore } from 'oidc-client-ts';
import type { User } from 'oidc-client-ts';
import { currentLocation } from './router';
import type { ConsoleConfig } from '../../server/src/console/config';

/**
 * Signing in to the console: OpenID Connect code flow with PKCE (S256,
 * done by oidc-client-ts) through the platform's hosted pages, as a public
 * first-party client (`tessera-console`). The access token is for the admin
 * API (RFC 8707 `resource`, so its `aud` is `${issuer}/api/admin`).
 *
 * Tokens live in sessionStorage: they end with the tab, and no other site
 * can read them (the CSP allows only our own scripts).
 *
 * Renewal: iframe-based silent renew cannot work here (the platform's pages
 * send `frame-ancestors 'none'`), so it is off. When the client received a
 * refresh token, an expired access token is renewed with it; otherwise the
 * browser goes through sign-in again (the platform session usually makes
 * that a quick round of redirects).
 */

/** `GET /admin/config.json`, written by the platform (one definition for both sides). */
export type { ConsoleConfig };

let configPromise: Promise<ConsoleConfig> | undefined;

const TENANT_KEY = 'tessera.console.tenant';
const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * Whose administrators sign in: `/admin/?tenant=acme` opens the console for
 * the acme tenant's administrators (the platform's sign-in asks for an acme
 * user); without it, the `default` tenant's (platform administrators). Read
 * at the console's entry only (other pages use `tenant` as a filter), then
 * kept for the tab, so sign-in, step-up and sign-out stay in that tenant.
 */
export function signInTenant(): string | undefined {
  const entry = window.location.pathname === import.meta.env.BASE_URL;
  const fromUrl = entry ? new URLSearchParams(window.location.search).get('tenant') : null;
  if (fromUrl !== null && TENANT_ID.test(fromUrl)) window.sessionStorage.setItem(TENANT_KEY, fromUrl);
  return window.sessionStorage.getItem(TENANT_KEY) ?? undefined;
}

/** The sign-in request's parameters beyond OIDC's: the admin API as resource (RFC 8707), and the tenant. */
function signInParams(config: ConsoleConfig): Record<string, string> {
  const tenant = signInTenant();
  return { resource: config.resource, ...(tenant ? { tenant } : {}) };
}
let manager: UserManager | undefined;

/** The console's configuration (fetched once). */
export function loadConfig(): Promise<ConsoleConfig> {
  configPromise ??= fetch(`${import.meta.env.BASE_URL}config.json`, { headers: { accept: 'application/json' }, cache: 'no-store' })
    .then(async (res) => {
      if (!res.ok) throw new Error(`The console configuration could not be loaded (HTTP ${res.status}).`);
      return (await res.json()) as ConsoleConfig;
    });
  configPromise.catch(() => {
    configPromise = undefined;
  });
  return configPromise;
}

/** The UserManager, built from the configuration on first use. */
export async function userManager(): Promise<UserManager> {
  if (manager) return manager;
  const config = await loadConfig();
  const store = new WebStorageStateStore({ store: window.sessionStorage });
  manager = new UserManager({
    authority: config.issuer,
    // Discovery is at the issuer: `${issuer}/.well-known/openid-configuration`.
    metadataUrl: `${config.issuer}/.well-known/openid-configuration`,
    client_id: config.client_id,
    redirect_uri: config.redirect_uri,
    post_logout_redirect_uri: config.post_logout_redirect_uri,
    response_type: 'code',
    scope: config.scope,
    // RFC 8707: ask for a token whose audience is the admin API, at the authorization and at the token endpoint.
    extraQueryParams: signInParams(config),
    extraTokenParams: { resource: config.resource },
    userStore: store,
    stateStore: store,
    automaticSilentRenew: false,
    monitorSession: false,
    // The id token has what the header shows (name, username, tenant); no UserInfo round trip.
    loadUserInfo: false,
    revokeTokenTypes: ['refresh_token'],
  });
  return manager;
}

/** What the sign-in state carries through the redirect. */
interface SigninState {
  returnTo: string;
  stepUp?: boolean;
}

/** The signed-in user, if any (tokens may be expired: see `accessToken`). */
export async function currentUser(): Promise<User | null> {
  return (await userManager()).getUser();
}

let renewing: Promise<User | null> | undefined;

/**
 * A usable access token for the admin API: the stored one while it is
 * valid, else a refreshed one (refresh token), else undefined (the caller
 * then signs in again).
 */
export async function accessToken(opts: { forceRenew?: boolean } = {}): Promise<string | undefined> {
  const um = await userManager();
  const user = await um.getUser();
  if (!user) return undefined;
  const fresh = !user.expired && (user.expires_in === undefined || user.expires_in > 10);
  if (fresh && !opts.forceRenew) return user.access_token;
  const renewed = await renew();
  return renewed?.access_token;
}

/** Renews with the refresh token (one renewal at a time); null when there is none or it no longer works. */
async function renew(): Promise<User | null> {
  renewing ??= (async () => {
    const um = await userManager();
    const user = await um.getUser();
    if (!user?.refresh_token) return null;
    const config = await loadConfig();
    try {
      return await um.signinSilent({ extraTokenParams: { resource: config.resource } });
    } catch {
      await um.removeUser();
      return null;
    }
  })().finally(() => {
    renewing = undefined;
  });
  return renewing;
}

/**
 * Sends the browser to the platform's sign-in. `returnTo` is the app path
 * to come back to. For step-up (RFC 9470), `acrValues` and `maxAge` come
 * from the API's challenge: the engine's step-up policy then asks a
 * password-level session for the second factor only (and `max_age` makes
 * an old sign-in start over). `prompt=login` forces a whole new sign-in,
 * the fallback when a step-up did not satisfy the API. The returned promise never resolves: the page leaves.
 */
export async function signIn(opts: { returnTo?: string; acrValues?: string; maxAge?: number; prompt?: string } = {}): Promise<never> {
  const um = await userManager();
  const config = await loadConfig();
  const state: SigninState = { returnTo: opts.returnTo ?? currentLocation(), ...(opts.acrValues ? { stepUp: true } : {}) };
  await um.signinRedirect({
    state,
    extraQueryParams: signInParams(config),
    extraTokenParams: { resource: config.resource },
    ...(opts.acrValues ? { acr_values: opts.acrValues } : {}),
    ...(opts.maxAge !== undefined ? { max_age: opts.maxAge } : {}),
    ...(opts.prompt ? { prompt: opts.prompt } : {}),
  });
  return new Promise<never>(() => {});
}

/** Completes the code flow on /admin/callback; returns where to go next. */
export async function completeSignIn(): Promise<{ user: User; returnTo: string; stepUp: boolean }> {
  const um = await userManager();
  const user = await um.signinRedirectCallback();
  const state = (user.state ?? {}) as Partial<SigninState>;
  const returnTo = typeof state.returnTo === 'string' && state.returnTo.startsWith('/') && !state.returnTo.startsWith('//') ? state.returnTo : '/';
  return { user, returnTo, stepUp: state.stepUp === true };
}

/** RP-initiated logout (OIDC RP-Initiated Logout 1.0) with id_token_hint; the platform returns to /admin/. */
export async function signOut(): Promise<never> {
  const um = await userManager();
  const user = await um.getUser();
  try {
    if (user?.refresh_token) await um.revokeTokens(['refresh_token']);
  } catch {
    // The logout below ends the session, and with it the refresh token.
  }
  // extraQueryParams: {} keeps the sign-in's `resource` off the logout URL.
  await um.signoutRedirect({ extraQueryParams: {}, ...(user?.id_token ? { id_token_hint: user.id_token } : {}) });
  return new Promise<never>(() => {});
}

/** Forgets the local session (tokens) without contacting the platform. */
export async function forgetUser(): Promise<void> {
  await (await userManager()).removeUser();
}

/** Who is signed in, for the header. */
export interface Who {
  name: string;
  username?: string;
  tenant?: string;
  sub: string;
}

export function whoIs(user: User): Who {
  const p = user.profile as Record<string, unknown> & { sub: string };
  const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  const username = str(p.preferred_username);
  const composed = [str(p.given_name), str(p.family_name)].filter(Boolean).join(' ');
  const name = str(p.name) ?? (composed || undefined) ?? username ?? str(p.email) ?? p.sub;
  return { name, username, tenant: str(p.tenant), sub: p.sub };
}

/** The path of the callback route inside the app ('/callback'), derived from the configured redirect_uri. */
export function isCallbackPath(path: string): boolean {
  return path === '/callback';
}



let who: Who | undefined;

/** The signed-in person, once the shell has signed in (views may read it: it is set before any view renders). */
export function currentWho(): Who | undefined {
  return who;
}

/** Set by the shell after sign-in. */
export function setWho(value: Who | undefined): void {
  who = value;
}

/** A platform administrator: an administrator of the `default` tenant (docs/admin.md#who-may-call). */
export function isPlatformAdmin(): boolean {
  return who?.tenant === 'default';
}
