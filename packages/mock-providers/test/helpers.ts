import * as oidc from 'openid-client';
import type { MockName, MockProviders } from '../src/index.js';

/** A cookie-keeping user agent that follows redirects by hand and stops at the relying party. */
export class Browser {
  readonly cookies = new Map<string, string>();

  async fetch(url: URL | string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (!value || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /**
   * Follows redirects from `start` until one leaves for `redirectUri` (returned as `callback`) or a
   * page answers. With `form`, a persona picker page is submitted once with those fields.
   */
  async run(start: URL | string, redirectUri: string, form?: Record<string, string>): Promise<{ callback?: URL; page?: Response; picker?: string }> {
    let url = new URL(start);
    let init: RequestInit = {};
    let picker: string | undefined;
    for (let hop = 0; hop < 10; hop++) {
      const res = await this.fetch(url, init);
      init = {};
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        const next = new URL(location, url);
        if (next.href.startsWith(redirectUri)) return { callback: next, picker };
        url = next;
        continue;
      }
      if (res.status === 200 && form && !picker && url.pathname.includes('/interaction/')) {
        picker = await res.text();
        init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() };
        continue;
      }
      return { page: res, picker };
    }
    throw new Error('too many redirects');
  }
}

export const RP = 'http://rp.example';
export const redirectUriFor = (name: MockName) => `${RP}/federation/${name}/callback`;

/** openid-client configured for one OIDC mock from its discovery document (allowing http). */
export async function rpFor(mock: MockProviders, name: MockName, timeoutMs?: number): Promise<oidc.Configuration> {
  const p = mock.providers[name];
  const config = await oidc.discovery(new URL(p.issuer), p.clientId, p.clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
  // Validate ID token signatures even though they come over the back channel (Tessera does).
  oidc.enableNonRepudiationChecks(config);
  if (timeoutMs) config[oidc.customFetch] = (url, options) => fetch(url, { ...options, signal: AbortSignal.timeout(timeoutMs) } as RequestInit);
  return config;
}

export interface RoundTrip {
  callback: URL;
  finish(): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers>;
  picker?: string;
}

/**
 * One authorization round trip as a relying party does it (state, nonce, PKCE S256), the persona and
 * scenario picked by login_hint (or by the picker form when `form` is given).
 */
export async function signIn(mock: MockProviders, config: oidc.Configuration, name: MockName,
  choice: { hint?: string; form?: Record<string, string>; scope?: string; extra?: Record<string, string> }): Promise<RoundTrip> {
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const verifier = oidc.randomPKCECodeVerifier();
  const redirectUri = redirectUriFor(name);
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: choice.scope ?? 'openid email profile', state, nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    ...(choice.hint ? { login_hint: choice.hint } : {}), ...choice.extra,
  });
  const out = await new Browser().run(url, redirectUri, choice.form);
  if (!out.callback) throw new Error(`no redirect to the client: ${out.page?.status} ${await out.page?.text()}`);
  const callback = out.callback;
  return {
    callback, picker: out.picker,
    finish: () => oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }),
  };
}

export function decodePayload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export function decodeHeader(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}
