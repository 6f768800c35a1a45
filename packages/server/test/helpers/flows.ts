import * as oidc from 'openid-client';
import { UserAgent, formAction } from './agent.js';
import { hiddenInputs } from './forms.js';

export interface Credentials {
  username: string;
  password: string;
}

/**
 * Answers an MFA page of the sign-in (challenge, in-login setup, recovery
 * codes shown once): given its HTML and URL, returns the response of the
 * form it submits. See test/helpers/mfa.ts.
 */
export type MfaHandler = (html: string, url: string, agent: UserAgent) => Promise<Response>;

/**
 * Drives the hosted pages from an authorization URL to the redirect back to
 * the client: sign in (if asked), MFA (if asked: `opts.mfa` answers), consent
 * (if asked). Returns the callback URL: the first one off the issuer's
 * origin, or one at the request's `redirect_uri` (clients on the issuer's
 * origin, such as the admin console at /admin/callback).
 */
export async function signInThrough(agent: UserAgent, authorizationUrl: URL | string, issuer: string, creds?: Credentials, opts: { consent?: boolean; mfa?: MfaHandler } = {}): Promise<URL> {
  const redirectUri = new URL(authorizationUrl).searchParams.get('redirect_uri');
  const atCallback = (u: string) => new URL(u).origin !== new URL(issuer).origin
    || (redirectUri !== null && u.split(/[?#]/)[0] === redirectUri);
  let { res, url } = await agent.follow(await agent.get(authorizationUrl), String(authorizationUrl));
  for (let step = 0; step < 8; step++) {
    if (atCallback(url)) return new URL(url);
    if (res.status !== 200) throw new Error(`unexpected ${res.status} at ${url}: ${await res.text()}`);
    const html = await res.text();
    if (html.includes('<title>Submitting Callback</title>')) {
      // The engine's self-submitting form (a browser posts it by script): e.g. ending another user's session before this sign-in.
      const action = new URL(formAction(html, '/'), issuer);
      ({ res, url } = await agent.follow(await agent.post(action, hiddenInputs(html)), action.href));
    } else if (html.includes('autocomplete="current-password"')) {
      if (!creds) throw new Error('sign-in page shown but no credentials given');
      const action = new URL(formAction(html, '/login'), issuer);
      ({ res, url } = await agent.follow(await agent.post(action, { username: creds.username, password: creds.password }), action.href));
    } else if (/action="\/interaction\/[^"]+\/mfa\//.test(html)) {
      if (!opts.mfa) throw new Error(`MFA page shown but no MFA handler given: ${html.slice(0, 300)}`);
      ({ res, url } = await agent.follow(await opts.mfa(html, url, agent), url));
    } else if (html.includes('/confirm')) {
      if (opts.consent === false) {
        const action = new URL(formAction(html, '/abort'), issuer);
        ({ res, url } = await agent.follow(await agent.post(action, {}), action.href));
      } else {
        const action = new URL(formAction(html, '/confirm'), issuer);
        ({ res, url } = await agent.follow(await agent.post(action, {}), action.href));
      }
    } else {
      throw new Error(`unexpected page at ${url}: ${html.slice(0, 300)}`);
    }
  }
  throw new Error('flow did not return to the client');
}

export interface RpOptions {
  clientId: string;
  clientSecret?: string;
  auth?: 'basic' | 'post' | 'none';
}

/** An `openid-client` configuration for a client of the test server (plain http is allowed for loopback tests). */
export async function discover(issuer: string, opts: RpOptions): Promise<oidc.Configuration> {
  const auth = opts.auth === 'none' || !opts.clientSecret
    ? oidc.None()
    : opts.auth === 'post' ? oidc.ClientSecretPost(opts.clientSecret) : oidc.ClientSecretBasic(opts.clientSecret);
  return oidc.discovery(new URL(issuer), opts.clientId, undefined, auth, { execute: [oidc.allowInsecureRequests] });
}

export interface CodeFlowResult {
  tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
  nonce: string;
  callback: URL;
}

/** A complete code + PKCE flow with openid-client as the relying party. */
export async function codeFlow(config: oidc.Configuration, agent: UserAgent, issuer: string, creds: Credentials | undefined, params: Record<string, string> = {}, checks: { maxAge?: number; mfa?: MfaHandler } = {}): Promise<CodeFlowResult> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: 'http://127.0.0.1:9/cb',
    scope: 'openid profile email offline_access',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    prompt: 'consent',
    ...params,
  });
  const callback = await signInThrough(agent, url, issuer, creds, { mfa: checks.mfa });
  const tokens = await oidc.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
    ...(checks.maxAge !== undefined ? { maxAge: checks.maxAge } : {}),
  });
  return { tokens, nonce, callback };
}
