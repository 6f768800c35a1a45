import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { isUniqueViolation } from '../storage/errors.js';
import { shape, writeShape } from '../storage/compiled.js';
import type { CompiledWrite } from '../storage/compiled.js';
import { coalescedFinds } from './payload-finds.js';
import { pooledRandomBytes } from './random-pool.js';

type Payload = Record<string, unknown>;

/** One upsert of `OidcPayloadStore.upsertMany`. */
export interface PayloadWrite { model: string; id: string; payload: Payload; expiresIn?: number }

/** The engine models that are issued under a grant (they carry its `grantId`). */
/** What ending a grant removes; an Interaction or Session also names a grant, and outlives it (see revokeByGrantId). */
export const ISSUED_UNDER_GRANT: readonly string[] = ['AuthorizationCode', 'AccessToken', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest'];

/**
 * The models whose find also reads the grant the row names, in the same
 * statement: the engine looks that grant up next (UserInfo, introspection,
 * a refresh, a code exchange), and the adapter answers that lookup with it
 * (grant-prefetch.ts), one statement fewer per request (issue 20).
 */
export const FOUND_WITH_GRANT: ReadonlySet<string> = new Set(['AccessToken', 'RefreshToken', 'AuthorizationCode']);

/** The grant read with a token's find: its engine id and payload. */
export interface PrefetchedGrant { id: string; payload: Payload }
const prefetched = new WeakMap<Payload, PrefetchedGrant>();

/** The grant read in the same statement as this payload (a find of a FOUND_WITH_GRANT model), if it was found and live. */
export function prefetchedGrant(payload: object | undefined): PrefetchedGrant | undefined {
  return payload ? prefetched.get(payload as Payload) : undefined;
}

/** The user a token's find read with it (`withAccount`), as `userFromJoinedJson` takes it. */
export interface PrefetchedAccount { accountId: string; rows: unknown }
const prefetchedAccounts = new WeakMap<Payload, PrefetchedAccount>();

/** The user read in the same statement as this payload (a find `withAccount` of a token naming one), if the token was found and live. */
export function prefetchedAccount(payload: object | undefined): PrefetchedAccount | undefined {
  return payload ? prefetchedAccounts.get(payload as Payload) : undefined;
}

/**
 * Storage for the protocol engine's short-lived artefacts (sessions,
 * interactions, codes, refresh tokens, grants…), one table for all models.
 * Expiry is enforced on read, and `sweep` deletes what has expired.
 */
export interface OidcPayloadStore {
  upsert(model: string, id: string, payload: Payload, expiresInSeconds?: number): Promise<void>;
  /**
   * Several upserts as one atomic write (one statement in the database): the
   * token endpoint's writes of one request (oidc/write-batch.ts). At most one
   * entry per model and id.
   */
  upsertMany(entries: readonly PayloadWrite[]): Promise<void>;
  /**
   * The artefact, or undefined. `withAccount`: a token whose user the request
   * reads next; a store that can reads that user in the same statement
   * (`prefetchedAccount`), others ignore it.
   */
  find(model: string, id: string, options?: { withAccount?: boolean }): Promise<Payload | undefined>;
  findByUid(model: string, uid: string): Promise<Payload | undefined>;
  findByUserCode(model: string, userCode: string): Promise<Payload | undefined>;
  /** Marks a one-time artefact (code, rotated refresh token) as used. */
  consume(model: string, id: string): Promise<void>;
  /**
   * Marks it as used only if it was not yet, atomically; true for the one
   * caller that did. Two instances refreshing the same token at once must not
   * both rotate it (oidc/refresh-policy.ts).
   */
  consumeOnce(model: string, id: string): Promise<boolean>;
  /**
   * Stores the artefact only if no live one has this id, atomically; true for
   * the one caller that stored it. The replay caches (DPoP proofs, RFC 9449
   * §11.1): two instances seeing the same proof at once must not both accept it.
   */
  insertOnce(model: string, id: string, payload: Payload, expiresInSeconds: number): Promise<boolean>;
  destroy(model: string, id: string): Promise<void>;
  /** Deletes by the stable `uid` (a Session's id changes on every login; its uid does not). Says whether it deleted. */
  destroyByUid(model: string, uid: string): Promise<boolean>;
  /**
   * Deletes the codes and tokens issued under a grant (reuse detection,
   * revocation, logout). Not an Interaction that merely points at the grant
   * it would reuse: ending a session while another user's sign-in is under
   * way (the engine logs the old user out, then resumes) must leave it.
   */
  revokeByGrantId(grantId: string): Promise<void>;
  /** Deletes expired rows; returns how many. */
  sweep(now?: number): Promise<number>;
  /** Live artefacts of one model belonging to an account (e.g. its sessions or grants). */
  listByAccount(model: string, accountId: string): Promise<Payload[]>;
  /** Deletes everything issued to an account (sessions, grants, tokens): "sign out everywhere". */
  revokeByAccount(accountId: string, models?: string[]): Promise<number>;
  /**
   * Deletes everything issued to an account except one session and what was
   * issued under its grants ("sign out everywhere else"). Returns how many.
   */
  revokeByAccountExcept(accountId: string, keep: { sessionUid: string; grantIds: string[] }): Promise<number>;
  /** The same store over another connection (a transaction), with the same digest key. */
  withDb(db: Kysely<Database>): OidcPayloadStore;
  /**
   * Rewrites rows stored before ids were digested (plain token ids): their
   * id and user code become digests and the token copies in the payload are sealed.
   * Idempotent, safe with several instances; returns how many rows changed.
   */
  upgradeLegacyRows(): Promise<number>;
}

/**
 * Marks stored ids as keyed digests. Engine ids (nanoid, base64url hashes)
 * never contain a dot, so a row without the prefix is from before digests.
 */
const DIGEST_PREFIX = 'h1.';
/** How many recent id digests `payloadProtector` keeps. */
const DIGEST_MEMO_SIZE = 1024;
/** tessera_meta key set once every row of a database holds digests (upgradeLegacyRows). */
const UPGRADE_FLAG = 'oidc_payload_ids_digested';
/** Prefix of a value sealed (AES-256-GCM) inside a stored payload. */
const SEALED_PREFIX = 's1.';

/**
 * What a copy of the database must not yield: usable tokens. The row key of
 * every artefact (access and refresh tokens, codes, sessions, interactions,
 * grants…) is a keyed digest, HMAC-SHA256 with a key derived from
 * TESSERA_SECRET, of the engine's id, as client secrets are stored as
 * digests; so is a device-flow user code. Inside the payload, the engine's
 * copy of the id (`jti`) and an Interaction's copy of the session cookie
 * value (`session.cookie`) are sealed (AES-256-GCM, same key source), so
 * lookups by reference (`findByUid`, `findByUserCode`, `listByAccount`) still
 * return exactly what the engine stored. `uid`, `grantId` and `accountId`
 * stay readable: references, not bearer credentials.
 */
export interface Protector {
  digest(model: string, kind: 'id' | 'user_code', value: string): string;
  seal(value: string): string;
  /** The sealed value, or the value itself when it is not sealed (rows from before sealing). */
  open(value: string): string;
}

export function payloadProtector(key: string): Protector {
  const macKey = Buffer.from(hkdfSync('sha256', key, 'tessera', 'oidc payload id digest', 32));
  const aeadKey = Buffer.from(hkdfSync('sha256', key, 'tessera', 'oidc payload seal', 32));
  // The digests made last, by input: one artefact's id is digested several times in a request and
  // across a sign-in's requests (find, consume, upsert, destroy), and each HMAC into OpenSSL cost
  // ~17 µs on a server's cold caches (issue 20). A pure function of its input; bounded, oldest out.
  const digests = new Map<string, string>();
  return {
    digest(model, kind, value) {
      const input = `${kind}\u0000${model}\u0000${value}`;
      let out = digests.get(input);
      if (out === undefined) {
        out = DIGEST_PREFIX + createHmac('sha256', macKey).update(input).digest('base64url');
        if (digests.size >= DIGEST_MEMO_SIZE) digests.delete(digests.keys().next().value!);
        digests.set(input, out);
      }
      return out;
    },
    seal(value) {
      const iv = pooledRandomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', aeadKey, iv);
      const ct = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
      return SEALED_PREFIX + [iv, ct, cipher.getAuthTag()].map((b) => b.toString('base64url')).join('.');
    },
    open(value) {
      if (!value.startsWith(SEALED_PREFIX)) return value;
      const [iv, ct, tag] = value.slice(SEALED_PREFIX.length).split('.').map((p) => Buffer.from(p, 'base64url'));
      const decipher = createDecipheriv('aes-256-gcm', aeadKey, iv!);
      decipher.setAuthTag(tag!);
      return Buffer.concat([decipher.update(ct!), decipher.final()]).toString('utf8');
    },
  };
}

/** The payload as stored: the token copies sealed. */
export function storable(payload: Payload, p: Protector): Payload {
  const out: Payload = { ...payload };
  if (typeof out.jti === 'string') out.jti = p.seal(out.jti);
  const session = out.session as Record<string, unknown> | undefined;
  if (session && typeof session === 'object' && typeof session.cookie === 'string') {
    out.session = { ...session, cookie: p.seal(session.cookie) };
  }
  return out;
}

/**
 * The payload as the engine wrote it. `foundById`: the engine id the row was
 * found by (a lookup by its digest). The engine stores every model under its
 * `jti` (`adapter.upsert(this.jti, payload)`), so the sealed copy of a row found
 * that way is that id, and it is not decrypted (issue 20: an AES-GCM open per
 * token, grant and session read). Lookups by reference open it.
 */
export function readable(payload: Payload, p: Protector, foundById?: string): Payload {
  if (typeof payload.jti === 'string') payload.jti = foundById !== undefined && payload.jti.startsWith(SEALED_PREFIX) ? foundById : p.open(payload.jti);
  const session = payload.session as Record<string, unknown> | undefined;
  if (session && typeof session === 'object' && typeof session.cookie === 'string') {
    payload.session = { ...session, cookie: p.open(session.cookie) };
  }
  return payload;
}

/**
 * A lookup by uid (sessions, interactions), compiled once (storage/compiled.ts)
 * rather than built by Kysely on every call (issue 20); finds by id are
 * compiled too, and those of one tick run as one statement (payload-finds.ts).
 */
const byUid = shape((db: Kysely<Database>, model: string, uid: string) =>
  db.selectFrom('oidc_payloads').selectAll().where('model', '=', model).where('uid', '=', uid));

type Columns = [payload: string, grantId: string | null, userCode: string | null, uid: string | null, accountId: string | null, expiresAt: number | null];
const valuesOf = ([payload, grantId, userCode, uid, accountId, expiresAt]: Columns) =>
  ({ payload, grant_id: grantId, user_code: userCode, uid, account_id: accountId, expires_at: expiresAt });

/**
 * The token store's writes, compiled once (storage/compiled.ts): a refresh or
 * a sign-in writes several rows, and Kysely building each statement anew cost
 * as much CPU as SQLite took to run it (issue 20).
 */
const upsertOne = writeShape((db: Kysely<Database>, model: string, id: string, ...columns: Columns) => db.insertInto('oidc_payloads')
  .values({ model, id, consumed_at: null, ...valuesOf(columns) })
  .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet(valuesOf(columns))), 8);
