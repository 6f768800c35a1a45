import { createHash } from 'node:crypto';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { originOf } from '../http/security.js';

/**
 * Per-client settings for relying parties as people already run them
 * (docs/relying-parties.md): each was found by trying a real one.
 */

/** Client metadata these settings add (beside RFC 7591's and Tessera's others). */
export const RP_CLIENT_PROPERTIES = ['logout_confirmation', 'default_resource', 'require_pkce', 'id_token_claims'] as const;

export const LOGOUT_CONFIRMATION = ['auto', 'always'] as const;

/** Why a client's relying-party settings are refused, or undefined (the engine's metadata validator). */
export function rpMetadataProblem(key: string, value: unknown, metadata: Record<string, unknown>): string | undefined {
  if (value === undefined) return undefined;
  if (key === 'logout_confirmation' && !(LOGOUT_CONFIRMATION as readonly unknown[]).includes(value)) return 'logout_confirmation must be auto or always';
  if (key === 'default_resource' && (typeof value !== 'string' || !URL.canParse(value))) return 'default_resource must be an API identifier (an absolute URI)';
  if (key === 'id_token_claims' && typeof value !== 'boolean') return 'id_token_claims must be true or false';
  if (key === 'require_pkce') {
    if (typeof value !== 'boolean') return 'require_pkce must be true or false';
    if (!value && metadata.token_endpoint_auth_method === 'none') return 'require_pkce cannot be false for a public client';
  }
  return undefined;
}

type Client = NonNullable<KoaContextWithOIDC['oidc']['client']>;
const extra = (client: Client | undefined, name: string): unknown => (client as unknown as Record<string, unknown> | undefined)?.[name];

/**
 * PKCE (S256) for every client, except a confidential client that opted out
 * with `require_pkce: false` *and* sends a `nonce`: relying parties without
 * PKCE support (mod_auth_openidc's default, passport-openidconnect) then
 * still bind the code to the browser's transaction through the nonce in the
 * ID token, and only a client that can authenticate may redeem the code.
 * Public clients never opt out: for them PKCE is the only binding.
 */
export function pkceRequired(ctx: KoaContextWithOIDC, client: Client): boolean {
  if (extra(client, 'require_pkce') !== false) return true;
  if (client.clientAuthMethod === 'none') return true;
  return typeof ctx.oidc.params?.nonce !== 'string' || ctx.oidc.params.nonce.length === 0;
}

/**
 * The API a request is for when it names none (RFC 8707 `resource`): the
 * client's `default_resource`, so a relying party that only sends
 * `scope=openid` still gets a JWT access token for its API.
 */
export function defaultResource(client: Client | undefined, oneOf: string | readonly string[] | undefined): string | readonly string[] | undefined {
  if (oneOf !== undefined) return oneOf;
  const fallback = extra(client, 'default_resource');
  return typeof fallback === 'string' ? fallback : undefined;
}

/**
 * RP-initiated logout without the confirmation page: the request carries a
 * valid `id_token_hint` (the engine verified its signature and audience
 * before calling the logout page) that names the signed-in user and, when
 * present, this session (`sid`), and the client did not ask for
 * `logout_confirmation: always`. Without a hint, another user's hint or
 * another session's, the page stays: a bare link must not sign anyone out.
 */
export function skipsLogoutConfirmation(ctx: KoaContextWithOIDC): boolean {
  const client = ctx.oidc.client;
  if (!client || extra(client, 'logout_confirmation') === 'always') return false;
  const hint = (ctx.oidc.entities as { IdTokenHint?: { payload?: Record<string, unknown> } }).IdTokenHint?.payload;
  const session = ctx.oidc.session;
  if (!hint || !session?.accountId || hint.sub !== session.accountId) return false;
  if (hint.sid !== undefined && hint.sid !== session.sidFor(client.clientId)) return false;
  return true;
}

/** The sign-out form with `logout=yes`, posted by the browser at once (an inline script allowed by its hash). */
export function autoLogoutPage(ctx: KoaContextWithOIDC, form: string, page: (form: string, button: string) => string): void {
  const script = "document.addEventListener('DOMContentLoaded',function(){document.forms['op.logoutForm'].submit()});";
  const hash = createHash('sha256').update(script).digest('base64');
  // The engine's form carries the xsrf token; `logout=yes` ends the whole session, as the confirmation's "Yes" would.
  const withChoice = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
  // The confirmation redirects to the post-logout URI: CSP's form-action covers redirects after a form post.
  const target = originOf(typeof ctx.oidc.params?.post_logout_redirect_uri === 'string' ? ctx.oidc.params.post_logout_redirect_uri : undefined);
  ctx.set('content-security-policy', `default-src 'none'; script-src 'sha256-${hash}'; style-src 'self'; img-src 'self' data:; form-action 'self'${target ? ` ${target}` : ''}; frame-ancestors 'none'; base-uri 'none'`);
  ctx.type = 'html';
  // Without JavaScript, one click on the page's button does the same.
  ctx.body = page(withChoice, `<script>${script}</script>`);
}

/**
 * RFC 7009 §2.2: the revocation endpoint answers 200. The engine sends an
 * empty `text/plain` body, which some clients refuse (oidc-client-ts accepts
 * only JSON types); an empty body without a content type is what they expect.
 */
export function revocationWithoutBody(ctx: { path: string; status: number; body: unknown }, next: () => Promise<unknown>, revocationPath: string): Promise<unknown> {
  // Other paths are handed on without an async frame (engine-paths.ts); the engine does not change ctx.path.
  if (ctx.path !== revocationPath) return next();
  return next().then(() => {
    if (ctx.status === 200 && (ctx.body === '' || ctx.body === undefined)) {
      ctx.body = null;
      ctx.status = 200;
    }
  });
}

/**
 * `id_token_claims: true`: the claims of the granted scopes (`profile`,
 * `email`, …) go in the ID token too, for relying parties that read only the
 * ID token (Auth.js by default). The engine otherwise keeps them for UserInfo
 * when the access token can be used there (OIDC Core §5.4); it then narrows
 * the ID token's scope to `openid`, which this widens back to the grant's
 * OpenID scopes for such clients.
 */
export function releaseScopeClaimsInIdToken(provider: { IdToken: unknown }): void {
  type Entities = { AuthorizationCode?: { scope?: string }; RefreshToken?: { scope?: string }; Grant?: { getOIDCScopeFiltered(s: Set<string>): string } };
  type IdTokenLike = { scope?: string; client?: Client; ctx?: KoaContextWithOIDC; payload(): Promise<Record<string, unknown>> };
  const proto = (provider.IdToken as { prototype: IdTokenLike }).prototype;
  const payload = proto.payload;
  proto.payload = async function payloadWithScopeClaims(this: IdTokenLike) {
    if (this.scope === 'openid' && extra(this.client, 'id_token_claims') === true) {
      const entities = this.ctx?.oidc?.entities as Entities | undefined;
      const requested = entities?.AuthorizationCode?.scope ?? entities?.RefreshToken?.scope;
      if (requested && entities?.Grant) this.scope = entities.Grant.getOIDCScopeFiltered(new Set(requested.split(' ')));
    }
    return payload.call(this);
  };
}
