import { randomBytes } from 'node:crypto';
import Provider, { interactionPolicy } from 'oidc-provider';
import type { Configuration, JWK, KoaContextWithOIDC } from 'oidc-provider';
import { adapterFactory, type ClientRegistry } from './adapter.js';
import { csp, errorPage, escapeHtml, page, SECURITY_HEADERS } from './pages.js';
import type { MockName } from './personas.js';
import type { SignIn } from './scenarios.js';
import { reissueIdToken, type Signer } from './tamper.js';

/** What a mock's engine needs from the server that hosts it. */
export interface MockRuntime {
  name: MockName;
  issuer: string;
  clients: ClientRegistry;
  signingKey: JWK;
  /** The sign-in a grant was made for (set when the persona picker finishes). */
  signInForGrant(grantId: string | undefined): SignIn | undefined;
  /** The latest sign-in of a subject (the engine looks the account up again while resuming). */
  signInForSub(sub: string): SignIn | undefined;
  /** Waits for the configured slow delay (returns early when the server closes). */
  slow(): Promise<void>;
  /** Signs tampered ID tokens: with the real key (wrong_issuer) or a rogue one (bad_signature). */
  signer: Signer;
  /** The issuer a `wrong_issuer` token claims: another mock's. */
  otherIssuer: string;
}

/** The engine's own claims (its defaults, kept when the scope claims below replace them): `sid` for logout. */
const ENGINE_CLAIMS = { acr: null, auth_time: null, iss: null, sid: null };

/** Which claims each scope releases, per mock (Google, Entra and Keycloak put them in the ID token). */
const CLAIMS: Record<MockName, Configuration['claims']> = {
  google: { openid: ['sub', 'hd'], email: ['email', 'email_verified'], profile: ['name', 'given_name', 'family_name', 'picture', 'locale'] },
  entra: { openid: ['sub', 'tid', 'oid', 'groups', 'amr'], email: ['email', 'email_verified'], profile: ['name', 'given_name', 'family_name', 'preferred_username', 'locale'] },
  keycloak: { openid: ['sub', 'groups', 'amr'], email: ['email', 'email_verified'], profile: ['name', 'given_name', 'family_name', 'preferred_username', 'locale'] },
  facebook: { openid: ['sub'] },
};

/** Facebook's real paths, so a client configured for Facebook needs only the host changed. */
const FACEBOOK_ROUTES = { authorization: '/dialog/oauth', token: '/oauth/access_token' };

function htmlPage(ctx: KoaContextWithOIDC, body: string, status = 200, formTargets: string[] = []): void {
  ctx.status = status;
  ctx.type = 'html';
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) ctx.set(k, v);
  ctx.set('content-security-policy', csp(formTargets));
  ctx.body = body;
}

function originOf(uri: unknown): string[] {
  try {
    return typeof uri === 'string' ? [new URL(uri).origin] : [];
  } catch {
    return [];
  }
}

