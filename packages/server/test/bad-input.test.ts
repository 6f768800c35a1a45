/**
 * Bad input, every endpoint: a table of malformed, duplicated, oversized,
 * unauthenticated, forged and expired requests. Each must get a 4xx with an
 * RFC 6749-style `error` (JSON for API clients, an error page for browser
 * flows, or an error redirect to a *registered* redirect URI where the
 * protocol says so), never a 500 and never a stack trace or driver message.
 *
 * Expected codes are the engine's own (oidc-provider lib/helpers/errors.js,
 * lib/shared/*.js, lib/actions/*) and, for Tessera's routes, the catalogue in
 * src/http/errors.ts. Rows that exercised a real defect say so in a comment.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SignJWT, generateKeyPair } from 'jose';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { UserAgent } from './helpers/agent.js';
import { signInThrough } from './helpers/flows.js';
import { API, CONF_SECRET, REDIRECT, SERVICE_SECRET, USER, baseConfig } from './fixtures.js';

const SHORT_SECRET = 'short-lived-secret-0123456789-abcdefghij';
const NARROW_SECRET = 'narrow-scope-secret-0123456789-abcdefgh';

const config = {
  ...baseConfig,
  clients: [
    ...baseConfig.clients,
    // Access tokens that expire after one second, for the expired-token rows.
    {
      client_id: 'short-spa', token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT],
      grant_types: ['authorization_code'], first_party: true, access_token_ttl: 1,
    },
    { client_id: 'short-service', client_secret: SHORT_SECRET, grant_types: ['client_credentials'], access_token_ttl: 1 },
    // A client limited to one scope, so a scope outside it is refused (invalid_scope).
    { client_id: 'narrow-service', client_secret: NARROW_SECRET, grant_types: ['client_credentials'], scope: 'profile' },
  ],
};

const FORM = 'application/x-www-form-urlencoded';
/** What a browser sends: the engine and Tessera answer browser flows with a page. */
const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const NO_SUCH_UID = 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd';

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const SERVICE = basic('service', SERVICE_SECRET);
const WEB = basic('web', CONF_SECRET);
const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');
const qs = (params: Record<string, string>) => new URLSearchParams(params).toString();

/** Changes one character well inside the value (the last base64url character may only carry padding bits). */
function tamper(token: string): string {
  const i = token.length - 10;
  return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
}

interface Fixtures {
  issuer: string;
  /** A live interaction at its login prompt: its uid and the cookies that bind it to this "browser". */
  interaction: { uid: string; cookie: string };
  /** A code already redeemed once (presenting it again revokes its grant, so it has its own). */
  usedCode: { code: string; verifier: string };
  /** Unredeemed codes, one per row that presents one, each from its own sign-in (so its own grant). */
  freshCodes: { code: string; verifier: string }[];
  refreshToken: string;
  idToken: string;
  userAccessToken: string;
  jwtAccessToken: string;
  expiredUserAccessToken: string;
  expiredServiceToken: string;
  /** An access-token-shaped JWT signed with a key Tessera never had, and long expired. */
  forgedJwt: string;
  /** An ID-token-shaped JWT for 'spa' signed with a key Tessera never had. */
  forgedIdToken: string;
}