const upsertRows: CompiledWrite<Database, unknown[]>[] = [];
/** `n` rows in one statement, compiled once per count (8 parameters a row: model, id, then Columns). */
const upsertN = (n: number) => upsertRows[n] ??= writeShape((db: Kysely<Database>, ...args: unknown[]) => db.insertInto('oidc_payloads')
  .values(Array.from({ length: n }, (_, i) => ({
    model: args[8 * i] as string, id: args[8 * i + 1] as string, consumed_at: null, ...valuesOf(args.slice(8 * i + 2, 8 * i + 8) as Columns),
  })))
  .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet((eb) => ({
    payload: eb.ref('excluded.payload'), grant_id: eb.ref('excluded.grant_id'), user_code: eb.ref('excluded.user_code'),
    uid: eb.ref('excluded.uid'), account_id: eb.ref('excluded.account_id'), expires_at: eb.ref('excluded.expires_at'),
  }))), 8 * n);
const consumeRow = writeShape((db: Kysely<Database>, now: number, model: string, id: string) => db.updateTable('oidc_payloads')
  .set({ consumed_at: now }).where('model', '=', model).where('id', '=', id));
const consumeUnconsumed = writeShape((db: Kysely<Database>, now: number, model: string, id: string) => db.updateTable('oidc_payloads')
  .set({ consumed_at: now }).where('model', '=', model).where('id', '=', id).where('consumed_at', 'is', null));
