import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { BffConfig } from './config.js';
import { csrfValid } from './csrf.js';
import { ERRORS, LoginRequired, loggableError, safeReturnTo, sendError } from './errors.js';
import { oauthErrorCode } from './oidc.js';
import type { OidcClient } from './oidc.js';
import { randomId } from './session.js';
import { LoginQuerySchema, passThroughParams } from './login-params.js';
import type { LoadedSession, Sessions, Transactions } from './session.js';

export interface RouteDeps {
  config: BffConfig;
  oidc: OidcClient;
  sessions: Sessions;
  transactions: Transactions;
  now: () => number;
  loadSession(req: FastifyRequest): Promise<LoadedSession | undefined>;
  readLoginCookie(req: FastifyRequest): string | undefined;
  setSessionCookie(reply: FastifyReply, id: string): void;
  setLoginCookie(reply: FastifyReply, id: string): void;
  clearLoginCookie(reply: FastifyReply): void;
  forgetSession(reply: FastifyReply): void;
}

const LogoutForm = z.object({ csrf: z.string().optional() }).loose();

/** The BFF's own endpoints under `/bff`: sign in, callback, who am I, sign out. */
export function registerBffRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { config, oidc, sessions, transactions } = deps;

  app.register(async (scope) => {
    // Only the no-script logout form posts a urlencoded body.
    await scope.register(formbody);
    scope.addHook('onSend', async (_req, reply) => {
      // Responses here are per-user (claims, CSRF token, redirects with codes): never cached.
      reply.header('cache-control', 'no-store');
      reply.header('x-content-type-options', 'nosniff');
    });

    /** Starts code + PKCE + state + nonce; the transaction is kept server-side, keyed by a cookie. */
    scope.get('/bff/login', async (req, reply) => {
      const query = LoginQuerySchema.safeParse(req.query);
      if (!query.success) {
        const issue = query.error.issues[0];
        return failurePage(reply, 400, `The sign-in request is not valid (${issue?.path.join('.') || 'query'}).`);
      }
      const tx = {
        state: randomId(),
        nonce: randomId(),
        verifier: randomId(),
        returnTo: safeReturnTo(query.data.returnTo),
      };
      let url: URL;
      try {
        url = await oidc.authorizationUrl(tx, passThroughParams(query.data));
      } catch (err) {
        req.log.error({ err: loggableError(err) }, 'cannot build the authorization request (discovery failed?)');
        return sendError(reply, ERRORS.platform());
      }
      deps.setLoginCookie(reply, await transactions.create(tx));
      return reply.redirect(url.href, 302);
    });

    /** The platform redirects back here with `code`, `state` and `iss`. */
    scope.get(config.callbackPath, async (req, reply) => {
      // The code travels in this URL: keep it out of Referer headers of whatever loads next.
      reply.header('referrer-policy', 'no-referrer');
      const txId = deps.readLoginCookie(req);
      const tx = txId ? await transactions.take(txId) : undefined;
      deps.clearLoginCookie(reply);
      if (!tx) return failurePage(reply, 400, 'This sign-in link has expired or was already used.');
      const queryAt = req.url.indexOf('?');
      let tokens;
      try {
        tokens = await oidc.redeem(queryAt < 0 ? '' : req.url.slice(queryAt), tx);
      } catch (err) {
        const code = oauthErrorCode(err);
        req.log.warn({ err: loggableError(err) }, 'sign-in callback failed');
        // An OAuth error (access_denied, invalid_grant) or a response that fails
        // openid-client's checks (state, iss, nonce: a forged or crossed callback)
        // is a bad request; anything else (the platform unreachable) is a 502.
        const rejected = code !== undefined || String((err as { code?: unknown }).code ?? '').startsWith('OAUTH_');
        return failurePage(reply, rejected ? 400 : 502, code === 'access_denied' ? 'Sign-in was cancelled.' : 'Sign-in did not complete.');
      }
      const claims = tokens.claims ?? {};
      const sub = typeof claims.sub === 'string' ? claims.sub : undefined;
      if (!sub) return failurePage(reply, 502, 'Sign-in did not complete.');
      if (tokens.accessTokenExpiresAt - deps.now() <= config.renewBeforeSeconds * 1000) {
        req.log.warn('the access token lives no longer than BFF_RENEW_BEFORE: every API call will renew it; lower BFF_RENEW_BEFORE');
      }
      if (!tokens.refreshToken) req.log.warn('no refresh token issued: the session ends when the access token expires (is the client first_party with the refresh_token grant?)');
      // A fresh id at every sign-in (session fixation); the previous session, if any, is ended.
      const previous = await deps.loadSession(req);
      if (previous) await sessions.destroy(previous.key);
      const { id } = await sessions.create({
        sub,
        claims,
        idToken: tokens.idToken,
        accessToken: tokens.accessToken,
        accessTokenExpiresAt: tokens.accessTokenExpiresAt,
        refreshToken: tokens.refreshToken,
        ...(tokens.scopes ? { scopes: tokens.scopes } : {}),
        ...(tokens.sid ? { sid: tokens.sid } : {}),
      }, config.sessionTtlSeconds);
      deps.setSessionCookie(reply, id);
      req.log.info({ sub }, 'signed in');
      return reply.redirect(tx.returnTo, 303);
    });

    /** Who is signed in, and the CSRF token for state-changing calls. Never any token. */
    scope.get('/bff/user', async (req, reply) => {
      const loaded = await deps.loadSession(req);
      if (!loaded) {
        deps.forgetSession(reply);
        return sendError(reply, new LoginRequired('not signed in'), { login_url: '/bff/login' });
      }
      const { session } = loaded;
      return {
        sub: session.sub,
        claims: session.claims,
        scopes: session.scopes ?? config.scope.split(' '),
        mfa: mfaState(session.claims),
        csrf_token: session.csrf,
        session_expires_at: new Date(session.expiresAt).toISOString(),
      };
    });

    /**
     * Ends the local session (and revokes its refresh token), then sends the
     * browser to the platform's end-session endpoint. Scripts send
     * `x-bff-csrf` and get `{ redirect }`; the no-script form sends a `csrf`
     * field and gets a 303.
     */
    scope.post('/bff/logout', async (req, reply) => {
      const form = LogoutForm.safeParse(req.body ?? {});
      const wantsJson = req.headers['x-bff-csrf'] !== undefined || String(req.headers.accept ?? '').includes('application/json');
      const loaded = await deps.loadSession(req);
      let idToken: string | undefined;
      if (loaded) {
        if (!csrfValid(req, loaded.session, config.publicOrigin, form.success ? form.data.csrf : undefined)) {
          req.log.warn('logout without a valid CSRF token refused');
          return sendError(reply, ERRORS.csrf());
        }
        idToken = loaded.session.idToken;
        await sessions.destroy(loaded.key);
        // The local session is gone either way; revocation is best effort. It
        // matters when the user declines the platform's sign-out confirmation:
        // the refresh token must not outlive the BFF session.
        if (loaded.session.refreshToken) {
          await oidc.revoke(loaded.session.refreshToken).catch((err: unknown) => req.log.warn({ err: loggableError(err) }, 'refresh token revocation failed'));
        }
        req.log.info({ sub: loaded.session.sub }, 'signed out');
      }
      deps.forgetSession(reply);
      let redirect: string;
      try {
        redirect = (await oidc.endSessionUrl(idToken)).href;
      } catch (err) {
        req.log.warn({ err: loggableError(err) }, 'end-session URL unavailable; signing out locally only');
        redirect = config.postLogoutRedirectUri ?? '/';
      }
      return wantsJson ? reply.send({ redirect }) : reply.redirect(redirect, 303);
    });
  });
}

/**
 * Whether the user has a second factor and whether policy requires one for
 * this app, from the platform's `mfa_enrolled` / `mfa_required` ID token
 * claims; `null` where the platform did not say.
 */
function mfaState(claims: Record<string, unknown>): { enrolled: boolean | null; required: boolean | null } {
  const bool = (v: unknown) => (typeof v === 'boolean' ? v : null);
  return { enrolled: bool(claims.mfa_enrolled), required: bool(claims.mfa_required) };
}

/** A minimal page for a failed callback (a navigation, so HTML); no script, no user input echoed. */
function failurePage(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    .send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in failed</title></head>`
      + `<body><h1>Sign-in failed</h1><p>${message}</p><p><a href="/bff/login">Sign in again</a></p></body></html>`);
}
