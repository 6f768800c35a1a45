import { errors } from 'oidc-provider';
import type { KoaContextWithOIDC, ResourceServer } from 'oidc-provider';
import type { ApiRecord, ClientRecord, ClientRepository } from './repository.js';
import { BUILT_IN_CLIENT_IDS } from './built-in-clients.js';

/**
 * Client grants for APIs (docs/b2b.md#client-grants).
 *
 * A client's `scope` metadata (RFC 7591 §2: "scope values that the client
 * can use when requesting access tokens") lists OpenID scopes and API
 * scopes alike. A client obtains an API scope only when its `scope` lists it
 * (or, for the admin API, its `admin_scopes`), whatever the grant: asking for
 * another is `invalid_scope`, and no token ever carries one (the API's
 * scopes are narrowed to the client's before the engine mints anything).
 * OpenID scopes keep their rule: without `scope`, any; with it, those listed.
 *
 * The engine itself only knows its built-in OpenID scopes and refuses a
 * client whose `scope` names anything else, so it sees the OpenID part only
 * (`engineScopeMetadata`) and Tessera applies the rest through the engine's
 * resource-indicator hooks (provider.ts) and in the password grant.
 */

/** The engine's built-in scopes (provider.ts `scopes`, plus the scopes its `claims` define). */
export const OIDC_SCOPES: readonly string[] = ['openid', 'offline_access', 'profile', 'email', 'phone', 'roles'];
const OIDC = new Set(OIDC_SCOPES);

export const isOidcScope = (scope: string): boolean => OIDC.has(scope);

/**
 * The scopes the engine knows for this client: the OpenID ones, and those
 * releasing its attribute claims (attribute-claims.ts: the engine is built
 * with every client's). Everything else in `scope` is an API scope.
 */
function engineScopesFor(metadata: Record<string, unknown>): (scope: string) => boolean {
  const claims = Array.isArray(metadata.attribute_claims) ? metadata.attribute_claims as unknown[] : [];
  const own = new Set(claims.map((c) => (c as { scope?: unknown } | null)?.scope).filter((s): s is string => typeof s === 'string'));
  return own.size ? (s) => OIDC.has(s) || own.has(s) : isOidcScope;
}

/** What a client may request. `oidc` undefined: any OpenID scope. */
export interface ScopeGrant {
  oidc: ReadonlySet<string> | undefined;
  api: ReadonlySet<string>;
  /** Whether the engine knows a scope (OpenID, or one of the client's attribute-claim scopes). */
  known(scope: string): boolean;
}

const words = (value: unknown): string[] | undefined => (typeof value === 'string' ? value.split(' ').filter(Boolean) : undefined);

/** The grant a client's stored metadata expresses (`scope` and `admin_scopes`). */
export function scopeGrantOf(metadata: Record<string, unknown>): ScopeGrant {
  const listed = words(metadata.scope);
  const admin = Array.isArray(metadata.admin_scopes) ? metadata.admin_scopes.filter((s): s is string => typeof s === 'string') : [];
  const known = engineScopesFor(metadata);
  return {
    oidc: listed ? new Set(listed.filter(known)) : undefined,
    api: new Set([...(listed ?? []).filter((s) => !known(s)), ...admin]),
    known,
  };
}

/**
 * Client metadata as the engine may see it: `scope` reduced to the scopes
 * the engine knows (dropped when there is none). Used wherever metadata
 * reaches the engine: the client adapter, and `Client.validate` (`validate`:
 * the OpenID scopes only, since an engine built before a client's attribute
 * claims were known would refuse their scopes; it is rebuilt with them).
 */
export function engineScopeMetadata<T extends Record<string, unknown>>(metadata: T, mode: 'engine' | 'validate' = 'engine'): T {
  const listed = words(metadata.scope);
  const known = mode === 'validate' ? isOidcScope : engineScopesFor(metadata);
  if (!listed || listed.every(known)) return metadata;
  const { scope: _all, ...rest } = metadata;
  const oidc = listed.filter(known);
  return (oidc.length ? { ...rest, scope: oidc.join(' ') } : rest) as T;
}

/**
 * Refuses a request for a scope the client was not granted: an OpenID scope
 * outside its `scope` list (when it has one), or one of the target API's
 * scopes that it does not list. Scopes that neither the engine nor the API
 * know are left to the engine, which drops them (RFC 6749 §3.3).
 * @throws InvalidScope naming the first refused scope
 */
export function assertScopesGranted(grant: ScopeGrant, requested: Iterable<string>, apiScopes?: ReadonlySet<string>): void {
  for (const scope of requested) {
    if (grant.known(scope) ? grant.oidc !== undefined && !grant.oidc.has(scope) : apiScopes?.has(scope) === true && !grant.api.has(scope)) {
      throw new errors.InvalidScope('requested scope is not granted to this client', scope);
    }
  }
}

/** The API's scopes this client may hold: what the engine may put in its tokens for that API. */
export function grantedApiScopes(grant: ScopeGrant, apiScopes: readonly string[]): string[] {
  return apiScopes.filter((s) => grant.api.has(s));
}

/**
 * The engine's hooks. Both read the client from the repository (its cached
 * `find`), not from the engine's client object, which holds the OpenID part only.
 */
