import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decodeJwt } from 'jose';
import { AppError } from '../http/errors.js';
import { CookieSigner, readCookie, setCookie } from '../http/cookies.js';
import { ROUTES } from '../oidc/provider.js';
import type { OidcPayloadStore } from '../oidc/payload-store.js';
import type { UserRepository } from '../identity/repository.js';
import type { User } from '../identity/model.js';
import { ID_PATTERN, isUsable } from '../identity/model.js';
import { callbackQuery } from '../interaction/schemas.js';
import { ACR_MFA, acrSatisfies } from '../oidc/acr.js';

/** The built-in first-party client behind the account pages. */
export { ACCOUNT_CLIENT_ID } from '../oidc/built-in-clients.js';
import { ACCOUNT_CLIENT_ID } from '../oidc/built-in-clients.js';

const FLOW_COOKIE = 'tessera_signin';
const SESSION_COOKIE = 'tessera_account';
/** An account-page session never outlives this, nor the platform session it came from. */
const SESSION_MAX_AGE_S = 8 * 3600;

export interface AccountSessionDeps {
  issuer: string;
  cookieKey: string;
  payloads: OidcPayloadStore;
  users: UserRepository;
  /** Seconds a sign-in counts as recent for security changes (TESSERA_ACCOUNT_REAUTH_MAX_AGE; default ACCOUNT_STEP_UP_MAX_AGE_S). */
  reauthMaxAge?: number;
}

interface FlowState { state: string; nonce: string; verifier: string; returnTo: string }
/** `at` and `acr`: the sign-in's auth_time (epoch s) and acr, from the ID token, for step-up (`requireFresh`). */
interface SessionState { sub: string; sid: string; exp: number; at?: number; acr?: string }

/** How recent (seconds) a sign-in must be for a step-up operation on the account pages by default (TESSERA_ACCOUNT_REAUTH_MAX_AGE). */
export const ACCOUNT_STEP_UP_MAX_AGE_S = 600;

/** The stable error code of a JSON answer to a security change whose sign-in is too old (docs/errors.md). */
export const REAUTHENTICATION_REQUIRED = 'reauthentication_required';

/** What an operation on the account pages needs of the sign-in behind the session. */
export interface Freshness {
  /** The sign-in (or the last step-up) at most this many seconds ago. */
  maxAge: number;
  /** `mfa`: at Tessera's multi-factor level (a second factor is asked, or enrolled when the user has none). */
  acr?: 'mfa';
}

export interface CurrentAccount {
  user: User;
  /** The platform (engine) session id this account session is bound to. */
  sid: string;
  /** When the sign-in behind this session (or its last step-up) happened, epoch seconds; null when unknown. */
  authTime: number | null;
  /** Its authentication level (`urn:tessera:acr:pwd`, `urn:tessera:acr:mfa`); null when unknown. */
  acr: string | null;
}

/**
 * The account pages are a relying party of the platform itself: `/account/signin`
 * runs code + PKCE + nonce with the built-in client, and the callback redeems
 * the code in-process (the ID token comes straight from the issuer, OIDC Core
 * §3.1.3.7). The result is a signed, HttpOnly cookie bound to the platform
 * session: signing out of the platform ends it too.
 */
export class AccountSessions {
  private readonly signer: CookieSigner;
  private readonly secure: boolean;

  /** Seconds a sign-in counts as recent for security changes (authenticators, email, password, data export). */
  readonly reauthMaxAge: number;

  constructor(private readonly deps: AccountSessionDeps) {
    this.signer = new CookieSigner(`${deps.cookieKey}:account`);
    this.secure = deps.issuer.startsWith('https:');
    this.reauthMaxAge = deps.reauthMaxAge ?? ACCOUNT_STEP_UP_MAX_AGE_S;
  }

  /**
   * Security changes on the account pages (enrolling or removing an
   * authenticator, new recovery codes, changing the email or the password)
   * need a sign-in at most `reauthMaxAge` seconds old, not just a session
   * that may be 8 hours old: a browser left signed in must not let someone
   * else take the account over. Sends the browser to sign in again
   * (password asked, `prompt=login`) and back to `returnTo`; false after
   * redirecting.
   */
  requireRecent(reply: FastifyReply, account: CurrentAccount, returnTo: string): Promise<boolean> {
    return this.requireFresh(reply, account, { maxAge: this.reauthMaxAge }, returnTo);
  }

