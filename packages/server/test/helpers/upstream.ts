import { createServer } from 'node:http';
import type { Server } from 'node:http';
import Provider from 'oidc-provider';
import type { ClientMetadata, JWK } from 'oidc-provider';
import { freePort } from './app.js';
import { UserAgent } from './agent.js';

/**
 * A bare oidc-provider as an upstream identity provider (a stand-in for
 * Google or Entra ID, configured as they are: email in the ID token, PKCE,
 * RFC 9207 `iss`), on its own port and host name (`localhost`, so its
 * cookies never mix with Tessera's on 127.0.0.1). No pages: the next
 * sign-in's account, acr and amr are queued by the test.
 */
export const UPSTREAM_CLIENT = { id: 'tessera', secret: 'upstream-client-secret-0123456789' };

export interface UpstreamAccount {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  given_name?: string;
  family_name?: string;
  groups?: string[];
}

export interface Upstream {
  issuer: string;
  provider: Provider;
  /** The next sign-in: an account (with optional amr/acr), or 'deny' (access_denied). */
  next(account: UpstreamAccount | 'deny', opts?: { amr?: string[]; acr?: string }): void;
  close(): Promise<void>;
}

/**
 * `port`: reserve it first (upstreamPort) when Tessera's configuration must name the issuer before the redirect URI is known.
 * `opts.jwks`: the signing keys (private JWKs), when the test signs tokens of the upstream's own (e.g. logout tokens).
 * `opts.always`: who signs in when nobody was queued (a benchmark's returning user); without it such a sign-in is denied.
 * `opts.clients`: further clients of the upstream (e.g. private_key_jwt ones with a `jwks_uri`), beside UPSTREAM_CLIENT.
 */
export async function startUpstream(redirectUris: string[], port?: number, opts: { jwks?: { keys: JWK[] }; always?: UpstreamAccount; clients?: ClientMetadata[] } = {}): Promise<Upstream> {
  port ??= await freePort();
  const issuer = `http://localhost:${port}`;
  const accounts = new Map<string, UpstreamAccount>();
  let queued: { account: UpstreamAccount | 'deny'; amr?: string[]; acr?: string } | undefined;
  const client = { client_id: UPSTREAM_CLIENT.id, client_secret: UPSTREAM_CLIENT.secret, redirect_uris: redirectUris, grant_types: ['authorization_code'], response_types: ['code' as const] };
  const provider = new Provider(issuer, {
    clients: [client, ...(opts.clients ?? [])],
    // Tessera runs on 127.0.0.1 here: the engine's SSRF guard (special-use addresses) would refuse its JWKS URL; a real upstream fetches a public issuer.
    fetch: (url, options) => globalThis.fetch(url, { ...options, dispatcher: undefined } as RequestInit),
    ...(opts.jwks ? { jwks: opts.jwks } : {}),
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ ...(accounts.get(sub) ?? { sub }) }) }),
    claims: { acr: null, amr: null, openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'given_name', 'family_name'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups'],
    // As Google: the granted claims are in the ID token itself.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false }, claimsParameter: { enabled: true } },
    interactions: { url: (_ctx, interaction) => `/i/${interaction.uid}` },
    cookies: { keys: ['upstream-cookie-key-0123456789'] },
    // Consent is implied (the upstream's own business): every requested scope is granted.
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId });
      grant.addOIDCScope('openid email profile groups');
      grant.addOIDCClaims(['acr', 'amr']);
      await grant.save();
      return grant;
    },
  });
  provider.on('server_error', (_ctx, err) => console.error('upstream error', err));
  const callback = provider.callback();
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/i/')) {
      void (async () => {
        const pick = queued ?? (opts.always ? { account: opts.always } : undefined);
        queued = undefined;
        if (!pick || pick.account === 'deny') {
          await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The user said no.' }, { mergeWithLastSubmission: false });
          return;
        }
        accounts.set(pick.account.sub, pick.account);
        await provider.interactionFinished(req, res, {
          login: { accountId: pick.account.sub, ...(pick.amr ? { amr: pick.amr } : {}), ...(pick.acr ? { acr: pick.acr } : {}) },
        }, { mergeWithLastSubmission: false });
      })().catch((err) => {
        res.statusCode = 500;
        res.end(String(err));
      });
      return;
    }
    callback(req, res);
  });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  return {
    issuer, provider,
    next(account, opts = {}) {
      queued = { account, ...opts };
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Per-host cookie jars: a browser keeps localhost's cookies apart from 127.0.0.1's. */
export class Browser {
  private readonly agents = new Map<string, UserAgent>();

  agent(url: string | URL): UserAgent {
    const host = new URL(url).host.split(':')[0]!;
    let a = this.agents.get(host);
    if (!a) this.agents.set(host, (a = new UserAgent()));
    return a;
  }

  get(url: string | URL): Promise<Response> {
    return this.agent(url).get(url);
  }

  post(url: string | URL, form: Record<string, string>): Promise<Response> {
    return this.agent(url).post(url, form);
  }

  /**
   * Follows redirects across origins until one goes to `stopAt` (returned as
   * `callback`) or a page answers (`page`, with its URL).
   */
  async run(start: Response, startUrl: string, stopAt: string): Promise<{ callback?: URL; page?: Response; url: string }> {
    let res = start;
    let url = startUrl;
    for (let hop = 0; hop < 20; hop++) {
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) return { page: res, url };
      const next = new URL(location, url);
      if (next.href.startsWith(stopAt)) return { callback: next, url };
      url = next.href;
      res = await this.get(next);
    }
    throw new Error('too many redirects');
  }
}