const destroyRow = writeShape((db: Kysely<Database>, model: string, id: string) => db.deleteFrom('oidc_payloads')
  .where('model', '=', model).where('id', '=', id));

/**
 * @param idKey the key of the id digests (`kek.derive('oidc payload ids')`);
 *   every instance sharing the database must use the same (same TESSERA_SECRET).
 */
export function createOidcPayloadStore(db: Kysely<Database>, idKey: string): OidcPayloadStore {
  const p = payloadProtector(idKey);
  const digest = p.digest;
  const findRow = coalescedFinds(db);
  const live = (row: Database['oidc_payloads'] | undefined, foundById?: string): Payload | undefined => {
    if (!row) return undefined;
    if (row.expires_at !== null && Number(row.expires_at) <= Date.now()) return undefined;
    const payload = readable(JSON.parse(row.payload) as Payload, p, foundById);
    return row.consumed_at === null ? payload : { ...payload, consumed: Math.floor(Number(row.consumed_at) / 1000) };
  };
  const columns = (model: string, plainId: string, payload: Payload, expiresIn: number | undefined): Columns => [
    JSON.stringify(storable(payload, p)),
    // A grant keeps its own id there: a token's find reads its grant in the same statement (payload-finds.ts).
    typeof payload.grantId === 'string' ? payload.grantId : model === 'Grant' ? plainId : null,
    typeof payload.userCode === 'string' ? digest(model, 'user_code', payload.userCode) : null,
    typeof payload.uid === 'string' ? payload.uid : null,
    typeof payload.accountId === 'string' ? payload.accountId : null,
    expiresIn ? Date.now() + expiresIn * 1000 : null,
  ];
  return {
    async upsert(model, plainId, payload, expiresIn) {
      await upsertOne.run(db, model, digest(model, 'id', plainId), ...columns(model, plainId, payload, expiresIn));
    },
    async upsertMany(entries) {
      if (!entries.length) return;
      // One multi-row statement: atomic on both engines, one round trip and one commit on PostgreSQL.
      await upsertN(entries.length).run(db, ...entries.flatMap((e) => [e.model, digest(e.model, 'id', e.id), ...columns(e.model, e.id, e.payload, e.expiresIn)]));
    },
    async find(model, id, options) {
      const withGrant = FOUND_WITH_GRANT.has(model);
      const found = await findRow(model, digest(model, 'id', id), { withGrant, withAccount: withGrant && options?.withAccount === true });
      const payload = live(found.row, id);
      if (payload && found.grant?.grant_id) {
        const grant = live(found.grant, found.grant.grant_id);
        if (grant) prefetched.set(payload, { id: found.grant.grant_id, payload: grant });
      }
      if (payload && found.account !== undefined && found.row?.account_id) prefetchedAccounts.set(payload, { accountId: found.row.account_id, rows: found.account });
      return payload;
    },
    async findByUid(model, uid) {
      return live((await byUid.execute(db, model, uid))[0]);
    },
    async findByUserCode(model, userCode) {
      return live(await db.selectFrom('oidc_payloads').selectAll()
        .where('model', '=', model).where('user_code', '=', digest(model, 'user_code', userCode)).executeTakeFirst());
    },
    async consume(model, id) {
      await consumeRow.run(db, Date.now(), model, digest(model, 'id', id));
    },
    async consumeOnce(model, id) {
      return (await consumeUnconsumed.run(db, Date.now(), model, digest(model, 'id', id))) > 0;
    },
    async insertOnce(model, plainId, payload, expiresIn) {
      const now = Date.now();
      const values = {
        payload: JSON.stringify(storable(payload, p)), grant_id: null, user_code: null, uid: null, account_id: null,
        expires_at: now + expiresIn * 1000, consumed_at: null,
      };
      // An expired row with the same id (not swept yet) is taken over; a live one wins.
      const res = await db.insertInto('oidc_payloads')
        .values({ model, id: digest(model, 'id', plainId), ...values })
        .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet(values).where('oidc_payloads.expires_at', '<=', now))
        .executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
    },
    async destroy(model, id) {
      await destroyRow.run(db, model, digest(model, 'id', id));
    },
    async destroyByUid(model, uid) {
      const res = await db.deleteFrom('oidc_payloads').where('model', '=', model).where('uid', '=', uid).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
    async revokeByGrantId(grantId) {
      await db.deleteFrom('oidc_payloads').where('grant_id', '=', grantId).where('model', 'in', ISSUED_UNDER_GRANT).execute();
    },
    async listByAccount(model, accountId) {
      const rows = await db.selectFrom('oidc_payloads').selectAll()
        .where('model', '=', model).where('account_id', '=', accountId).execute();
      return rows.map((r) => live(r)).filter((x): x is Payload => x !== undefined);
    },
    async revokeByAccount(accountId, models) {
      let q = db.deleteFrom('oidc_payloads').where('account_id', '=', accountId);
      if (models?.length) q = q.where('model', 'in', models);
      const res = await q.executeTakeFirst();
      return Number(res.numDeletedRows);
    },
    async revokeByAccountExcept(accountId, keep) {
      // The session by its uid (its id changes when it is re-issued); grants are rows of their own
      // (id = grant id); tokens and codes carry the grant id.
      const res = await db.deleteFrom('oidc_payloads').where('account_id', '=', accountId)
        .where((eb) => eb.not(eb.or([
          eb.and([eb('model', '=', 'Session'), eb('uid', '=', keep.sessionUid)]),
          ...(keep.grantIds.length ? [
            eb.and([eb('model', '=', 'Grant'), eb('id', 'in', keep.grantIds.map((g) => digest('Grant', 'id', g)))]),
            eb.and([eb('model', '!=', 'Grant'), eb('grant_id', 'is not', null), eb('grant_id', 'in', keep.grantIds)]),
          ] : []),
        ])))
        .executeTakeFirst();
      return Number(res.numDeletedRows);
    },
    async sweep(now = Date.now()) {
      const res = await db.deleteFrom('oidc_payloads').where('expires_at', '<=', now).executeTakeFirst();
      return Number(res.numDeletedRows);
    },
    withDb(other) {
      return createOidcPayloadStore(other, idKey);
    },
    async upgradeLegacyRows() {
      // Done once per database; the flag spares every later start a scan of the table.
      const done = await db.selectFrom('tessera_meta').select('value').where('key', '=', UPGRADE_FLAG).executeTakeFirst();
      if (done) return 0;
      let changed = 0;
      for (;;) {
        const rows = await db.selectFrom('oidc_payloads').select(['model', 'id', 'payload', 'user_code'])
          .where('id', 'not like', `${DIGEST_PREFIX}%`).limit(500).execute();
        if (!rows.length) {
          await db.insertInto('tessera_meta').values({ key: UPGRADE_FLAG, value: String(Date.now()) })
            .onConflict((oc) => oc.column('key').doNothing()).execute();
          return changed;
        }
        for (const row of rows) {
          const values = {
            id: digest(row.model, 'id', row.id),
            payload: JSON.stringify(storable(JSON.parse(row.payload) as Payload, p)),
            user_code: row.user_code === null ? null : digest(row.model, 'user_code', row.user_code),
          };
          try {
            const res = await db.updateTable('oidc_payloads').set(values)
              .where('model', '=', row.model).where('id', '=', row.id).executeTakeFirst();
            changed += Number(res.numUpdatedRows);
          } catch (err) {
            // Another instance converted it meanwhile, or wrote a new row under the digest: the plain row goes.
            if (!isUniqueViolation(err)) throw err;
            await db.deleteFrom('oidc_payloads').where('model', '=', row.model).where('id', '=', row.id).execute();
          }
        }
      }
    },
  };
}