/** Builds the oidc-provider instance of one mock; mounted by the server under `/{name}`. */
export function createMockProvider(rt: MockRuntime): Provider {
  const prefix = new URL(rt.issuer).pathname;
  const policy = interactionPolicy.base();
  // A mock shows the picker at every authorization request (a developer switches persona and
  // scenario between two sign-ins); it only passes once the picker has just answered.
  policy.get('login')!.checks.add(new interactionPolicy.Check('mock_picker', 'every sign-in picks a persona', (ctx) =>
    !ctx.oidc.result?.login));
  const isFacebook = rt.name === 'facebook';

  const config: Configuration = {
    adapter: adapterFactory(rt.clients),
    jwks: { keys: [rt.signingKey] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: { ...ENGINE_CLAIMS, ...CLAIMS[rt.name] },
    // Real Google/Entra/Keycloak put the profile claims into the ID token of the code flow too.
    conformIdTokenClaims: false,
    scopes: isFacebook ? ['email', 'public_profile'] : ['openid', 'offline_access', 'email', 'profile'],
    responseTypes: ['code'],
    pkce: { required: () => false },
    routes: isFacebook ? FACEBOOK_ROUTES : {},
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: isFacebook ? 'client_secret_post' : 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: !isFacebook },
      backchannelLogout: { enabled: !isFacebook },
      rpInitiatedLogout: {
        enabled: !isFacebook,
        // The confirmation redirects on to the client: its origin must be a form-action target.
        logoutSource: async (ctx, form) => htmlPage(ctx, page('Sign out', `<h1>Sign out of the mock ${escapeHtml(rt.name)}?</h1>${form}`
          + '<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button> '
          + '<button type="submit" form="op.logoutForm">No</button>'), 200, originOf(ctx.oidc.params?.post_logout_redirect_uri)),
        postLogoutSuccessSource: async (ctx) => htmlPage(ctx, page('Signed out', `<h1>Signed out of the mock ${escapeHtml(rt.name)}</h1>`)),
      },
    },
    interactions: {
      policy,
      url: (_ctx, interaction) => `${prefix}/interaction/${interaction.uid}`,
    },
    // The engine refuses outgoing requests to loopback and private addresses (SSRF protection); a
    // development mock calls back (back-channel logout) to a Tessera on localhost, so it drops that guard.
    fetch: (url, options) => globalThis.fetch(url, { ...options, dispatcher: undefined } as RequestInit),
    ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
    findAccount: async (ctx, sub) => {
      const e = ctx.oidc.entities;
      const signIn = rt.signInForGrant(e.AuthorizationCode?.grantId ?? e.AccessToken?.grantId ?? e.RefreshToken?.grantId)
        ?? rt.signInForSub(sub);
      if (!signIn || signIn.sub !== sub) return undefined;
      return { accountId: sub, claims: async () => ({ ...signIn.claims, sub }) };
    },
    renderError: async (ctx, out) => {
      htmlPage(ctx, errorPage(`Mock ${rt.name}: ${out.error}`, String(out.error_description ?? out.error)), ctx.status || 400);
    },
  };
  const provider = new Provider(rt.issuer, config);
  // A developer wants to know why their back-channel logout endpoint heard nothing.
  provider.on('backchannel.error', (_ctx: unknown, err: Error, client: { clientId: string }) => {
    console.error(`mock ${rt.name}: back-channel logout to client ${client.clientId} failed: ${err.message}`);
  });

  provider.use(async (koaCtx, next) => {
    const ctx = koaCtx as unknown as KoaContextWithOIDC;
    // OAuth 2.0 only, as Facebook's Login dialog: no `openid`, so no ID token to lean on.
    if (isFacebook && ctx.path === FACEBOOK_ROUTES.authorization) {
      const scope = String(ctx.query.scope ?? '');
      if (scope.split(/[\s,]+/).includes('openid')) {
        htmlPage(ctx, errorPage('invalid_scope', 'The mock Facebook is OAuth 2.0 only: the openid scope is not supported.'), 400);
        return;
      }
    }
    await next();
    const route = ctx.oidc?.route;
    if (route === 'token' && ctx.status === 200) {
      const signIn = rt.signInForGrant(ctx.oidc.entities.AuthorizationCode?.grantId ?? ctx.oidc.entities.RefreshToken?.grantId);
      if (!signIn) return;
      const body = ctx.body as Record<string, unknown>;
      if (typeof body.id_token === 'string' && (signIn.scenario === 'bad_signature' || signIn.scenario === 'wrong_issuer')) {
        body.id_token = await reissueIdToken(body.id_token, signIn.scenario, rt.signer, rt.otherIssuer);
      }
      if (signIn.scenario === 'slow') await rt.slow();
    } else if (route === 'userinfo' && ctx.status === 200) {
      if (rt.signInForGrant(ctx.oidc.entities.AccessToken?.grantId)?.scenario === 'slow') await rt.slow();
    } else if (route === 'resume' && isFacebook) {
      // Facebook has no ID token; its mix-up case is the RFC 9207 `iss` of the authorization response.
      const result = ctx.oidc.result as { mock?: { scenario?: string } } | undefined;
      const location = ctx.response.get('location');
      if (result?.mock?.scenario === 'wrong_issuer' && location) {
        const url = new URL(location);
        if (url.searchParams.has('iss')) url.searchParams.set('iss', rt.otherIssuer);
        ctx.set('location', url.href);
      }
    }
  });
  return provider;
}
