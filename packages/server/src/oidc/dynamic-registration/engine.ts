import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { errors } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { generateClientSecret, hashClientSecret } from '../clients.js';
import type { ClientRepository } from '../repository.js';
import type { RegistrationToken, RegistrationTokenStore } from './tokens.js';
import { policyProblem } from './policy.js';
import type { RegistrationPolicy } from './policy.js';

/**
 * Dynamic client registration (RFC 7591) and management (RFC 7592) through
 * the engine's `registration` / `registrationManagement` features, with
 * Tessera's rules around them (docs/b2b.md#dynamic-client-registration):
 *
 * 1. Before the engine: the initial access token (Tessera's own, hashed,
 *    per tenant; tokens.ts) is checked and decides the tenant.
 * 2. The engine validates the metadata as for any client (its own checks
 *    and Tessera's extra-metadata validator), and asks the client adapter
 *    to store it.
 * 3. The adapter's upsert is where Tessera applies the registration policy
 *    (grants, redirect URI patterns, scopes, no Tessera-only fields), the
 *    tenant's quota, and writes the client like any other (clients table,
 *    secret as a digest), in one transaction with the token's use count.
 *
 * The engine's client adapter is otherwise read-only: outside a
 * registration request, upsert and destroy still refuse.
 */

export interface RegistrationSettings extends RegistrationPolicy {
  mode: 'off' | 'token' | 'open';
  /** Dynamically registered clients per tenant. */
  maxClientsPerTenant: number;
}

interface Creating { kind: 'create'; tenantId: string; token: RegistrationToken | null }
interface Managing { kind: 'manage' }
type RegistrationRequest = Creating | Managing;

const current = new AsyncLocalStorage<RegistrationRequest>();

/** A client registered through /oidc/reg (for the audit log). */
export interface Registered {
  clientId: string;
  tenantId: string;
  tokenId: string | null;
  grantTypes: unknown;
  redirectUris: unknown;
  scope: string;
  ip: string;
}

/** The engine's feature settings: both features off unless registration is on. */
export function registrationFeatures(s: RegistrationSettings | undefined): Record<string, unknown> {
  if (!s || s.mode === 'off') return { registration: { enabled: false }, registrationManagement: { enabled: false } };
  return {
    registration: {
      enabled: true,
      // Tessera checks its own initial access tokens (below); the engine's would be unhashed and per process.
      initialAccessToken: false,
      issueRegistrationAccessToken: true,
      idFactory: () => `dyn-${randomBytes(12).toString('base64url')}`,
      secretFactory: () => generateClientSecret(),
    },
    registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
  };
}

function invalidToken(ctx: { status: number; body: unknown; set(k: string, v: string): void }, description: string): void {
  ctx.status = 401;
  ctx.set('www-authenticate', `Bearer realm="tessera", error="invalid_token", error_description="${description}"`);
  ctx.set('cache-control', 'no-store');
  ctx.body = { error: 'invalid_token', error_description: description };
}

/**
 * Step 1 and the answer's finishing touches: the initial access token
 * before the engine; after it, stored secret digests are never echoed
 * (RFC 7592 read/update answers) and the audit hook runs.
 */
export function installRegistration(provider: Provider, s: RegistrationSettings, tokens: RegistrationTokenStore, path: string,
  onRegistered: (r: Registered) => Promise<void>): void {
  if (s.mode === 'off') return;
  // Other paths are handed on without an async frame (engine-paths.ts).
  provider.use((ctx, next) => (ctx.path !== path && !ctx.path.startsWith(`${path}/`) ? next() : registration(ctx, next)));
  async function registration(ctx: Parameters<Parameters<Provider['use']>[0]>[0], next: () => Promise<unknown>): Promise<void> {
    let request: RegistrationRequest = { kind: 'manage' };
    if (ctx.path === path && ctx.method === 'POST') {
      const header = ctx.get('authorization');
      const value = /^bearer +(\S+)\s*$/i.exec(header)?.[1];
      let token: RegistrationToken | null = null;
      // Open registration still honours a token when one is sent (its tenant and API scopes); a wrong one is refused.
      if (s.mode === 'token' || header) {
        if (!value) return invalidToken(ctx, s.mode === 'token' ? 'an initial access token is required' : 'malformed authorization header');
        token = (await tokens.findUsable(value)) ?? null;
        if (!token) return invalidToken(ctx, 'initial access token not found');
      }
      request = { kind: 'create', tenantId: token?.tenantId ?? 'default', token };
    }
    await current.run(request, next);
    const body = ctx.body as Record<string, unknown> | undefined;
    if (body && typeof body === 'object' && typeof body.client_secret === 'string' && body.client_secret.startsWith('hs256$')) {
      delete body.client_secret;
      delete body.client_secret_expires_at;
    }
    if (request.kind === 'create' && ctx.status === 201 && body && typeof body.client_id === 'string') {
      const stored = stash.get(body.client_id);
      stash.delete(body.client_id);
      if (stored !== undefined) body.scope = stored;
      await onRegistered({
        clientId: body.client_id, tenantId: request.tenantId, tokenId: request.token?.id ?? null,
        grantTypes: body.grant_types, redirectUris: body.redirect_uris, scope: stored ?? '', ip: ctx.ip,
      });
    }
  }
}