export function clientGrantHooks(clients: Pick<ClientRepository, 'find'>) {
  const grantFor = async (clientId: string | undefined): Promise<ScopeGrant> => {
    const record = clientId ? await clients.find(clientId) : undefined;
    return record ? scopeGrantOf(record.metadata) : { oidc: undefined, api: new Set(), known: isOidcScope };
  };
  const requested = (ctx: KoaContextWithOIDC | undefined): string[] => words(ctx?.oidc?.params?.scope) ?? [];
  return {
    grantFor,
    /**
     * A request without `resource` (authorization, PAR, client credentials):
     * only its OpenID scopes can be refused here; the engine drops others.
     * @throws InvalidScope
     */
    async checkWithoutResource(ctx: KoaContextWithOIDC, clientId: string | undefined): Promise<void> {
      const scopes = requested(ctx);
      if (scopes.length) assertScopesGranted(await grantFor(clientId), scopes);
    },
    /**
     * An API as the engine's resource server for this client: requested
     * scopes are checked, and the API's scope list is narrowed to the
     * client's grant, so no grant type can mint a token carrying more
     * (refreshes of older grants included).
     * @throws InvalidScope
     */
    async restrict(ctx: KoaContextWithOIDC | undefined, clientId: string | undefined, info: ResourceServer): Promise<ResourceServer> {
      const grant = await grantFor(clientId);
      const apiScopes = (info.scope ?? '').split(' ').filter(Boolean);
      assertScopesGranted(grant, requested(ctx), new Set(apiScopes));
      return { ...info, scope: grantedApiScopes(grant, apiScopes).join(' ') };
    },
  };
}

export type ClientGrantHooks = ReturnType<typeof clientGrantHooks>;

/** One client the start-up check names (see `clientGrantWarnings`). */
export interface ClientGrantWarning {
  clientId: string;
  message: string;
}

/**
 * The migration aid for client grants (docs/b2b.md#migrating-to-client-grants):
 * before, any client could obtain any API scope; now only those its `scope`
 * lists. At start-up, every client that lists no API scope and so may have
 * relied on "any scope" is named, with the scopes it could obtain before:
 * one without `scope` that can ask for tokens (a grant other than refresh
 * alone), or a machine client (`client_credentials`, `password`) whatever
 * its `scope`. A browser app whose `scope` lists OpenID scopes only has
 * stated what it needs and is not named. So is any listed scope no API
 * declares (a typo).
 */
export function clientGrantWarnings(clients: readonly ClientRecord[], apis: readonly ApiRecord[]): ClientGrantWarning[] {
  const declared = new Set(apis.flatMap((a) => a.scopes));
  // The built-in admin and provisioning APIs are granted explicitly (admin_scopes,
  // provisioning_scopes) and never were "any scope": they are not named here.
  const builtIn = (identifier: string) => identifier.endsWith('/api/admin') || identifier.endsWith('/api/provisioning');
  const apiScopes = [...new Set(apis.filter((a) => !builtIn(a.identifier)).flatMap((a) => a.scopes))];
  const warnings: ClientGrantWarning[] = [];
  for (const c of clients) {
    if (BUILT_IN_CLIENT_IDS.includes(c.clientId)) continue;
    const grant = scopeGrantOf(c.metadata);
    const grants = Array.isArray(c.metadata.grant_types) ? (c.metadata.grant_types as string[]) : [];
    const machine = grants.includes('client_credentials') || grants.includes('password');
    const mayHaveRelied = grant.oidc === undefined ? grants.some((g) => g !== 'refresh_token') : machine;
    const listed = [...grant.api].filter((s) => !(Array.isArray(c.metadata.admin_scopes) && c.metadata.admin_scopes.includes(s)));
    if (mayHaveRelied && apiScopes.length && listed.length === 0) {
      warnings.push({
        clientId: c.clientId,
        message: `client ${c.clientId} lists no API scope in its scope, so it obtains none (before client grants it could obtain any: ${apiScopes.join(' ')}); `
          + 'add the API scopes it needs to its scope (docs/b2b.md#migrating-to-client-grants)',
      });
    }
    const unknown = listed.filter((s) => !declared.has(s));
    if (unknown.length) {
      warnings.push({ clientId: c.clientId, message: `client ${c.clientId} lists scopes no API declares: ${unknown.join(' ')}` });
    }
  }
  return warnings;
}

/** Logs `clientGrantWarnings` at start-up (one `warn` line per client), so operators see whom to update. */
export async function warnAboutClientGrants(
  clients: Pick<ClientRepository, 'list'>,
  apis: { list(): Promise<ApiRecord[]> },
  log: { warn(obj: object, msg: string): void },
): Promise<void> {
  for (const w of clientGrantWarnings(await clients.list(), await apis.list())) log.warn({ clientId: w.clientId }, w.message);
}

/**
 * The admin API's check on a client's `scope` (the file's is a start-up
 * warning, as its APIs may be declared elsewhere): every scope that is not
 * an OpenID scope must be declared by some API, so a typo cannot pass as a grant.
 * @throws InvalidClientMetadata naming the first undeclared scope
 */
export async function assertScopesDeclared(metadata: Record<string, unknown>, apis: { list(): Promise<ApiRecord[]> }): Promise<void> {
  const known = engineScopesFor(metadata);
  const listed = (words(metadata.scope) ?? []).filter((s) => !known(s));
  if (!listed.length) return;
  const declared = new Set((await apis.list()).flatMap((a) => a.scopes));
  const unknown = listed.find((s) => !declared.has(s));
  if (unknown) throw new errors.InvalidClientMetadata(`scope names ${unknown}, which no API declares`);
}