  /**
   * The same for JSON endpoints the pages call (passkey registration): the
   * page's script sends the browser to `/account/signin?step_up=recent`.
   * @throws AppError 401 `reauthentication_required` when the sign-in is too old
   */
  assertRecent(account: CurrentAccount): void {
    if (!this.isFresh(account, { maxAge: this.reauthMaxAge })) {
      throw new AppError(REAUTHENTICATION_REQUIRED, 401, 'This change needs a recent sign-in. Sign in again, then repeat it.');
    }
  }

  /** The signed-in user of this browser, if the platform session behind it is still alive. */
  async current(request: FastifyRequest): Promise<CurrentAccount | undefined> {
    const s = this.signer.verify<SessionState>(readCookie(request, SESSION_COOKIE));
    if (!s || typeof s.sub !== 'string' || typeof s.sid !== 'string' || !(s.exp > Date.now())) return undefined;
    // The ID token's `sid` is per client: find the user's platform session that issued it to this client.
    const sessions = await this.deps.payloads.listByAccount('Session', s.sub);
    const alive = sessions.some((session) =>
      (session.authorizations as Record<string, { sid?: string }> | undefined)?.[ACCOUNT_CLIENT_ID]?.sid === s.sid);
    if (!alive) return undefined;
    const user = await this.deps.users.findById(s.sub);
    // As for tokens (oidc/account.ts): pending, disabled and locked accounts are out; an expired temporary lock is not.
    if (!user || !isUsable(user)) return undefined;
    return { user, sid: s.sid, authTime: typeof s.at === 'number' ? s.at : null, acr: typeof s.acr === 'string' ? s.acr : null };
  }

  /** Like `current`, but sends the browser to sign in (and back to `returnTo`) when nobody is. */
  async require(request: FastifyRequest, reply: FastifyReply): Promise<CurrentAccount | undefined> {
    const account = await this.current(request);
    if (!account) {
      const path = request.url.split('?')[0] ?? '/account';
      // `?tenant=` says whose users sign in (the account pages serve every tenant: interaction/tenant.ts).
      const tenant = (request.query as { tenant?: unknown } | undefined)?.tenant;
      const query = new URLSearchParams({ return_to: path, ...(typeof tenant === 'string' && ID_PATTERN.test(tenant) ? { tenant } : {}) });
      await reply.redirect(`/account/signin?${query}`, 303);
    }
    return account;
  }

  /** True when the session's sign-in is recent enough (and strong enough) for `need`. */
  isFresh(account: CurrentAccount, need: Freshness, now = Date.now()): boolean {
    if (account.authTime === null || Math.floor(now / 1000) - account.authTime > need.maxAge) return false;
    return need.acr !== 'mfa' || acrSatisfies(account.acr, ACR_MFA);
  }

  /**
   * Step-up on the account pages (one mechanism for every operation that
   * needs it: a password change under `password.change_requires_mfa`, the
   * export of one's data, and changes that need a recent sign-in). When the
   * session is not fresh enough, sends the browser through the sign-in with
   * `max_age` (and `acr_values` for MFA), RFC 9470 style, and back to
   * `returnTo`: the engine asks for the password again when the sign-in is
   * older than `maxAge`, and only for the second factor when the level is
   * missing (mfa/login-step.ts), or for setting one up when the user has
   * none. Returns false after redirecting.
   */
  async requireFresh(reply: FastifyReply, account: CurrentAccount, need: Freshness, returnTo: string): Promise<boolean> {
    if (this.isFresh(account, need)) return true;
    const query = new URLSearchParams({ return_to: returnTo, step_up: need.acr ?? 'recent', max_age: String(need.maxAge), tenant: account.user.tenantId });
    await reply.redirect(`/account/signin?${query}`, 303);
    return false;
  }

  clear(reply: FastifyReply): void {
    setCookie(reply, SESSION_COOKIE, '', { path: '/', maxAge: 0, secure: this.secure, sameSite: 'Lax' });
  }