/**
 * The engine's short-lived models (REDIS_MODELS) in Redis, everything else in
 * the database (`TESSERA_ENGINE_STATE=redis`, docs/scaling.md). Lookups by
 * account and grant ask both; a transaction (`withDb`) covers the database part.
 */
export function createTieredPayloadStore(sql: OidcPayloadStore, redis: RedisPayloads, inRedis: ReadonlySet<string>): OidcPayloadStore {
  const pick = (model: string) => (inRedis.has(model) ? redis : sql);
  return {
    upsert: (model, id, payload, expiresIn) => pick(model).upsert(model, id, payload, expiresIn),
    async upsertMany(entries) {
      const inSql = entries.filter((e) => !inRedis.has(e.model));
      await Promise.all([sql.upsertMany(inSql), redis.upsertMany(entries.filter((e) => inRedis.has(e.model)))]);
    },
    find: (model, id, options) => pick(model).find(model, id, options),
    findByUid: (model, uid) => pick(model).findByUid(model, uid),
    findByUserCode: (model, code) => sql.findByUserCode(model, code),
    consume: (model, id) => pick(model).consume(model, id),
    consumeOnce: (model, id) => pick(model).consumeOnce(model, id),
    insertOnce: (model, id, payload, expiresIn) => pick(model).insertOnce(model, id, payload, expiresIn),
    destroy: (model, id) => pick(model).destroy(model, id),
    destroyByUid: (model, uid) => pick(model).destroyByUid(model, uid),
    async revokeByGrantId(grantId) {
      await Promise.all([sql.revokeByGrantId(grantId), redis.revokeByGrantId(grantId)]);
    },
    sweep: (now) => sql.sweep(now),
    listByAccount: (model, accountId) => pick(model).listByAccount(model, accountId),
    async revokeByAccount(accountId, models) {
      const [a, b] = await Promise.all([sql.revokeByAccount(accountId, models), redis.revokeByAccount(accountId, models)]);
      return a + b;
    },
    async revokeByAccountExcept(accountId, keep) {
      const kept = (model: string, payload: Payload) => (model === 'Session' && payload.uid === keep.sessionUid)
        || (typeof payload.grantId === 'string' && keep.grantIds.includes(payload.grantId));
      const [a, b] = await Promise.all([sql.revokeByAccountExcept(accountId, keep), redis.revokeByAccount(accountId, undefined, kept)]);
      return a + b;
    },
    withDb: (db) => createTieredPayloadStore(sql.withDb(db), redis, inRedis),
    upgradeLegacyRows: () => sql.upgradeLegacyRows(),
  };
}

/** What the Redis half provides (oidc/redis-payload-store.ts). */
export type RedisPayloads = Pick<OidcPayloadStore,
  'upsert' | 'upsertMany' | 'find' | 'findByUid' | 'consume' | 'consumeOnce' | 'insertOnce' | 'destroy' | 'destroyByUid' | 'revokeByGrantId' | 'listByAccount'>
  & { revokeByAccount(accountId: string, models?: string[], keep?: (model: string, payload: Payload) => boolean): Promise<number> };
