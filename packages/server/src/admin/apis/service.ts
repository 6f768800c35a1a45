import type { EventContext } from '../../audit/events.js';
import type { ApiRecord, ApiRepository } from '../../oidc/repository.js';
import type { KeyService, KeySummary } from '../../oidc/keys.js';
import { ConflictError, NotFoundError } from '../../storage/errors.js';
import { isStorableText } from '../../storage/text.js';
import { adminAudience } from '../access.js';
import type { AdminPrincipal } from '../access.js';
import type { AdminEmit } from '../audit.js';
import { AdminConflict } from '../errors.js';
import { requirePlatform } from '../tenancy.js';

export interface ApiAdminDeps {
  issuer: string;
  apis: ApiRepository;
  keys: Pick<KeyService, 'list' | 'publicJwks'>;
  rotateKeys(): Promise<void>;
  emit: AdminEmit;
}

export interface ApiInput {
  identifier: string;
  name: string;
  scopes: string[];
  signing_alg: 'ES256' | 'RS256';
  access_token_ttl: number;
  access_token_format: 'jwt' | 'opaque';
}

export interface KeyView extends KeySummary {
  /** Public JWK only: private keys never leave the server (they are stored encrypted and used in-process). */
  publicJwk: Record<string, unknown> | null;
}

/**
 * APIs (resource servers: their scopes and access-token lifetime) and the
 * platform's signing keys. APIs are shared by every tenant, so changing them
 * is for platform administrators; every administrator with auth.admin can
 * read them (to configure clients).
 */
export class ApiAdminService {
  constructor(private readonly deps: ApiAdminDeps) {}

  list(): Promise<ApiRecord[]> {
    return this.deps.apis.list();
  }

  /** @throws NotFoundError */
  async get(identifier: string): Promise<ApiRecord> {
    const api = isStorableText(identifier) ? await this.deps.apis.find(identifier) : undefined;
    if (!api) throw new NotFoundError('api', identifier);
    return api;
  }

  /** @throws AdminForbidden, AdminConflict (identifier taken) */
  async create(principal: AdminPrincipal, input: ApiInput, ctx: EventContext): Promise<ApiRecord> {
    requirePlatform(principal, 'declare APIs');
    try {
      const api = await this.deps.apis.create(toRecord(input));
      await this.deps.emit('api.created', principal, { tenantId: null, subjectId: api.identifier }, ctx, { target: 'api', scopes: api.scopes });
      return api;
    } catch (err) {
      if (err instanceof ConflictError) throw new AdminConflict('An API with this identifier exists.', { identifier: 'taken' });
      throw err;
    }
  }

  /** @throws AdminForbidden, AdminConflict (the admin API itself), StaleWriteError */
  async update(principal: AdminPrincipal, current: ApiRecord, patch: Partial<Omit<ApiInput, 'identifier'>>, ctx: EventContext): Promise<ApiRecord> {
    requirePlatform(principal, 'change APIs');
    this.refuseBuiltIn(current);
    const next = toRecord({
      identifier: current.identifier, name: patch.name ?? current.name, scopes: patch.scopes ?? current.scopes,
      signing_alg: patch.signing_alg ?? (current.signingAlg as ApiInput['signing_alg']), access_token_ttl: patch.access_token_ttl ?? current.accessTokenTtl,
      access_token_format: patch.access_token_format ?? current.accessTokenFormat ?? 'jwt',
    });
    const updated = await this.deps.apis.replaceIfVersion(next, current.version ?? 1);
    await this.deps.emit('api.updated', principal, { tenantId: null, subjectId: current.identifier }, ctx, { target: 'api', fields: Object.keys(patch) });
    return updated;
  }

  /** Tokens already issued for it stay valid until they expire; new ones are refused (invalid_target). */
  async delete(principal: AdminPrincipal, current: ApiRecord, ctx: EventContext): Promise<void> {
    requirePlatform(principal, 'delete APIs');
    this.refuseBuiltIn(current);
    if (!(await this.deps.apis.delete(current.identifier))) throw new NotFoundError('api', current.identifier);
    await this.deps.emit('api.deleted', principal, { tenantId: null, subjectId: current.identifier }, ctx, { target: 'api' });
  }

  async keys(principal: AdminPrincipal): Promise<KeyView[]> {
    requirePlatform(principal, 'read signing keys');
    const published = new Map((await this.deps.keys.publicJwks()).keys.map((k) => [k.kid, k as Record<string, unknown>]));
    return (await this.deps.keys.list()).map((k) => ({ ...k, publicJwk: published.get(k.kid) ?? null }));
  }

  /** New keys sign from now on; the old ones stay published until every token they signed has expired. */
  async rotateKeys(principal: AdminPrincipal, ctx: EventContext): Promise<KeyView[]> {
    requirePlatform(principal, 'rotate signing keys');
    const before = new Set((await this.deps.keys.list()).map((k) => k.kid));
    await this.deps.rotateKeys();
    const after = await this.keys(principal);
    await this.deps.emit('keys.rotated', principal, { tenantId: null, subjectId: null }, ctx,
      { target: 'keys', new_kids: after.filter((k) => !before.has(k.kid)).map((k) => k.kid) });
    return after;
  }

  private refuseBuiltIn(api: ApiRecord): void {
    if (api.identifier === adminAudience(this.deps.issuer)) throw new AdminConflict('The admin API is built in; it cannot be changed here.');
  }
}

function toRecord(a: ApiInput): ApiRecord {
  return { identifier: a.identifier, name: a.name, scopes: [...new Set(a.scopes)], signingAlg: a.signing_alg, accessTokenTtl: a.access_token_ttl, accessTokenFormat: a.access_token_format };
}
