import { UserAgent } from './agent.js';
import { codeFlow, discover } from './flows.js';
import type { Credentials, MfaHandler } from './flows.js';
import { ADMIN_PASSWORD } from './app.js';
import { signedInBrowser } from './account.js';
import { enrollHandler, enrollTotp, totpHandler } from './mfa.js';
import type { Authenticator } from './mfa.js';
import { CONF_SECRET, REDIRECT, baseConfig } from '../fixtures.js';

/**
 * Admin API test kit: tokens obtained as real callers get them (a code flow
 * through the hosted pages for people, client_credentials for machines),
 * and a small JSON client for /api/admin/v1.
 */
export const PASSWORD = 'a long enough test password';
export const MACHINE_SECRET = 'machine-secret-0123456789-abcdefghijklmn';
/** The bootstrap administrator: enrolls an authenticator app in the tests, for step-up tokens. */
export const PLATFORM_ADMIN = { username: 'admin', password: ADMIN_PASSWORD };
/** A second platform administrator who never enrolls a factor: password-only tokens at any time. */
export const OPAL = { username: 'opal', password: 'a long enough test password' };
export const ACME_ADMIN = { username: 'ada', password: PASSWORD };
export const GLOBEX_ADMIN = { username: 'gus', password: PASSWORD };

export const person = (username: string, extra: Record<string, unknown> = {}) => ({
  username, password: PASSWORD, email: `${username}@example.test`, email_verified: true, ...extra,
});

/** The console signs in like any client: confidential, first party, code + PKCE. */
const consoleClient = (client_id: string, tenant: string, extra: Record<string, unknown> = {}) => ({
  client_id, client_secret: CONF_SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code'],
  token_endpoint_auth_method: 'client_secret_basic', first_party: true, tenant, scope: 'openid profile email identity.admin auth.admin', ...extra,
});
const machine = (client_id: string, tenant: string, admin_scopes?: string[]) => ({
  client_id, client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], tenant, ...(admin_scopes ? { admin_scopes } : {}),
});

/** Tenants default (platform), acme and globex, each with an administrator, consoles, machine clients and people. */
export function adminConfig(extra: { users?: unknown[]; clients?: unknown[]; roles?: unknown[] } = {}) {
  return {
    ...baseConfig,
    tenants: [...baseConfig.tenants, { id: 'globex', name: 'Globex' }],
    roles: [...baseConfig.roles, { name: 'auditor', tenant: 'acme' }, ...(extra.roles ?? [])],
    clients: [
      ...baseConfig.clients,
      consoleClient('console', 'default'), consoleClient('acme-console', 'acme'), consoleClient('globex-console', 'globex'),
      // MFA required: a first sign-in there enrolls an authenticator app (the acme administrator's step-up).
      consoleClient('acme-console-mfa', 'acme', { mfa: 'required' }),
      machine('ops-bot', 'default', ['identity.admin', 'auth.admin']),
      machine('acme-bot', 'acme', ['identity.admin', 'auth.admin']),
      machine('plain-bot', 'default'),
      // A third-party app an operator (wrongly) granted the admin scopes: the admin API still refuses people's tokens from it.
      consoleClient('third-party', 'default', { first_party: false }),
      ...(extra.clients ?? []),
    ],
    users: [
      ...baseConfig.users,
      person('opal', { roles: ['admin'] }),
      person('ada', { tenant: 'acme', roles: ['admin'] }),
      person('gus', { tenant: 'globex', roles: ['admin'] }),
      ...(extra.users ?? []),
    ],
  };
}

export const adminAudience = (issuer: string) => `${issuer}/api/admin`;

/** A client_credentials token for the admin API. */
export async function machineToken(issuer: string, clientId: string, scope = 'identity.admin auth.admin'): Promise<string> {
  const res = await fetch(`${issuer}/oidc/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${MACHINE_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: adminAudience(issuer), scope }).toString(),
  });
  const body = await res.json() as { access_token?: string };
  if (!body.access_token) throw new Error(`no token for ${clientId}: ${JSON.stringify(body)}`);
  return body.access_token;
}

/** A person's token for the admin API, through the hosted sign-in (and the MFA page when `mfa` answers it). */
export async function personToken(issuer: string, creds: Credentials, opts: { client?: string; scope?: string; mfa?: MfaHandler } = {}): Promise<string> {
  const config = await discover(issuer, { clientId: opts.client ?? 'console', clientSecret: CONF_SECRET, auth: 'basic' });
  const { tokens } = await codeFlow(config, new UserAgent(), issuer, creds, {
    scope: opts.scope ?? 'openid identity.admin auth.admin', resource: adminAudience(issuer), prompt: 'login',
  }, { mfa: opts.mfa });
  return tokens.access_token;
}

/** Enrolls an authenticator app for a person (on the account pages) and returns it, for step-up sign-ins. */
export async function withAuthenticator(issuer: string, creds: Credentials): Promise<Authenticator> {
  return (await enrollTotp((await signedInBrowser(issuer, creds)).agent, issuer)).authenticator;
}

/**
 * An MFA-level token for someone without a factor yet, through a client that
 * requires MFA: the sign-in enrolls an authenticator app on the way.
 */
export async function enrollingToken(issuer: string, creds: Credentials, client: string): Promise<{ token: string; authenticator: Authenticator }> {
  const out: { authenticator?: Authenticator } = {};
  const token = await personToken(issuer, creds, { client, mfa: enrollHandler(out) });
  return { token, authenticator: out.authenticator! };
}

/** A token at the MFA level (acr urn:tessera:acr:mfa, auth_time now): what sensitive operations need. */
export async function steppedUpToken(issuer: string, creds: Credentials, authenticator: Authenticator, client = 'console'): Promise<string> {
  return personToken(issuer, creds, { client, mfa: totpHandler(authenticator) });
}

export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** A JSON client for /api/admin/v1. */
export function adminApi(issuer: string) {
  return async function call<T = Record<string, unknown>>(method: string, path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<ApiAnswer<T>> {
    const res = await fetch(`${issuer}/api/admin/v1${path}`, {
      method,
      headers: {
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...opts.headers,
      },
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T, headers: res.headers };
  };
}
