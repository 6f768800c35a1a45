import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decodeJwt } from 'jose';
import { AppError } from '../http/errors.js';
import { pageCsp } from '../http/security.js';
import { ROUTES } from '../oidc/provider.js';
import { accountPage } from './views.js';
import { callbackQuery } from './schemas.js';

/** The built-in first-party client behind the home page's "Sign in" (the account pages grow from here). */
export const ACCOUNT_CLIENT_ID = 'tessera-account';

const COOKIE = 'tessera_signin';

export interface AccountDeps {
  issuer: string;
  cookieKey: string;
}

/**
 * A minimal relying party inside the platform: `/account` signs the user in
 * through the authorization server (code + PKCE + nonce, like any client) and
 * shows who they are. The code is redeemed in-process through the token
 * endpoint, so the ID token comes straight from the issuer (OIDC Core §3.1.3.7).
 */
export function registerAccountRoutes(app: FastifyInstance, deps: AccountDeps): void {
  const redirectUri = `${deps.issuer}/account/callback`;
  const sign = (value: string) => `${value}.${createHmac('sha256', deps.cookieKey).update(value).digest('base64url')}`;
  const unsign = (signed: string | undefined): string | undefined => {
    if (!signed) return undefined;
    const i = signed.lastIndexOf('.');
    if (i < 0) return undefined;
    const value = signed.slice(0, i);
    const a = Buffer.from(sign(value));
    const b = Buffer.from(signed);
    return a.length === b.length && timingSafeEqual(a, b) ? value : undefined;
  };

  app.get('/account', { config: { html: true } }, async (_request, reply) => {
    const state = randomBytes(16).toString('base64url');
    const nonce = randomBytes(16).toString('base64url');
    const verifier = randomBytes(32).toString('base64url');
    const url = new URL(ROUTES.authorization, deps.issuer);
    url.search = new URLSearchParams({
      client_id: ACCOUNT_CLIENT_ID,
      response_type: 'code',
      scope: 'openid profile email',
      redirect_uri: redirectUri,
      state,
      nonce,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    setCookie(reply, sign(Buffer.from(JSON.stringify({ state, nonce, verifier })).toString('base64url')), 600, secure(deps.issuer));
    return reply.redirect(url.pathname + url.search, 303);
  });

  app.get('/account/callback', { config: { html: true } }, async (request, reply) => {
    const q = callbackQuery.safeParse(request.query);
    const saved = unsign(readCookie(request, COOKIE));
    if (!q.success || !saved) throw new AppError('invalid_request', 400, 'This sign-in response is not valid. Start again from the home page.');
    const { state, nonce, verifier } = JSON.parse(Buffer.from(saved, 'base64url').toString('utf8')) as { state: string; nonce: string; verifier: string };
    if (q.data.state !== state) throw new AppError('invalid_request', 400, 'This sign-in response does not match the request. Start again.');
    if (q.data.error) throw new AppError('access_denied', 400, 'Sign-in was not completed.');
    if (q.data.iss !== undefined && q.data.iss !== deps.issuer) throw new AppError('invalid_request', 400, 'Unexpected issuer.');
    const res = await app.inject({
      method: 'POST',
      url: ROUTES.token,
      headers: { 'content-type': 'application/x-www-form-urlencoded', host: request.host, 'x-forwarded-proto': request.protocol },
      payload: new URLSearchParams({
        grant_type: 'authorization_code', code: q.data.code ?? '', redirect_uri: redirectUri, client_id: ACCOUNT_CLIENT_ID, code_verifier: verifier,
      }).toString(),
    });
    if (res.statusCode !== 200) throw new AppError('access_denied', 400, 'Sign-in could not be completed. Start again.');
    const { id_token: idToken, access_token: accessToken } = res.json() as { id_token: string; access_token: string };
    const idClaims = decodeJwt(idToken);
    if (idClaims.nonce !== nonce || idClaims.aud !== ACCOUNT_CLIENT_ID) throw new AppError('invalid_request', 400, 'Sign-in could not be verified.');
    // Profile claims come from UserInfo (the ID token carries only the essentials).
    const info = await app.inject({
      method: 'GET', url: ROUTES.userinfo,
      headers: { authorization: `Bearer ${accessToken}`, host: request.host, 'x-forwarded-proto': request.protocol },
    });
    const userinfo = info.statusCode === 200 ? (info.json() as Record<string, unknown>) : {};
    const claims = userinfo.sub === idClaims.sub ? { ...idClaims, ...userinfo } : idClaims;
    setCookie(reply, '', 0, secure(deps.issuer));
    const logout = new URL(ROUTES.end_session, deps.issuer);
    logout.search = new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: `${deps.issuer}/`, client_id: ACCOUNT_CLIENT_ID }).toString();
    return reply.type('text/html; charset=utf-8').header('content-security-policy', pageCsp())
      .header('cache-control', 'no-store').send(accountPage(claims, logout.pathname + logout.search));
  });
}

function secure(issuer: string): boolean {
  return issuer.startsWith('https:');
}

function setCookie(reply: FastifyReply, value: string, maxAge: number, isSecure: boolean): void {
  reply.header('set-cookie', `${COOKIE}=${value}; Path=/account; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${isSecure ? '; Secure' : ''}`);
}

function readCookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}