interface Req {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

interface Row {
  name: string;
  request: Req | ((f: Fixtures) => Req);
  expect: {
    status: number;
    /** The RFC 6749-style code: JSON `error`, the code on the error page, or the `error` of an error redirect. */
    error?: string;
    /** An HTML page (browser flows) rather than JSON. */
    html?: boolean;
    /** Members the JSON body must have (for 200 answers such as `{ active: false }`). */
    body?: Record<string, unknown>;
    /** WWW-Authenticate must match. */
    challenge?: RegExp;
  };
}

/** `authorization: null` sends no Authorization header. */
const token = (body: string, authorization: string | null = SERVICE, extra: Record<string, string> = {}): Req => ({
  method: 'POST', path: '/oidc/token', body,
  headers: { 'content-type': FORM, ...(authorization ? { authorization } : {}), ...extra },
});
const introspect = (body: string, authorization: string | null = SERVICE, extra: Record<string, string> = {}): Req => ({
  method: 'POST', path: '/oidc/token/introspection', body,
  headers: { 'content-type': FORM, ...(authorization ? { authorization } : {}), ...extra },
});
const revoke = (body: string, authorization: string | null = SERVICE): Req => ({
  method: 'POST', path: '/oidc/token/revocation', body,
  headers: { 'content-type': FORM, ...(authorization ? { authorization } : {}) },
});
const userinfo = (authorization?: string, extra: Partial<Req> = {}): Req => ({
  path: '/oidc/me', ...extra, headers: { ...(authorization ? { authorization } : {}), ...extra.headers },
});
const browser = (path: string, extra: Partial<Req> = {}): Req => ({ path, ...extra, headers: { accept: BROWSER, ...extra.headers } });
const authorize = (params: Record<string, string>, raw = '') => browser(`/oidc/auth?${qs(params)}${raw}`);
const goodAuth = { client_id: 'spa', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, code_challenge: s256('v'.repeat(43)), code_challenge_method: 'S256' };
const codeGrant = (code: string, verifier: string, extra: Record<string, string> = {}) =>
  qs({ grant_type: 'authorization_code', client_id: 'spa', code, redirect_uri: REDIRECT, code_verifier: verifier, ...extra });
const login = (f: Fixtures, body: string, headers: Record<string, string> = {}): Req => ({
  method: 'POST', path: `/interaction/${f.interaction.uid}/login`, body,
  headers: { accept: BROWSER, 'content-type': FORM, cookie: f.interaction.cookie, ...headers },
});

const ROWS: Row[] = [
  // ── /oidc/token: request syntax ────────────────────────────────────────────
  { name: 'token: missing grant_type', request: token(''), expect: { status: 400, error: 'invalid_request' } },
  // The legacy password grant exists, but only for clients that list it (b2b.test.ts).
  { name: 'token: password grant for a client without it', request: token('grant_type=password&username=alice&password=x'), expect: { status: 400, error: 'invalid_request' } },
  { name: 'token: unknown grant_type', request: token('grant_type=urn%3Aexample%3Anope'), expect: { status: 400, error: 'unsupported_grant_type' } },
  { name: 'token: implicit is not a grant', request: token('grant_type=implicit'), expect: { status: 400, error: 'unsupported_grant_type' } },
  { name: 'token: grant_type repeated', request: token('grant_type=client_credentials&grant_type=client_credentials'), expect: { status: 400, error: 'invalid_request' } },
  { name: 'token: scope repeated', request: token('grant_type=client_credentials&scope=read&scope=write'), expect: { status: 400, error: 'invalid_request' } },
  {
    name: 'token: client_id repeated (client_secret_post)',
    request: token(qs({ grant_type: 'refresh_token', refresh_token: 'x', client_secret: CONF_SECRET }) + '&client_id=web-post&client_id=web-post', null),
    expect: { status: 400, error: 'invalid_request' },
  },
  { name: 'token: JSON body instead of a form', request: token('{"grant_type":"client_credentials"}', SERVICE, { 'content-type': 'application/json' }), expect: { status: 400, error: 'invalid_request' } },
  { name: 'token: malformed JSON body', request: token('{"grant_type":', SERVICE, { 'content-type': 'application/json' }), expect: { status: 400, error: 'invalid_request' } },
  { name: 'token: text/plain body', request: token('grant_type=client_credentials', SERVICE, { 'content-type': 'text/plain' }), expect: { status: 400, error: 'invalid_request' } },
  { name: 'token: body without content type', request: { method: 'POST', path: '/oidc/token', headers: { authorization: SERVICE }, body: 'grant_type=client_credentials' }, expect: { status: 400, error: 'invalid_request' } },
  { name: 'token: malformed percent-encoding', request: token('grant_type=client%ZZcredentials&%%%=%A'), expect: { status: 400, error: 'unsupported_grant_type' } },
  // A truncated UTF-8 sequence (%E0%A4 then a literal "%A"): invalid UTF-8 (http/utf8.ts).
  { name: 'token: percent-encoded invalid UTF-8', request: token('grant_type=client_credentials&%%%=%E0%A4%A'), expect: { status: 400, error: 'invalid_request' } },
  { name: 'token: 1 MB body', request: token(`grant_type=client_credentials&pad=${'a'.repeat(1024 * 1024)}`), expect: { status: 400, error: 'invalid_request' } },
  { name: 'token: browser Accept gets an error page', request: token('grant_type=urn%3Aexample%3Anope', SERVICE, { accept: BROWSER }), expect: { status: 400, error: 'unsupported_grant_type', html: true } },

  // ── /oidc/token: client authentication ────────────────────────────────────
  { name: 'token: wrong client secret', request: token('grant_type=client_credentials', basic('service', 'wrong-secret')), expect: { status: 401, error: 'invalid_client', challenge: /^Basic realm=/ } },
  { name: 'token: unknown client (basic)', request: token('grant_type=client_credentials', basic('nobody', 'whatever')), expect: { status: 401, error: 'invalid_client' } },
  { name: 'token: unknown public client', request: token(codeGrant('x', 'v'.repeat(43), { client_id: 'nobody' }), null), expect: { status: 401, error: 'invalid_client' } },
  // Defect (PostgreSQL only): a NUL in client_id reached the driver, which rejects it → 500.
  { name: 'token: client_id containing NUL', request: token(codeGrant('x', 'v'.repeat(43), { client_id: 'sp\u0000a' }), null), expect: { status: 401, error: 'invalid_client' } },
  { name: 'token: no client authentication at all', request: token('grant_type=client_credentials', null), expect: { status: 400, error: 'invalid_request' } },
  { name: 'token: malformed Basic header', request: token('grant_type=client_credentials', 'Basic !!!not-base64'), expect: { status: 400, error: 'invalid_request' } },
  { name: 'token: Basic credentials not URL-encoded properly', request: token('grant_type=client_credentials', `Basic ${Buffer.from('service:%zz').toString('base64')}`), expect: { status: 400, error: 'invalid_request' } },
  { name: 'token: two authentication mechanisms', request: token(`grant_type=client_credentials&client_id=service&client_secret=${SERVICE_SECRET}`), expect: { status: 400, error: 'invalid_request' } },
  { name: 'token: confidential client without its secret', request: token('grant_type=client_credentials&client_id=service', null), expect: { status: 401, error: 'invalid_client' } },
  { name: 'token: grant type not registered for the client', request: token('grant_type=client_credentials', WEB), expect: { status: 400, error: 'invalid_request' } },

  // ── /oidc/token: client_credentials ───────────────────────────────────────
  { name: 'client_credentials: unknown resource', request: token('grant_type=client_credentials&resource=https%3A%2F%2Fnope.example.test'), expect: { status: 400, error: 'invalid_target' } },
  { name: 'client_credentials: resource not an absolute URI', request: token('grant_type=client_credentials&resource=api'), expect: { status: 400, error: 'invalid_target' } },
  { name: 'client_credentials: resource with a fragment', request: token(`grant_type=client_credentials&resource=${encodeURIComponent(`${API}#x`)}`), expect: { status: 400, error: 'invalid_target' } },
  { name: 'client_credentials: a second, unknown resource', request: token(`grant_type=client_credentials&resource=${encodeURIComponent(API)}&resource=${encodeURIComponent('https://other.example.test')}`), expect: { status: 400, error: 'invalid_target' } },
  // Defect (PostgreSQL only): the resource indicator reached the driver with its NUL → 500.
  { name: 'client_credentials: resource containing NUL', request: token(`grant_type=client_credentials&resource=${encodeURIComponent(API)}%00`), expect: { status: 400, error: 'invalid_target' } },
  { name: 'client_credentials: scope with invalid characters', request: token('grant_type=client_credentials&scope=%22read%5C'), expect: { status: 400, error: 'invalid_scope' } },
  { name: 'client_credentials: scope outside the client\'s', request: token('grant_type=client_credentials&scope=email', basic('narrow-service', NARROW_SECRET)), expect: { status: 400, error: 'invalid_scope' } },

  // ── /oidc/token: authorization_code ───────────────────────────────────────
  { name: 'authorization_code: unknown code', request: token(codeGrant('not-a-real-code', 'v'.repeat(43)), null), expect: { status: 400, error: 'invalid_grant' } },
  // Defect (PostgreSQL only): the code reached the driver with its NUL → 500.
  { name: 'authorization_code: code containing NUL', request: token(codeGrant('abc\u0000def', 'v'.repeat(43)), null), expect: { status: 400, error: 'invalid_grant' } },
  { name: 'authorization_code: code already used', request: (f) => token(codeGrant(f.usedCode.code, f.usedCode.verifier), null), expect: { status: 400, error: 'invalid_grant' } },
  { name: 'authorization_code: wrong code_verifier', request: (f) => token(codeGrant(f.freshCodes[0]!.code, 'w'.repeat(43)), null), expect: { status: 400, error: 'invalid_grant' } },
  { name: 'authorization_code: code_verifier too short', request: (f) => token(codeGrant(f.freshCodes[1]!.code, 'short'), null), expect: { status: 400, error: 'invalid_request' } },
  { name: 'authorization_code: code_verifier missing', request: (f) => token(qs({ grant_type: 'authorization_code', client_id: 'spa', code: f.freshCodes[2]!.code, redirect_uri: REDIRECT }), null), expect: { status: 400, error: 'invalid_grant' } },
  { name: 'authorization_code: other redirect_uri', request: (f) => token(codeGrant(f.freshCodes[3]!.code, f.freshCodes[3]!.verifier, { redirect_uri: 'http://127.0.0.1:9/other' }), null), expect: { status: 400, error: 'invalid_grant' } },
  {
    name: 'authorization_code: code issued to another client',
    request: (f) => token(qs({ grant_type: 'authorization_code', code: f.freshCodes[4]!.code, redirect_uri: REDIRECT, code_verifier: f.freshCodes[4]!.verifier }), WEB),
    expect: { status: 400, error: 'invalid_grant' },
  },
  { name: 'authorization_code: code missing', request: token(qs({ grant_type: 'authorization_code', client_id: 'spa', redirect_uri: REDIRECT, code_verifier: 'v'.repeat(43) }), null), expect: { status: 400, error: 'invalid_request' } },
  { name: 'authorization_code: code repeated', request: token(`${codeGrant('a', 'v'.repeat(43))}&code=b`, null), expect: { status: 400, error: 'invalid_request' } },

  // ── /oidc/token: refresh_token ─────────────────────────────────────────────
  { name: 'refresh_token: garbage', request: token('grant_type=refresh_token&client_id=spa&refresh_token=garbage', null), expect: { status: 400, error: 'invalid_grant' } },
  // Defect (PostgreSQL only): NUL reached the driver → 500.
  { name: 'refresh_token: containing NUL', request: token('grant_type=refresh_token&client_id=spa&refresh_token=%00', null), expect: { status: 400, error: 'invalid_grant' } },
  { name: 'refresh_token: tampered', request: (f) => token(`grant_type=refresh_token&client_id=spa&refresh_token=${tamper(f.refreshToken)}`, null), expect: { status: 400, error: 'invalid_grant' } },
  { name: 'refresh_token: another client\'s', request: (f) => token(`grant_type=refresh_token&refresh_token=${f.refreshToken}`, WEB), expect: { status: 400, error: 'invalid_grant' } },
  { name: 'refresh_token: missing', request: token('grant_type=refresh_token&client_id=spa', null), expect: { status: 400, error: 'invalid_request' } },

  // ── /oidc/auth (browser) ───────────────────────────────────────────────────
  { name: 'auth: no parameters', request: browser('/oidc/auth'), expect: { status: 400, error: 'invalid_request', html: true } },
  { name: 'auth: unknown client → error page, not a redirect', request: authorize({ ...goodAuth, client_id: 'nobody' }), expect: { status: 400, error: 'invalid_client', html: true } },
  // Defect (PostgreSQL only): 500 page.
  { name: 'auth: client_id containing NUL', request: authorize({ ...goodAuth, client_id: 'sp\u0000a' }), expect: { status: 400, error: 'invalid_client', html: true } },
  { name: 'auth: client_id repeated', request: authorize(goodAuth, '&client_id=spa'), expect: { status: 400, error: 'invalid_request', html: true } },
  { name: 'auth: unregistered redirect_uri → error page, never a redirect', request: authorize({ ...goodAuth, redirect_uri: 'https://evil.example/cb' }), expect: { status: 400, error: 'invalid_redirect_uri', html: true } },
  { name: 'auth: redirect_uri missing', request: authorize({ client_id: 'spa', response_type: 'code', scope: 'openid' }), expect: { status: 400, error: 'invalid_request', html: true } },
  { name: 'auth: PKCE missing → error redirect', request: authorize({ client_id: 'spa', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, state: 's' }), expect: { status: 303, error: 'invalid_request' } },
  { name: 'auth: code_challenge_method=plain refused', request: authorize({ ...goodAuth, code_challenge: 'p'.repeat(43), code_challenge_method: 'plain' }), expect: { status: 303, error: 'invalid_request' } },
  { name: 'auth: response_type=token refused', request: authorize({ ...goodAuth, response_type: 'token' }), expect: { status: 303, error: 'unsupported_response_type' } },
  { name: 'auth: response_type missing', request: authorize({ ...goodAuth, response_type: '' }), expect: { status: 303, error: 'invalid_request' } },
  { name: 'auth: prompt=none without a session', request: authorize({ ...goodAuth, prompt: 'none' }), expect: { status: 303, error: 'login_required' } },
  { name: 'auth: unknown resource', request: authorize({ ...goodAuth, resource: 'https://nope.example.test' }), expect: { status: 303, error: 'invalid_target' } },
  { name: 'auth: unknown interaction to resume', request: browser(`/oidc/auth/${NO_SUCH_UID}`), expect: { status: 400, error: 'invalid_request', html: true } },
  // Defect: unmatched engine routes answered Koa's text/plain "Not Found".
  { name: 'auth: POST is not enabled', request: browser('/oidc/auth', { method: 'POST', headers: { 'content-type': FORM }, body: qs(goodAuth) }), expect: { status: 404, error: 'not_found', html: true } },

  // ── /oidc/me ──────────────────────────────────────────────────────────────
  { name: 'userinfo: no token', request: userinfo(), expect: { status: 401, error: 'invalid_token', challenge: /^Bearer realm="[^"]+"/ } },
  { name: 'userinfo: garbage token', request: userinfo('Bearer garbage'), expect: { status: 401, error: 'invalid_token', challenge: /^Bearer .*error="invalid_token"/ } },
  { name: 'userinfo: tampered access token', request: (f) => userinfo(`Bearer ${tamper(f.userAccessToken)}`), expect: { status: 401, error: 'invalid_token', challenge: /error="invalid_token"/ } },
  { name: 'userinfo: expired access token', request: (f) => userinfo(`Bearer ${f.expiredUserAccessToken}`), expect: { status: 401, error: 'invalid_token', challenge: /error="invalid_token"/ } },
  { name: 'userinfo: tampered JWT access token', request: (f) => userinfo(`Bearer ${tamper(f.jwtAccessToken)}`), expect: { status: 401, error: 'invalid_token', challenge: /error="invalid_token"/ } },
  { name: 'userinfo: forged, expired JWT', request: (f) => userinfo(`Bearer ${f.forgedJwt}`), expect: { status: 401, error: 'invalid_token', challenge: /error="invalid_token"/ } },
  { name: 'userinfo: token in the query string', request: { path: '/oidc/me?access_token=garbage' }, expect: { status: 400, error: 'invalid_request' } },
  {
    name: 'userinfo: token sent twice (header and body)',
    request: userinfo('Bearer garbage', { method: 'POST', headers: { 'content-type': FORM }, body: 'access_token=garbage' }),
    expect: { status: 400, error: 'invalid_request' },
  },
  { name: 'userinfo: Basic scheme', request: userinfo(SERVICE), expect: { status: 400, error: 'invalid_request' } },
  { name: 'userinfo: JSON body', request: userinfo('Bearer garbage', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }), expect: { status: 400, error: 'invalid_request' } },
  { name: 'userinfo: DELETE', request: userinfo('Bearer garbage', { method: 'DELETE' }), expect: { status: 404, error: 'not_found' } },

  // ── /oidc/token/introspection ─────────────────────────────────────────────
  { name: 'introspection: no client authentication', request: introspect('token=abc', null), expect: { status: 400, error: 'invalid_request' } },
  { name: 'introspection: wrong secret', request: introspect('token=abc', basic('service', 'wrong-secret')), expect: { status: 401, error: 'invalid_client', challenge: /^Basic realm=/ } },
  { name: 'introspection: unknown client', request: introspect('token=abc', basic('nobody', 'whatever')), expect: { status: 401, error: 'invalid_client' } },
  { name: 'introspection: token missing', request: introspect(''), expect: { status: 400, error: 'invalid_request' } },
  { name: 'introspection: token repeated', request: introspect('token=a&token=b'), expect: { status: 400, error: 'invalid_request' } },
  { name: 'introspection: JSON body', request: introspect('{"token":"abc"}', SERVICE, { 'content-type': 'application/json' }), expect: { status: 400, error: 'invalid_request' } },
  { name: 'introspection: garbage token is inactive', request: introspect('token=garbage'), expect: { status: 200, body: { active: false } } },
  // Defect (PostgreSQL only): NUL reached the driver → 500.
  { name: 'introspection: token containing NUL is inactive', request: introspect('token=abc%00def'), expect: { status: 200, body: { active: false } } },
  { name: 'introspection: tampered access token is inactive', request: (f) => introspect(`token=${tamper(f.userAccessToken)}`), expect: { status: 200, body: { active: false } } },
  { name: 'introspection: expired access token is inactive', request: (f) => introspect(`token=${f.expiredServiceToken}`), expect: { status: 200, body: { active: false } } },
  // JWT access tokens are for resource servers (verified with the JWKS); the engine refuses to introspect any JWT.
  { name: 'introspection: tampered JWT access token', request: (f) => introspect(`token=${tamper(f.jwtAccessToken)}`), expect: { status: 400, error: 'unsupported_token_type' } },
  { name: 'introspection: GET', request: { path: '/oidc/token/introspection?token=abc', headers: { authorization: SERVICE } }, expect: { status: 404, error: 'not_found' } },

  // ── /oidc/token/revocation ────────────────────────────────────────────────
  { name: 'revocation: no client authentication', request: revoke('token=abc', null), expect: { status: 400, error: 'invalid_request' } },
  { name: 'revocation: wrong secret', request: revoke('token=abc', basic('service', 'wrong-secret')), expect: { status: 401, error: 'invalid_client', challenge: /^Basic realm=/ } },
  { name: 'revocation: token missing', request: revoke(''), expect: { status: 400, error: 'invalid_request' } },
  // RFC 7009 §2.2: an invalid token is not an error.
  { name: 'revocation: garbage token', request: revoke('token=garbage'), expect: { status: 200 } },
  // Defect (PostgreSQL only): NUL reached the driver → 500.
  { name: 'revocation: token containing NUL', request: revoke('token=%00'), expect: { status: 200 } },
  { name: 'revocation: tampered JWT access token', request: (f) => revoke(`token=${tamper(f.jwtAccessToken)}`), expect: { status: 400, error: 'unsupported_token_type' } },
  { name: 'revocation: GET', request: { path: '/oidc/token/revocation' }, expect: { status: 404, error: 'not_found' } },

  // ── /oidc/session/end ──────────────────────────────────────────────────────
  { name: 'logout: unregistered post_logout_redirect_uri → error page', request: browser(`/oidc/session/end?${qs({ client_id: 'spa', post_logout_redirect_uri: 'https://evil.example/' })}`), expect: { status: 400, error: 'invalid_request', html: true } },
  { name: 'logout: garbage id_token_hint', request: browser('/oidc/session/end?id_token_hint=garbage'), expect: { status: 400, error: 'invalid_request', html: true } },
  { name: 'logout: tampered id_token_hint', request: (f) => browser(`/oidc/session/end?id_token_hint=${tamper(f.idToken)}`), expect: { status: 400, error: 'invalid_request', html: true } },
  { name: 'logout: forged id_token_hint', request: (f) => browser(`/oidc/session/end?id_token_hint=${f.forgedIdToken}`), expect: { status: 400, error: 'invalid_request', html: true } },
  { name: 'logout: id_token_hint for an unknown audience', request: (f) => browser(`/oidc/session/end?id_token_hint=${f.forgedJwt}`), expect: { status: 400, error: 'invalid_client', html: true } },
  { name: 'logout: unknown client', request: browser('/oidc/session/end?client_id=nobody'), expect: { status: 400, error: 'invalid_client', html: true } },
  // Defect (PostgreSQL only): 500 page.
  { name: 'logout: client_id containing NUL', request: browser('/oidc/session/end?client_id=sp%00a'), expect: { status: 400, error: 'invalid_client', html: true } },
  { name: 'logout: API client gets JSON', request: { path: '/oidc/session/end?id_token_hint=garbage' }, expect: { status: 400, error: 'invalid_request' } },
  { name: 'logout confirm: no logout in progress', request: browser('/oidc/session/end/confirm', { method: 'POST', headers: { 'content-type': FORM }, body: 'xsrf=forged&logout=yes' }), expect: { status: 400, error: 'invalid_request', html: true } },

  // ── JWKS, discovery, unknown engine paths ─────────────────────────────────
  // Defect: unmatched engine routes answered Koa's text/plain "Not Found".
  { name: 'jwks: POST', request: { method: 'POST', path: '/oidc/jwks', headers: { 'content-type': FORM }, body: 'a=b' }, expect: { status: 404, error: 'not_found' } },
  { name: 'jwks: DELETE', request: { method: 'DELETE', path: '/oidc/jwks' }, expect: { status: 404, error: 'not_found' } },
  { name: 'token: GET', request: { path: '/oidc/token?grant_type=client_credentials' }, expect: { status: 404, error: 'not_found' } },
  { name: 'discovery: POST', request: { method: 'POST', path: '/.well-known/openid-configuration', headers: { 'content-type': FORM }, body: 'a=b' }, expect: { status: 404, error: 'not_found' } },
  { name: 'discovery: PUT with malformed JSON', request: { method: 'PUT', path: '/.well-known/openid-configuration', headers: { 'content-type': 'application/json' }, body: '{' }, expect: { status: 400, error: 'invalid_request' } },
  { name: 'engine: unknown path', request: { path: '/oidc/nope' }, expect: { status: 404, error: 'not_found' } },
  { name: 'engine: unknown path (browser)', request: browser('/oidc/nope'), expect: { status: 404, error: 'not_found', html: true } },
  { name: 'engine: registration is off', request: { method: 'POST', path: '/oidc/reg', headers: { 'content-type': 'application/json' }, body: '{}' }, expect: { status: 404, error: 'not_found' } },

  // ── Hosted interaction pages ───────────────────────────────────────────────
  { name: 'interaction: unknown uid, no cookie', request: browser(`/interaction/${NO_SUCH_UID}`), expect: { status: 400, error: 'session_expired', html: true } },
  { name: 'interaction: malformed uid', request: browser('/interaction/x'), expect: { status: 400, error: 'session_expired', html: true } },
  { name: 'interaction: live uid, no cookie', request: (f) => browser(`/interaction/${f.interaction.uid}`), expect: { status: 400, error: 'session_expired', html: true } },
  { name: 'interaction: another browser\'s cookie', request: (f) => browser(`/interaction/${NO_SUCH_UID}`, { headers: { cookie: f.interaction.cookie } }), expect: { status: 400, error: 'session_expired', html: true } },
  { name: 'interaction: forged cookie', request: (f) => browser(`/interaction/${f.interaction.uid}`, { headers: { cookie: `_interaction=${f.interaction.uid}; _interaction.sig=forged` } }), expect: { status: 400, error: 'session_expired', html: true } },
  // Defect: Fastify answered an over-long path parameter in its own `{ error: 'Bad Request', code: 'FST_…' }` shape.
  { name: 'interaction: over-long uid', request: browser(`/interaction/${'u'.repeat(300)}`), expect: { status: 414, error: 'invalid_request', html: true } },
  { name: 'interaction: DELETE', request: { method: 'DELETE', path: `/interaction/${NO_SUCH_UID}` }, expect: { status: 404, error: 'not_found' } },
  { name: 'login: unknown uid', request: browser(`/interaction/${NO_SUCH_UID}/login`, { method: 'POST', headers: { 'content-type': FORM }, body: 'username=a&password=b' }), expect: { status: 400, error: 'session_expired', html: true } },
  { name: 'login: malformed uid', request: browser('/interaction/x/login', { method: 'POST', headers: { 'content-type': FORM }, body: 'username=a&password=b' }), expect: { status: 400, error: 'session_expired', html: true } },
  { name: 'login: malformed JSON', request: browser('/interaction/x/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":' }), expect: { status: 400, error: 'invalid_request', html: true } },
  { name: 'login: 1 MB body, no session', request: browser('/interaction/x/login', { method: 'POST', headers: { 'content-type': FORM }, body: `username=${'a'.repeat(1024 * 1024)}` }), expect: { status: 413, error: 'request_too_large', html: true } },
  { name: 'login: 1 MB body', request: (f) => login(f, `username=alice&password=${'a'.repeat(1024 * 1024)}`), expect: { status: 413, error: 'request_too_large', html: true } },
  { name: 'login: XML body', request: (f) => login(f, '<login/>', { 'content-type': 'application/xml' }), expect: { status: 415, error: 'unsupported_media_type', html: true } },
  { name: 'login: malformed JSON, live session', request: (f) => login(f, '{"username":', { 'content-type': 'application/json' }), expect: { status: 400, error: 'invalid_request', html: true } },
  { name: 'login: JSON prototype poisoning', request: (f) => login(f, '{"__proto__":{"admin":true},"username":"a","password":"b"}', { 'content-type': 'application/json' }), expect: { status: 400, error: 'invalid_request', html: true } },
  { name: 'login: username repeated (form shown again)', request: (f) => login(f, 'username=alice&username=bob&password=x'), expect: { status: 400, html: true } },
  { name: 'login: fields missing (form shown again)', request: (f) => login(f, ''), expect: { status: 400, html: true } },
  { name: 'login: password over the limit (form shown again)', request: (f) => login(f, `username=alice&password=${'p'.repeat(2000)}`), expect: { status: 400, html: true } },
  // Defect (PostgreSQL only): the username reached the driver with its NUL → 500 page.
  { name: 'login: username containing NUL', request: (f) => login(f, 'username=ali%00ce&password=x'), expect: { status: 401, html: true } },
  { name: 'login: email containing NUL', request: (f) => login(f, 'username=alice%40example.test%00&password=x'), expect: { status: 401, html: true } },
  { name: 'login: posted from another site', request: (f) => login(f, 'username=alice&password=x', { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }), expect: { status: 403, error: 'access_denied', html: true } },
  { name: 'consent: nothing to confirm at the login step', request: (f) => ({ ...login(f, ''), path: `/interaction/${f.interaction.uid}/confirm` }), expect: { status: 400, error: 'invalid_request', html: true } },
  { name: 'consent: unknown uid', request: browser(`/interaction/${NO_SUCH_UID}/confirm`, { method: 'POST', headers: { 'content-type': FORM }, body: '' }), expect: { status: 400, error: 'session_expired', html: true } },
  { name: 'abort: unknown uid', request: browser(`/interaction/${NO_SUCH_UID}/abort`, { method: 'POST' }), expect: { status: 400, error: 'session_expired', html: true } },

  // ── /account (Tessera as its own relying party) ───────────────────────────
  { name: 'account callback: no parameters', request: browser('/account/callback'), expect: { status: 400, error: 'invalid_request', html: true } },
  { name: 'account callback: garbage state, no cookie', request: browser('/account/callback?state=garbage&code=garbage'), expect: { status: 400, error: 'invalid_request', html: true } },
  { name: 'account callback: state repeated', request: browser('/account/callback?state=a&state=b&code=c'), expect: { status: 400, error: 'invalid_request', html: true } },
  { name: 'account callback: forged cookie', request: browser('/account/callback?state=a&code=c', { headers: { cookie: 'tessera_signin=eyJzdGF0ZSI6ImEifQ.forged' } }), expect: { status: 400, error: 'invalid_request', html: true } },
  { name: 'account callback: oversized state', request: browser(`/account/callback?state=${'s'.repeat(600)}`), expect: { status: 400, error: 'invalid_request', html: true } },

  // ── Everything else ────────────────────────────────────────────────────────
  { name: 'unknown path', request: { path: '/nope' }, expect: { status: 404, error: 'not_found' } },
  { name: 'unknown path (browser)', request: browser('/nope'), expect: { status: 404, error: 'not_found', html: true } },
  { name: 'healthz: DELETE', request: { method: 'DELETE', path: '/healthz' }, expect: { status: 404, error: 'not_found' } },
  { name: 'healthz: POST with malformed JSON', request: { method: 'POST', path: '/healthz', headers: { 'content-type': 'application/json' }, body: '{' }, expect: { status: 400, error: 'invalid_request' } },
  { name: 'readyz: POST', request: { method: 'POST', path: '/readyz', headers: { 'content-type': FORM }, body: 'a=b' }, expect: { status: 404, error: 'not_found' } },
  { name: 'metrics: PUT', request: { method: 'PUT', path: '/metrics' }, expect: { status: 404, error: 'not_found' } },
  // Defect: Fastify answered an undecodable URL in its own `{ error: 'Bad Request', code: 'FST_ERR_BAD_URL' }` shape.
  { name: 'URL that does not percent-decode', request: { path: '/%E0%A4%A' }, expect: { status: 400, error: 'invalid_request' } },
  { name: 'engine URL that does not percent-decode', request: { path: '/oidc/%E0%A4%A' }, expect: { status: 400, error: 'invalid_request' } },
  { name: 'interaction URL that does not percent-decode (browser)', request: browser('/interaction/%E0%A4%A'), expect: { status: 400, error: 'invalid_request', html: true } },
  // Defect: Node's parser refusal was answered as `{ error: 'Request Header Fields Too Large' }`.
  { name: 'URL over the header size limit', request: { path: `/oidc/auth?client_id=spa&pad=${'a'.repeat(100_000)}` }, expect: { status: 431, error: 'invalid_request' } },
];

/** Signs of a leaked stack trace or driver error in a response body. */
const LEAKS: RegExp[] = [
  /^\s*at \S+ \(.*\)\s*$/m, // V8 frame: "    at fn (file:1:2)"
  /^\s*at (?:async )?\S+:\d+:\d+\s*$/m, // V8 frame without a function name
  /\((?:file:\/\/)?\/[^)\s]+:\d+:\d+\)/, // "(/path/file.js:12:34)"
  /node_modules/,
  /\b(?:[A-Z][A-Za-z]*)?Error: /, // "Error: …", "TypeError: …"
  /\.(?:ts|js|mjs|cjs):\d+/,
  /SQLITE_|SqliteError|invalid byte sequence|kysely|pg_/i,
];

let t: TestApp;
let f: Fixtures;

beforeAll(async () => {
  t = await startTestApp({ config });
  const issuer = t.issuer;
  const post = async (path: string, body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(new URL(path, issuer), { method: 'POST', body, headers: { 'content-type': FORM, ...headers } });
    const json = await res.json() as Record<string, string>;
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  // Each code comes from a fresh browser, so each has its own grant: presenting a used code revokes
  // everything issued under its grant (RFC 6749 §4.1.2), which must not take other rows' tokens with it.
  const getCode = async (clientId = 'spa', extra: Record<string, string> = {}) => {
    const agent = new UserAgent();
    const verifier = randomBytes(32).toString('base64url');
    const url = new URL('/oidc/auth', issuer);
    url.search = qs({
      client_id: clientId, response_type: 'code', scope: 'openid offline_access', redirect_uri: REDIRECT,
      code_challenge: s256(verifier), code_challenge_method: 'S256', ...extra,
    });
    const callback = await signInThrough(agent, url, issuer, USER);
    const code = callback.searchParams.get('code');
    if (!code) throw new Error(`no code: ${callback.href}`);
    return { code, verifier };
  };
  const redeem = (c: { code: string; verifier: string }, clientId = 'spa') =>
    post('/oidc/token', codeGrant(c.code, c.verifier, { client_id: clientId }));

  // Short-lived tokens first, so they have expired by the time the rows run.
  const shortCode = await getCode('short-spa', { scope: 'openid' });
  const expiredUserAccessToken = (await redeem(shortCode, 'short-spa')).access_token!;
  const expiredServiceToken = (await post('/oidc/token', 'grant_type=client_credentials', { authorization: basic('short-service', SHORT_SECRET) })).access_token!;
  const expiresAt = Date.now() + 1500;

  const usedCode = await getCode();
  await redeem(usedCode);
  const tokens = await redeem(await getCode('spa', { prompt: 'consent' }));
  const freshCodes = [];
  for (let i = 0; i < 5; i++) freshCodes.push(await getCode());
  const jwtAccessToken = (await post('/oidc/token', `grant_type=client_credentials&resource=${encodeURIComponent(API)}&scope=read`, { authorization: SERVICE })).access_token!;

  const { privateKey } = await generateKeyPair('ES256');
  const now = Math.floor(Date.now() / 1000);
  const forgedJwt = await new SignJWT({ scope: 'openid read', client_id: 'spa' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'not-a-tessera-key' })
    .setIssuer(issuer).setAudience(API).setSubject('someone').setJti(randomBytes(8).toString('hex'))
    .setIssuedAt(now - 7200).setExpirationTime(now - 3600)
    .sign(privateKey);
  const forgedIdToken = await new SignJWT({ nonce: 'n' })
    .setProtectedHeader({ alg: 'ES256', kid: 'not-a-tessera-key' })
    .setIssuer(issuer).setAudience('spa').setSubject('someone')
    .setIssuedAt(now).setExpirationTime(now + 600)
    .sign(privateKey);

  // A live interaction waiting at its login prompt, bound to this "browser" by its cookies.
  const started = await fetch(new URL(`/oidc/auth?${qs(goodAuth)}`, issuer), { redirect: 'manual' });
  const location = started.headers.get('location') ?? '';
  const uid = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(location)?.[1];
  if (!uid) throw new Error(`no interaction: ${started.status} ${location}`);
  const cookie = started.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');

  f = {
    issuer, interaction: { uid, cookie }, usedCode, freshCodes,
    refreshToken: tokens.refresh_token!, idToken: tokens.id_token!, userAccessToken: tokens.access_token!,
    jwtAccessToken, expiredUserAccessToken, expiredServiceToken, forgedJwt, forgedIdToken,
  };
  if (!f.refreshToken || !f.idToken) throw new Error('expected a refresh token and an ID token');
  await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now())));
});

