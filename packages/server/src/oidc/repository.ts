import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../storage/schema.js';
import { ReadCache } from '../storage/read-cache.js';
import { NotFoundError, StaleWriteError, mapConflict, mapMissingReference } from '../storage/errors.js';
import { sortBinary } from '../storage/order.js';
import type { UpsertOutcome } from '../identity/repository.js';

/** A registered client: RFC 7591 metadata plus Tessera's own fields. */
export interface ClientRecord {
  clientId: string;
  tenantId: string;
  /** RFC 7591 metadata without `client_secret`. */
  metadata: Record<string, unknown>;
  secretHash: string | null;
  firstParty: boolean;
  /**
   * After a secret rotation: the previous secret's digest and when it stops
   * working (epoch ms). Left undefined on a write, it is kept, unless the
   * secret itself changes (then it is cleared).
   */
  previousSecret?: { hash: string; expiresAt: number } | null;
  /** Set on reads: bumped by every write (If-Match in the admin API). */
  version?: number;
  createdAt?: number;
  updatedAt?: number;
}

export type AccessTokenFormat = 'jwt' | 'opaque';

export interface ApiRecord {
  /** The resource indicator (RFC 8707) and the `aud` of its access tokens. */
  identifier: string;
  name: string;
  scopes: string[];
  signingAlg: string;
  accessTokenTtl: number;
  /**
   * `jwt` (default): RFC 9068 JWTs the API verifies itself. `opaque`: references
   * the API introspects (RFC 7662), for APIs that need revocation to bite at once.
   */
  accessTokenFormat?: AccessTokenFormat;
  /** Set on reads: bumped by every write (If-Match in the admin API). */
  version?: number;
  createdAt?: number;
  updatedAt?: number;
}

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  publicJwk: Record<string, unknown>;
  /** Encrypted private JWK (see kek.ts). */
  privateJwk: string;
  status: 'active' | 'retiring' | 'retired';
  createdAt: number;
  retireAt: number | null;
}

export interface ClientRepository {
  find(clientId: string): Promise<ClientRecord | undefined>;
  list(): Promise<ClientRecord[]>;
  /** Creates or replaces a client; says whether anything changed. @throws NotFoundError for an unknown tenant. */
  upsert(client: ClientRecord): Promise<UpsertOutcome>;
  /** Creates a new client. @throws ConflictError when the id is taken; NotFoundError for an unknown tenant. */
  create(client: ClientRecord): Promise<ClientRecord>;
  /**
   * Replaces a client only while it is still at `version` (If-Match), bumping it.
   * @throws NotFoundError for an unknown client or tenant; StaleWriteError when it changed meanwhile.
   */
  replaceIfVersion(client: ClientRecord, version: number): Promise<ClientRecord>;
  delete(clientId: string): Promise<boolean>;
}

export interface ApiRepository {
  find(identifier: string): Promise<ApiRecord | undefined>;
  list(): Promise<ApiRecord[]>;
  upsert(api: ApiRecord): Promise<UpsertOutcome>;
  /** @throws ConflictError when the identifier is taken. */
  create(api: ApiRecord): Promise<ApiRecord>;
  /** Like ClientRepository.replaceIfVersion. @throws NotFoundError, StaleWriteError */
  replaceIfVersion(api: ApiRecord, version: number): Promise<ApiRecord>;
  delete(identifier: string): Promise<boolean>;
}

export interface SigningKeyRepository {
  /** Keys not yet retired, newest first. */
  listPublished(): Promise<SigningKeyRecord[]>;
  listAll(): Promise<SigningKeyRecord[]>;
  insert(key: SigningKeyRecord): Promise<void>;
  /** Moves every active key except `keep` to 'retiring' until `retireAt`. */
  demoteActive(retireAt: number, keep: string[]): Promise<void>;
  /** Retires keys whose publication window has passed; returns how many. */
  retireDue(now: number): Promise<number>;
}