/** The scope written for a just-registered client, until the answer goes out (read by installRegistration). */
const stash = new Map<string, string>();

function quotaReached(max: number): Error {
  // 403: the request is fine, the tenant is full (RFC 7591 defines no code for it; access_denied says "not allowed now").
  const err = new errors.AccessDenied(`this tenant has reached its limit of ${max} dynamically registered clients`);
  Object.assign(err, { status: 403, statusCode: 403 });
  return err;
}

/**
 * The engine's Client adapter with registration: upsert and destroy work
 * only inside a registration request (steps 2–3 above), and only on
 * dynamically registered clients.
 */
export function registeringClientAdapter(base: Adapter, clients: ClientRepository, tokens: RegistrationTokenStore, s: RegistrationSettings,
  tesseraFields: readonly string[]): Adapter {
  return {
    ...base,
    async upsert(id: string, payload: AdapterPayload) {
      const request = current.getStore();
      if (!request) return base.upsert(id, payload, 0);
      const md = { ...(payload as Record<string, unknown>) };
      const problem = policyProblem(md, s, tesseraFields);
      if (problem) throw problem.redirect ? new errors.InvalidRedirectUri(problem.message) : new errors.InvalidClientMetadata(problem.message);
      const { client_secret: secret, client_secret_expires_at: _exp, client_id: _id, client_id_issued_at: issuedAt, ...metadata } = md;
      if (request.kind === 'create') {
        // The registrant's OpenID scopes (or the policy's), plus the API scopes its initial access token grants.
        const openid = typeof metadata.scope === 'string' ? metadata.scope : s.scopes.join(' ');
        const scope = [...new Set([...openid.split(' '), ...(request.token?.scope ?? '').split(' ')])].filter(Boolean).join(' ');
        const record = {
          clientId: id, tenantId: request.tenantId, firstParty: false, previousSecret: null,
          metadata: { ...metadata, ...(scope ? { scope } : {}), client_id_issued_at: issuedAt },
          secretHash: typeof secret === 'string' ? hashClientSecret(secret) : null,
        };
        const outcome = await tokens.register(record, request.token?.id ?? null, s.maxClientsPerTenant);
        if (outcome === 'quota') throw quotaReached(s.maxClientsPerTenant);
        if (outcome === 'token_used_up') throw new errors.InvalidToken('initial access token used up');
        stash.set(id, scope);
        return;
      }
      // RFC 7592 update: same tenant, same API scopes, the secret kept (the engine hands back the stored digest).
      const existing = await clients.find(id);
      if (!existing || !(await tokens.isRegistered(id))) throw new errors.InvalidClientMetadata('not a dynamically registered client');
      const apiScopes = String(existing.metadata.scope ?? '').split(' ').filter((x) => x && !s.scopes.includes(x) && !OPENID.has(x));
      const openid = typeof metadata.scope === 'string' ? metadata.scope : '';
      const scope = [...new Set([...openid.split(' '), ...apiScopes])].filter(Boolean).join(' ');
      const secretHash = typeof secret === 'string' && !secret.startsWith('hs256$') ? hashClientSecret(secret) : existing.secretHash;
      await clients.replaceIfVersion({
        ...existing, secretHash,
        metadata: { ...metadata, ...(scope ? { scope } : {}), client_id_issued_at: existing.metadata.client_id_issued_at },
      }, existing.version ?? 1);
    },
    async destroy(id: string) {
      if (!current.getStore() || !(await tokens.isRegistered(id))) return base.destroy(id);
      await clients.delete(id);
      await tokens.forget(id);
    },
  };
}

const OPENID = new Set(['openid', 'profile', 'email', 'phone', 'address', 'offline_access', 'roles']);