  register(app: FastifyInstance): void {
    const redirectUri = `${this.deps.issuer}/account/callback`;

    app.get('/account/signin', { config: { html: true } }, async (request, reply) => {
      const q = request.query as { return_to?: unknown; ui_locales?: unknown; tenant?: unknown; step_up?: unknown; max_age?: unknown };
      // A step-up (requireFresh): the engine re-authenticates when the sign-in is older than max_age, and asks for MFA with acr_values.
      const stepUp = q.step_up === 'mfa' || q.step_up === 'recent' ? q.step_up : undefined;
      const maxAge = typeof q.max_age === 'string' && /^\d{1,5}$/.test(q.max_age) ? q.max_age : stepUp === 'recent' ? String(this.reauthMaxAge) : undefined;
      const returnTo = typeof q.return_to === 'string' && /^\/account(\/[a-z-]*)?$/.test(q.return_to) ? q.return_to : '/account';
      const flow: FlowState = {
        state: randomBytes(16).toString('base64url'),
        nonce: randomBytes(16).toString('base64url'),
        verifier: randomBytes(32).toString('base64url'),
        returnTo,
      };
      const url = new URL(ROUTES.authorization, this.deps.issuer);
      url.search = new URLSearchParams({
        client_id: ACCOUNT_CLIENT_ID,
        response_type: 'code',
        scope: 'openid profile email phone',
        redirect_uri: redirectUri,
        state: flow.state,
        nonce: flow.nonce,
        code_challenge: createHash('sha256').update(flow.verifier).digest('base64url'),
        code_challenge_method: 'S256',
        // The session id binds the account cookie to the platform session (sign-out ends both).
        claims: JSON.stringify({ id_token: { sid: null, auth_time: { essential: true }, acr: null } }),
        ...(stepUp && maxAge ? { max_age: maxAge } : {}),
        ...(stepUp === 'mfa' ? { acr_values: ACR_MFA } : {}),
        // Re-authentication for a security change: the password again, whatever the session's age says.
        ...(stepUp === 'recent' ? { prompt: 'login' } : {}),
        ...(typeof q.ui_locales === 'string' && q.ui_locales.length < 64 ? { ui_locales: q.ui_locales } : {}),
        ...(typeof q.tenant === 'string' && ID_PATTERN.test(q.tenant) ? { tenant: q.tenant } : {}),
      }).toString();
      setCookie(reply, FLOW_COOKIE, this.signer.sign(flow), { path: '/account', maxAge: 600, secure: this.secure, sameSite: 'Lax' });
      return reply.redirect(url.pathname + url.search, 303);
    });

    app.get('/account/callback', { config: { html: true } }, async (request, reply) => {
      const q = callbackQuery.safeParse(request.query);
      const flow = this.signer.verify<FlowState>(readCookie(request, FLOW_COOKIE));
      if (!q.success || !flow) throw new AppError('invalid_request', 400, 'This sign-in response is not valid. Start again from the home page.');
      if (q.data.state !== flow.state) throw new AppError('invalid_request', 400, 'This sign-in response does not match the request. Start again.');
      if (q.data.error) throw new AppError('access_denied', 400, 'Sign-in was not completed.');
      if (q.data.iss !== undefined && q.data.iss !== this.deps.issuer) throw new AppError('invalid_request', 400, 'Unexpected issuer.');
      const res = await app.inject({
        method: 'POST',
        url: ROUTES.token,
        headers: { 'content-type': 'application/x-www-form-urlencoded', host: request.host, 'x-forwarded-proto': request.protocol },
        payload: new URLSearchParams({
          grant_type: 'authorization_code', code: q.data.code ?? '', redirect_uri: redirectUri, client_id: ACCOUNT_CLIENT_ID, code_verifier: flow.verifier,
        }).toString(),
      });
      if (res.statusCode !== 200) throw new AppError('access_denied', 400, 'Sign-in could not be completed. Start again.');
      const claims = decodeJwt((res.json() as { id_token: string }).id_token);
      if (claims.nonce !== flow.nonce || claims.aud !== ACCOUNT_CLIENT_ID || typeof claims.sub !== 'string' || typeof claims.sid !== 'string') {
        throw new AppError('invalid_request', 400, 'Sign-in could not be verified.');
      }
      setCookie(reply, FLOW_COOKIE, '', { path: '/account', maxAge: 0, secure: this.secure, sameSite: 'Lax' });
      const session: SessionState = {
        sub: claims.sub, sid: claims.sid, exp: Date.now() + SESSION_MAX_AGE_S * 1000,
        ...(typeof claims.auth_time === 'number' ? { at: claims.auth_time } : {}),
        ...(typeof claims.acr === 'string' ? { acr: claims.acr } : {}),
      };
      setCookie(reply, SESSION_COOKIE, this.signer.sign(session), { path: '/', maxAge: SESSION_MAX_AGE_S, secure: this.secure, sameSite: 'Lax' });
      return reply.redirect(flow.returnTo, 303);
    });
  }

  /** Where "sign out" on the account pages goes: the platform's end-session endpoint, back home afterwards. */
  logoutUrl(): string {
    const url = new URL(ROUTES.end_session, this.deps.issuer);
    url.search = new URLSearchParams({ client_id: ACCOUNT_CLIENT_ID, post_logout_redirect_uri: `${this.deps.issuer}/` }).toString();
    return url.pathname + url.search;
  }
}