export function createClientRepository(db: Kysely<Database>): ClientRepository {
  const toRecord = (r: Selectable<Database['clients']>): ClientRecord => ({
    clientId: r.client_id,
    tenantId: r.tenant_id,
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    secretHash: r.secret_hash,
    firstParty: r.first_party === 1,
    previousSecret: r.previous_secret_hash && r.previous_secret_expires_at !== null
      ? { hash: r.previous_secret_hash, expiresAt: Number(r.previous_secret_expires_at) } : null,
    version: Number(r.version ?? 1),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  });
  const previousColumns = (c: ClientRecord, secretChanged: boolean) => (c.previousSecret !== undefined
    ? { previous_secret_hash: c.previousSecret?.hash ?? null, previous_secret_expires_at: c.previousSecret?.expiresAt ?? null }
    // A new secret from the file or the CLI replaces the old one at once, as before rotation existed.
    : secretChanged ? { previous_secret_hash: null, previous_secret_expires_at: null } : {});
  return {
    async find(clientId) {
      const r = await db.selectFrom('clients').selectAll().where('client_id', '=', clientId).executeTakeFirst();
      return r && toRecord(r);
    },
    async list() {
      return sortBinary(await db.selectFrom('clients').selectAll().execute(), (r) => r.client_id).map(toRecord);
    },
    async upsert(c) {
      const now = Date.now();
      const row = {
        tenant_id: c.tenantId,
        metadata: JSON.stringify(c.metadata),
        secret_hash: c.secretHash,
        first_party: c.firstParty ? 1 : 0,
      };
      const existing = await db.selectFrom('clients').selectAll().where('client_id', '=', c.clientId).executeTakeFirst();
      if (!existing) {
        await mapMissingReference('tenant', c.tenantId, () => mapConflict('client', c.clientId, () => db.insertInto('clients')
          .values({ client_id: c.clientId, ...row, created_at: now, updated_at: now }).execute()));
        return 'created';
      }
      const previous = previousColumns(c, existing.secret_hash !== row.secret_hash);
      if (existing.tenant_id === row.tenant_id && existing.metadata === row.metadata
        && existing.secret_hash === row.secret_hash && existing.first_party === row.first_party
        && Object.entries(previous).every(([k, v]) => (existing as Record<string, unknown>)[k] === v)) return 'unchanged';
      await mapMissingReference('tenant', c.tenantId, () =>
        db.updateTable('clients').set((eb) => ({ ...row, ...previous, updated_at: now, version: eb('version', '+', 1) }))
          .where('client_id', '=', c.clientId).execute());
      return 'updated';
    },
    async create(c) {
      const now = Date.now();
      await mapMissingReference('tenant', c.tenantId, () => mapConflict('client', c.clientId, () => db.insertInto('clients').values({
        client_id: c.clientId, tenant_id: c.tenantId, metadata: JSON.stringify(c.metadata), secret_hash: c.secretHash,
        first_party: c.firstParty ? 1 : 0, ...previousColumns(c, false), created_at: now, updated_at: now,
      }).execute()));
      return (await this.find(c.clientId))!;
    },
    async replaceIfVersion(c, version) {
      const existing = await db.selectFrom('clients').select('secret_hash').where('client_id', '=', c.clientId).executeTakeFirst();
      if (!existing) throw new NotFoundError('client', c.clientId);
      const res = await mapMissingReference('tenant', c.tenantId, () => db.updateTable('clients').set((eb) => ({
        tenant_id: c.tenantId, metadata: JSON.stringify(c.metadata), secret_hash: c.secretHash, first_party: c.firstParty ? 1 : 0,
        ...previousColumns(c, existing.secret_hash !== c.secretHash), updated_at: Date.now(), version: eb('version', '+', 1),
      })).where('client_id', '=', c.clientId).where('version', '=', version).executeTakeFirst());
      if (Number(res.numUpdatedRows) === 0) throw new StaleWriteError('client', c.clientId);
      return toRecord((await db.selectFrom('clients').selectAll().where('client_id', '=', c.clientId).executeTakeFirst())!);
    },
    async delete(clientId) {
      const res = await db.deleteFrom('clients').where('client_id', '=', clientId).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
  };
}

export function createApiRepository(db: Kysely<Database>): ApiRepository {
  const toRecord = (r: Selectable<Database['apis']>): ApiRecord => ({
    identifier: r.identifier,
    name: r.name,
    scopes: JSON.parse(r.scopes) as string[],
    signingAlg: r.signing_alg,
    accessTokenTtl: Number(r.access_token_ttl),
    accessTokenFormat: r.access_token_format === 'opaque' ? 'opaque' : 'jwt',
    version: Number(r.version ?? 1),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  });
  return {
    async find(identifier) {
      const r = await db.selectFrom('apis').selectAll().where('identifier', '=', identifier).executeTakeFirst();
      return r && toRecord(r);
    },
    async list() {
      return sortBinary(await db.selectFrom('apis').selectAll().execute(), (r) => r.identifier).map(toRecord);
    },
    async upsert(a) {
      const now = Date.now();
      const row = {
        name: a.name, scopes: JSON.stringify(a.scopes), signing_alg: a.signingAlg, access_token_ttl: a.accessTokenTtl,
        access_token_format: a.accessTokenFormat ?? 'jwt',
      };
      const existing = await db.selectFrom('apis').selectAll().where('identifier', '=', a.identifier).executeTakeFirst();
      if (!existing) {
        await mapConflict('api', a.identifier, () => db.insertInto('apis')
          .values({ identifier: a.identifier, ...row, created_at: now, updated_at: now }).execute());
        return 'created';
      }
      if (existing.name === row.name && existing.scopes === row.scopes && existing.signing_alg === row.signing_alg
        && Number(existing.access_token_ttl) === row.access_token_ttl && existing.access_token_format === row.access_token_format) return 'unchanged';
      await db.updateTable('apis').set((eb) => ({ ...row, updated_at: now, version: eb('version', '+', 1) }))
        .where('identifier', '=', a.identifier).execute();
      return 'updated';
    },
    async create(a) {
      const now = Date.now();
      await mapConflict('api', a.identifier, () => db.insertInto('apis').values({
        identifier: a.identifier, name: a.name, scopes: JSON.stringify(a.scopes), signing_alg: a.signingAlg,
        access_token_ttl: a.accessTokenTtl, access_token_format: a.accessTokenFormat ?? 'jwt', created_at: now, updated_at: now,
      }).execute());
      return (await this.find(a.identifier))!;
    },
    async replaceIfVersion(a, version) {
      const res = await db.updateTable('apis').set((eb) => ({
        name: a.name, scopes: JSON.stringify(a.scopes), signing_alg: a.signingAlg, access_token_ttl: a.accessTokenTtl,
        access_token_format: a.accessTokenFormat ?? 'jwt', updated_at: Date.now(), version: eb('version', '+', 1),
      })).where('identifier', '=', a.identifier).where('version', '=', version).executeTakeFirst();
      const current = await db.selectFrom('apis').selectAll().where('identifier', '=', a.identifier).executeTakeFirst();
      if (!current) throw new NotFoundError('api', a.identifier);
      if (Number(res.numUpdatedRows) === 0) throw new StaleWriteError('api', a.identifier);
      return toRecord(current);
    },
    async delete(identifier) {
      const res = await db.deleteFrom('apis').where('identifier', '=', identifier).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
  };
}

export function createSigningKeyRepository(db: Kysely<Database>): SigningKeyRepository {
  const toRecord = (r: Database['signing_keys']): SigningKeyRecord => ({
    kid: r.kid,
    alg: r.alg,
    publicJwk: JSON.parse(r.public_jwk) as Record<string, unknown>,
    privateJwk: r.private_jwk,
    status: r.status as SigningKeyRecord['status'],
    createdAt: Number(r.created_at),
    retireAt: r.retire_at === null ? null : Number(r.retire_at),
  });
  return {
    async listPublished() {
      return (await db.selectFrom('signing_keys').selectAll().where('status', '!=', 'retired')
        .orderBy('created_at', 'desc').orderBy('kid').execute()).map(toRecord);
    },
    async listAll() {
      return (await db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').orderBy('kid').execute()).map(toRecord);
    },
    async insert(k) {
      await mapConflict('signing key', k.kid, () => db.insertInto('signing_keys').values({
        kid: k.kid, alg: k.alg, public_jwk: JSON.stringify(k.publicJwk), private_jwk: k.privateJwk,
        status: k.status, created_at: k.createdAt, retire_at: k.retireAt,
      }).execute());
    },
    async demoteActive(retireAt, keep) {
      let q = db.updateTable('signing_keys').set({ status: 'retiring', retire_at: retireAt }).where('status', '=', 'active');
      if (keep.length) q = q.where('kid', 'not in', keep);
      await q.execute();
    },
    async retireDue(now) {
      const res = await db.updateTable('signing_keys').set({ status: 'retired' })
        .where('status', '=', 'retiring').where('retire_at', '<=', now).executeTakeFirst();
      return Number(res.numUpdatedRows);
    },
  };
}

/** How long another process's client/API edit may take to be seen by this one. */
export const LOOKUP_CACHE_TTL_MS = 5_000;

/** The client repository with `find` served from a short read cache (see storage/read-cache.ts). */
export function withClientCache(inner: ClientRepository, ttlMs = LOOKUP_CACHE_TTL_MS): ClientRepository & { invalidateAll(): void } {
  const cache = new ReadCache<ClientRecord>(ttlMs);
  return {
    /** Another process changed clients (storage/changes.ts). */
    invalidateAll: () => cache.invalidate(),
    find: (clientId) => cache.get(clientId, () => inner.find(clientId)),
    list: () => inner.list(),
    async upsert(client) {
      try {
        return await inner.upsert(client);
      } finally {
        cache.invalidate(client.clientId);
      }
    },
    async create(client) {
      try {
        return await inner.create(client);
      } finally {
        cache.invalidate(client.clientId);
      }
    },
    async replaceIfVersion(client, version) {
      try {
        return await inner.replaceIfVersion(client, version);
      } finally {
        cache.invalidate(client.clientId);
      }
    },
    async delete(clientId) {
      try {
        return await inner.delete(clientId);
      } finally {
        cache.invalidate(clientId);
      }
    },
  };
}

/** The API repository with `find` served from a short read cache. */
export function withApiCache(inner: ApiRepository, ttlMs = LOOKUP_CACHE_TTL_MS): ApiRepository & { invalidateAll(): void } {
  const cache = new ReadCache<ApiRecord>(ttlMs);
  return {
    /** Another process changed APIs (storage/changes.ts). */
    invalidateAll: () => cache.invalidate(),
    find: (identifier) => cache.get(identifier, () => inner.find(identifier)),
    list: () => inner.list(),
    async upsert(api) {
      try {
        return await inner.upsert(api);
      } finally {
        cache.invalidate(api.identifier);
      }
    },
    async create(api) {
      try {
        return await inner.create(api);
      } finally {
        cache.invalidate(api.identifier);
      }
    },
    async replaceIfVersion(api, version) {
      try {
        return await inner.replaceIfVersion(api, version);
      } finally {
        cache.invalidate(api.identifier);
      }
    },
    async delete(identifier) {
      try {
        return await inner.delete(identifier);
      } finally {
        cache.invalidate(identifier);
      }
    },
  };
}
