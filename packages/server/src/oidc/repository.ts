import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { ReadCache } from '../storage/read-cache.js';
import { mapConflict, mapMissingReference } from '../storage/errors.js';
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
}

export interface ApiRecord {
  /** The resource indicator (RFC 8707) and the `aud` of its access tokens. */
  identifier: string;
  name: string;
  scopes: string[];
  signingAlg: string;
  accessTokenTtl: number;
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
  delete(clientId: string): Promise<boolean>;
}

export interface ApiRepository {
  find(identifier: string): Promise<ApiRecord | undefined>;
  list(): Promise<ApiRecord[]>;
  upsert(api: ApiRecord): Promise<UpsertOutcome>;
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
  const toRecord = (r: Database['clients']): ClientRecord => ({
    clientId: r.client_id,
    tenantId: r.tenant_id,
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    secretHash: r.secret_hash,
    firstParty: r.first_party === 1,
  });
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
      if (existing.tenant_id === row.tenant_id && existing.metadata === row.metadata
        && existing.secret_hash === row.secret_hash && existing.first_party === row.first_party) return 'unchanged';
      await mapMissingReference('tenant', c.tenantId, () =>
        db.updateTable('clients').set({ ...row, updated_at: now }).where('client_id', '=', c.clientId).execute());
      return 'updated';
    },
    async delete(clientId) {
      const res = await db.deleteFrom('clients').where('client_id', '=', clientId).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
  };
}

export function createApiRepository(db: Kysely<Database>): ApiRepository {
  const toRecord = (r: Database['apis']): ApiRecord => ({
    identifier: r.identifier,
    name: r.name,
    scopes: JSON.parse(r.scopes) as string[],
    signingAlg: r.signing_alg,
    accessTokenTtl: Number(r.access_token_ttl),
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
      const row = { name: a.name, scopes: JSON.stringify(a.scopes), signing_alg: a.signingAlg, access_token_ttl: a.accessTokenTtl };
      const existing = await db.selectFrom('apis').selectAll().where('identifier', '=', a.identifier).executeTakeFirst();
      if (!existing) {
        await mapConflict('api', a.identifier, () => db.insertInto('apis')
          .values({ identifier: a.identifier, ...row, created_at: now, updated_at: now }).execute());
        return 'created';
      }
      if (existing.name === row.name && existing.scopes === row.scopes && existing.signing_alg === row.signing_alg
        && Number(existing.access_token_ttl) === row.access_token_ttl) return 'unchanged';
      await db.updateTable('apis').set({ ...row, updated_at: now }).where('identifier', '=', a.identifier).execute();
      return 'updated';
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
export function withClientCache(inner: ClientRepository, ttlMs = LOOKUP_CACHE_TTL_MS): ClientRepository {
  const cache = new ReadCache<ClientRecord>(ttlMs);
  return {
    find: (clientId) => cache.get(clientId, () => inner.find(clientId)),
    list: () => inner.list(),
    async upsert(client) {
      try {
        return await inner.upsert(client);
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
export function withApiCache(inner: ApiRepository, ttlMs = LOOKUP_CACHE_TTL_MS): ApiRepository {
  const cache = new ReadCache<ApiRecord>(ttlMs);
  return {
    find: (identifier) => cache.get(identifier, () => inner.find(identifier)),
    list: () => inner.list(),
    async upsert(api) {
      try {
        return await inner.upsert(api);
      } finally {
        cache.invalidate(api.identifier);
      }
    },
  };
}