afterAll(async () => {
  await t?.close();
});

describe('bad input gets a 4xx with an RFC 6749-style error, never a 500 or a stack trace', () => {
  test.each(ROWS)('$name', async (row) => {
    const req = typeof row.request === 'function' ? row.request(f) : row.request;
    const res = await fetch(new URL(req.path, t.issuer), {
      method: req.method ?? 'GET', headers: req.headers, body: req.body, redirect: 'manual',
    });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    const context = `${req.method ?? 'GET'} ${req.path.slice(0, 120)} → ${res.status} ${type}\n${text.slice(0, 500)}`;

    // Global: no server error, nothing that looks like a stack trace or a driver message.
    expect(res.status, context).toBeLessThan(500);
    for (const leak of LEAKS) expect(text, `${context}\nleaks ${leak}`).not.toMatch(leak);
    expect(res.status, context).toBe(row.expect.status);

    let error: string | undefined;
    if (res.status >= 300 && res.status < 400) {
      // An error redirect may only ever go to the client's registered redirect URI.
      const location = new URL(res.headers.get('location') ?? '', t.issuer);
      expect(`${location.origin}${location.pathname}`, context).toBe(REDIRECT);
      const params = new URLSearchParams(location.hash ? location.hash.slice(1) : location.search);
      error = params.get('error') ?? undefined;
      expect(params.get('iss'), context).toBe(t.issuer);
    } else if (row.expect.html) {
      expect(type, context).toMatch(/^text\/html/);
      expect(text, context).toMatch(/^<!doctype html>/i);
      error = /<code>error<\/code>: ([a-z_]+)/.exec(text)?.[1];
    } else if (res.status >= 400) {
      // Every other error is RFC 6749 §5.2-style JSON: an `error` code and, at most, a description.
      expect(type, context).toMatch(/^application\/json/);
      const body = JSON.parse(text) as { error?: unknown; error_description?: unknown };
      expect(body.error, context).toMatch(/^[a-z_]+$/);
      if (body.error_description !== undefined) expect(typeof body.error_description, context).toBe('string');
      error = body.error as string;
    }
    if (row.expect.error !== undefined) expect(error, context).toBe(row.expect.error);
    if (row.expect.body) expect(JSON.parse(text), context).toMatchObject(row.expect.body);
    if (row.expect.challenge) expect(res.headers.get('www-authenticate') ?? '', context).toMatch(row.expect.challenge);
  });

  test('the table covers every protocol endpoint', () => {
    const paths = new Set(ROWS.map((r) => (typeof r.request === 'function' ? r.request(f) : r.request).path.split('?')[0]));
    for (const p of ['/oidc/token', '/oidc/auth', '/oidc/me', '/oidc/token/introspection', '/oidc/token/revocation', '/oidc/session/end', '/oidc/jwks', '/.well-known/openid-configuration', '/account/callback', '/healthz', '/readyz']) {
      expect(paths, p).toContain(p);
    }
  });
});
