import { randomUUID } from 'node:crypto';
import type { Insertable, Kysely } from 'kysely';
import type { Database, UsersTable } from '../../storage/schema.js';
import { createUserRepository, toUser } from '../../identity/repository.js';
import { sortBinary } from '../../storage/order.js';
import { nameKeys, normalizeEmail, normalizeUsername } from '../../identity/model.js';
import type { User, UserProfilePatch } from '../../identity/model.js';
import { ConflictError, NotFoundError, isUniqueViolation } from '../../storage/errors.js';
import type { FirebaseParams } from '../../identity/hashes.js';
import type { AttributeCaller, AttributeDefinition } from '../model.js';
import { createUserDataRepository } from '../repository.js';
import type { UserData, UserDataWrite } from '../repository.js';
import { UserDataInvalid, UserDataService } from '../service.js';
import { readRecords } from './records.js';
import { parseCsvHeader, parseRow, rowMessage } from './rows.js';
import type { CsvHeader, ImportRow, RowError } from './rows.js';

export interface ImportOptions {
  tenantId: string;
  format: 'jsonl' | 'csv';
  /** A row whose user exists with other values: left alone (`skip`, reported) or brought in line (`update`). */
  onConflict: 'skip' | 'update';
  dryRun: boolean;
  /** Queue an activation mail for each created user with an email address and no password. */
  sendActivation: boolean;
  caller: AttributeCaller;
  batchSize: number;
  maxRecordBytes: number;
  firebase?: FirebaseParams;
}

export interface ImportCounts {
  created: number;
  updated: number;
  unchanged: number;
  skipped: number;
  failed: number;
}

export interface ImportProgress {
  /** Byte offset past the last row handled (and committed, unless a dry run). */
  bytes: number;
  /** The line after it. */
  line: number;
  counts: ImportCounts;
}

/** Where to start: a resumed job's checkpoint (the CSV header is read again from the file's start). */
export interface ImportStart extends ImportProgress {
  header?: string;
  /** Keys of rows before the checkpoint, for duplicate-in-file checks (see `collectKeys`). */
  seen?: Set<string>;
}

export interface ImportHooks {
  onProgress?(p: ImportProgress): void;
  /** Errors of a batch, once the batch is done (for a report). */
  onErrors?(errors: RowError[]): void | Promise<void>;
  /** Runs inside each batch's transaction: a job's checkpoint and error report commit with its rows. */
  checkpoint?(db: Kysely<Database>, p: ImportProgress, errors: RowError[]): Promise<void>;
}

export const emptyCounts = (): ImportCounts => ({ created: 0, updated: 0, unchanged: 0, skipped: 0, failed: 0 });

/** What a planned row does. */
type Plan =
  | { kind: 'create'; row: ImportRow; user: Insertable<UsersTable>; write: UserDataWrite }
  | { kind: 'update'; row: ImportRow; user: User; patch: UserProfilePatch; roles?: string[]; write: UserDataWrite; hash?: string };

/**
 * Imports users from a stream of JSONL or CSV (docs/users.md#import), in
 * batches, each one transaction: a row is written whole or not at all, a
 * bad row is reported (line, field, code) and the rest go on. Rows are
 * matched to stored users by their identity (first external id, else email,
 * else username), so running the same file again creates nothing and
 * reports every row `unchanged`; a run killed mid-way and started again
 * finishes the job with nothing lost and nothing doubled.
 * @throws NotFoundError for an unknown tenant.
 */
export async function runImport(db: Kysely<Database>, chunks: AsyncIterable<Buffer>, opts: ImportOptions, hooks: ImportHooks = {}, start?: ImportStart):
  Promise<{ counts: ImportCounts; progress: ImportProgress; headerErrors?: RowError[] }> {
  if (!(await db.selectFrom('tenants').select('id').where('id', '=', opts.tenantId).executeTakeFirst())) throw new NotFoundError('tenant', opts.tenantId);
  const service = new UserDataService({ db });
  const definitions = new Map((await service.definitions(opts.tenantId)).map((d) => [d.name, d]));
  const roles = new Set(['admin', ...(await db.selectFrom('roles').select('name').where('tenant_id', '=', opts.tenantId).execute()).map((r) => r.name)]);
  const counts = { ...emptyCounts(), ...start?.counts };
  const seen = start?.seen ?? new Set<string>();
  let header: CsvHeader | undefined;
  if (opts.format === 'csv' && start?.header !== undefined) {
    const h = parseCsvHeader(start.header, definitions);
    if (Array.isArray(h)) return { counts, progress: { bytes: start.bytes, line: start.line, counts }, headerErrors: h };
    header = h;
  }
  let progress: ImportProgress = { bytes: start?.bytes ?? 0, line: start?.line ?? 1, counts };
  let batch: ImportRow[] = [];
  let errors: RowError[] = [];
  let pendingEnd = progress;

  const flush = async () => {
    const done = await processBatch(db, service, batch, errors, { ...opts, definitions, roles, seen }, pendingEnd, hooks);
    for (const k of Object.keys(counts) as (keyof ImportCounts)[]) counts[k] += done[k];
    progress = { ...pendingEnd, counts: { ...counts } };
    if (errors.length) await hooks.onErrors?.(errors);
    hooks.onProgress?.(progress);
    batch = [];
    errors = [];
  };

  for await (const rec of readRecords(chunks, { csv: opts.format === 'csv', maxRecordBytes: opts.maxRecordBytes, offset: start?.bytes, line: start?.line })) {
    pendingEnd = { bytes: rec.end, line: rec.next, counts };
    if (opts.format === 'csv' && !header) {
      const h = rec.error ? [{ line: rec.line, field: null, code: rec.error, message: `header ${rowMessage(rec.error)}` }] : parseCsvHeader(rec.text!, definitions);
      if (Array.isArray(h)) return { counts, progress, headerErrors: h };
      header = h;
      continue;
    }
    if (rec.error) {
      errors.push({ line: rec.line, field: null, code: rec.error, message: `row ${rowMessage(rec.error)}` });
      counts.failed += 1;
    } else {
      const row = parseRow(rec.line, rec.text!, { csv: header, definitions, firebase: opts.firebase });
      if (Array.isArray(row)) {
        errors.push(...row);
        counts.failed += 1;
      } else batch.push(row);
    }
    if (batch.length >= opts.batchSize || errors.length >= opts.batchSize) await flush();
  }
  if (batch.length || errors.length || pendingEnd.bytes !== progress.bytes) await flush();
  return { counts, progress };
}

interface BatchContext extends ImportOptions {
  definitions: Map<string, AttributeDefinition>;
  roles: Set<string>;
  seen: Set<string>;
}

/** The keys of a row that must be unique in a file: identity, email, username, external ids, unique values. */
function rowKeys(row: ImportRow, definitions: Map<string, AttributeDefinition>): { key: string; field: string }[] {
  const keys = Object.entries(row.externalIds).map(([s, id]) => ({ key: `x\u0000${s}\u0000${id}`, field: `external_ids.${s}` }));
  if (row.profile.email) keys.push({ key: `e\u0000${normalizeEmail(row.profile.email)}`, field: 'email' });
  if (row.profile.username) keys.push({ key: `u\u0000${normalizeUsername(row.profile.username)}`, field: 'username' });
  for (const [name, value] of Object.entries(row.attributes ?? {})) {
    if (definitions.get(name)?.unique && value !== null && value !== undefined) keys.push({ key: `a\u0000${name}\u0000${JSON.stringify(value)}`, field: `attributes.${name}` });
  }
  return keys;
}

/** Keys of the rows of a file up to `bytes` (a resumed job's duplicate check), without touching the store. */
export async function collectKeys(chunks: AsyncIterable<Buffer>, format: 'jsonl' | 'csv', upTo: number, definitions: Map<string, AttributeDefinition>): Promise<Set<string>> {
  const seen = new Set<string>();
  let header: CsvHeader | undefined;
  for await (const rec of readRecords(chunks, { csv: format === 'csv', maxRecordBytes: 1 << 20 })) {
    if (rec.end > upTo) break;
    if (rec.error) continue;
    if (format === 'csv' && !header) {
      const h = parseCsvHeader(rec.text!, definitions);
      if (Array.isArray(h)) break;
      header = h;
      continue;
    }
    const row = parseRow(rec.line, rec.text!, { csv: header, definitions });
    if (!Array.isArray(row)) for (const k of rowKeys(row, definitions)) seen.add(k.key);
  }
  return seen;
}

async function processBatch(db: Kysely<Database>, service: UserDataService, rows: ImportRow[], errors: RowError[], ctx: BatchContext,
  end: ImportProgress, hooks: ImportHooks): Promise<ImportCounts> {
  const counts = emptyCounts();
  const fail = (row: ImportRow, field: string | null, code: string, message?: string) => {
    errors.push({ line: row.line, field, code, message: message ?? `${field ?? 'row'} ${rowMessage(code)}` });
    counts.failed += 1;
  };

  // 1. duplicates within the file
  const fresh: ImportRow[] = [];
  for (const row of rows) {
    const keys = rowKeys(row, ctx.definitions);
    const dup = keys.find((k) => ctx.seen.has(k.key));
    if (dup) {
      fail(row, dup.field, 'duplicate_in_file');
      continue;
    }
    for (const k of keys) ctx.seen.add(k.key);
    fresh.push(row);
  }

  // 2. the stored user each row names (by its identity)
  const targets = await resolveTargets(db, ctx.tenantId, fresh);
  const existing = targets.size ? await loadUsers(db, [...new Set(targets.values())]) : new Map<string, User>();
  const data = await service.dataOfMany([...existing.keys()]);

  // 3. plan each row
  const plans: Plan[] = [];
  const newRows: ImportRow[] = [];
  for (const row of fresh) {
    const unknownRole = row.roles?.find((r) => !ctx.roles.has(r));
    if (unknownRole) {
      fail(row, `roles.${row.roles!.indexOf(unknownRole)}`, 'unknown_role', `role "${unknownRole}" is not declared in tenant ${ctx.tenantId}`);
      continue;
    }
    const userId = targets.get(row);
    const user = userId ? existing.get(userId) : undefined;
    let write: UserDataWrite;
    try {
      write = await service.plan(ctx.tenantId, ctx.caller, { attributes: row.attributes, externalIds: row.externalIds }, user ? data.get(user.id)! : null, ctx.definitions);
    } catch (err) {
      if (!(err instanceof UserDataInvalid)) throw err;
      for (const [field, code] of Object.entries(err.fields)) errors.push({ line: row.line, field, code, message: `${field} ${rowMessage(code)}` });
      counts.failed += 1;
      continue;
    }
    if (!user) {
      // A row may name an existing user by external id alone; a new user needs a way to sign in.
      if (!row.profile.username && !row.profile.email) {
        fail(row, 'email', 'required', 'a new user needs a username or an email address');
        continue;
      }
      newRows.push(row);
      plans.push({ kind: 'create', row, user: newUserRow(ctx.tenantId, row), write });
      continue;
    }
    const patch = profilePatch(user, row);
    const roles = row.roles && [...new Set(row.roles)].sort().join('\u0000') !== user.roles.join('\u0000') ? [...new Set(row.roles)].sort() : undefined;
    const hash = row.passwordHash !== undefined && row.passwordHash !== user.passwordHash ? row.passwordHash : undefined;
    const dataChanged = Boolean(write.set?.length || write.remove?.length || Object.keys(write.externalIds ?? {}).length);
    if (!Object.keys(patch).length && !roles && !hash && !dataChanged) {
      counts.unchanged += 1;
      continue;
    }
    if (ctx.onConflict === 'skip') {
      counts.skipped += 1;
      errors.push({ line: row.line, field: row.key.kind === 'external_id' ? `external_ids.${row.key.source}` : row.key.kind, code: 'exists',
        message: 'a user with this identity exists with other values; skipped (--on-conflict update changes it)' });
      continue;
    }
    plans.push({ kind: 'update', row, user, patch, roles, write, hash });
  }

  // 4. what the store already holds for new rows: emails, usernames, unique values and other external ids of other users
  const taken = await takenValues(db, service, ctx.tenantId, plans);
  const writable = plans.filter((p) => {
    const t = taken.get(p.row);
    if (t) fail(p.row, t, 'taken', `${t} is already used by another user in tenant ${ctx.tenantId}`);
    return !t;
  });

  // The report in file order (parse errors were collected before the rows were planned).
  errors.sort((a, b) => a.line - b.line);

  // 5. write, all in one transaction with the checkpoint; a race lost to another writer redoes the batch row by row
  const apply = async (trx: Kysely<Database>, list: Plan[]) => {
    const creates = list.filter((p): p is Extract<Plan, { kind: 'create' }> => p.kind === 'create');
    await insertCreates(trx, ctx, creates);
    for (const p of list) if (p.kind === 'update') await applyUpdate(trx, ctx.tenantId, p);
  };
  const tally = (list: Plan[]) => {
    for (const p of list) counts[p.kind === 'create' ? 'created' : 'updated'] += 1;
  };
  if (ctx.dryRun) {
    tally(writable);
    return counts;
  }
  try {
    await db.transaction().execute(async (trx) => {
      await apply(trx, writable);
      await hooks.checkpoint?.(trx, withCounts(end, counts, writable), errors);
    });
    tally(writable);
  } catch (err) {
    if (!(err instanceof ConflictError) && !isUniqueViolation(err)) throw err;
    const ok: Plan[] = [];
    for (const p of writable) {
      try {
        await db.transaction().execute((trx) => apply(trx, [p]));
        ok.push(p);
      } catch (e) {
        if (!(e instanceof ConflictError) && !isUniqueViolation(e)) throw e;
        fail(p.row, null, 'taken', 'a value of this row was taken by another user meanwhile');
      }
    }
    tally(ok);
    errors.sort((a, b) => a.line - b.line);
    if (hooks.checkpoint) await db.transaction().execute((trx) => hooks.checkpoint!(trx, { ...end, counts: addCounts(end.counts, counts) }, errors));
  }
  return counts;
}

function withCounts(end: ImportProgress, batch: ImportCounts, writable: Plan[]): ImportProgress {
  const c = { ...batch };
  for (const p of writable) c[p.kind === 'create' ? 'created' : 'updated'] += 1;
  return { ...end, counts: addCounts(end.counts, c) };
}

function addCounts(a: ImportCounts, b: ImportCounts): ImportCounts {
  return { created: a.created + b.created, updated: a.updated + b.updated, unchanged: a.unchanged + b.unchanged, skipped: a.skipped + b.skipped, failed: a.failed + b.failed };
}

async function resolveTargets(db: Kysely<Database>, tenantId: string, rows: ImportRow[]): Promise<Map<ImportRow, string>> {
  const out = new Map<ImportRow, string>();
  const byExt = rows.filter((r) => r.key.kind === 'external_id');
  if (byExt.length) {
    const found = await db.selectFrom('user_external_ids').select(['source', 'external_id', 'user_id']).where('tenant_id', '=', tenantId)
      .where('external_id', 'in', byExt.map((r) => (r.key as { id: string }).id)).execute();
    const map = new Map(found.map((f) => [`${f.source}\u0000${f.external_id}`, f.user_id]));
    for (const r of byExt) {
      const k = r.key as { source: string; id: string };
      const id = map.get(`${k.source}\u0000${k.id}`);
      if (id) out.set(r, id);
    }
  }
  for (const kind of ['email', 'username'] as const) {
    const list = rows.filter((r) => r.key.kind === kind);
    if (!list.length) continue;
    const column = kind === 'email' ? 'email_normalized' : 'username_normalized';
    const found = await db.selectFrom('users').select(['id', column]).where('tenant_id', '=', tenantId)
      .where(column, 'in', list.map((r) => (r.key as { value: string }).value)).execute();
    const map = new Map(found.map((f) => [(f as Record<string, string>)[column], f.id]));
    for (const r of list) {
      const id = map.get((r.key as { value: string }).value);
      if (id) out.set(r, id);
    }
  }
  return out;
}

async function loadUsers(db: Kysely<Database>, ids: string[]): Promise<Map<string, User>> {
  const [rows, roles] = await Promise.all([
    db.selectFrom('users').selectAll().where('id', 'in', ids).execute(),
    db.selectFrom('user_roles as r').innerJoin('users as u', (j) => j.onRef('u.id', '=', 'r.user_id').onRef('u.tenant_id', '=', 'r.tenant_id'))
      .select(['r.user_id', 'r.role']).where('r.user_id', 'in', ids).execute(),
  ]);
  return new Map(rows.map((r) => [r.id, toUser(r, sortBinary(roles.filter((x) => x.user_id === r.id).map((x) => x.role), (x) => x))]));
}

/** The profile fields a row gives that differ from the stored user (absent fields stay). */
function profilePatch(user: User, row: ImportRow): UserProfilePatch {
  const p = row.profile;
  const patch: UserProfilePatch = {};
  if (p.username !== undefined && p.username !== user.username) patch.username = p.username;
  if (p.email !== undefined && p.email !== user.email) patch.email = p.email;
  if (p.email_verified !== undefined && p.email_verified !== user.emailVerified) patch.emailVerified = p.email_verified;
  if (p.given_name !== undefined && p.given_name !== user.givenName) patch.givenName = p.given_name;
  if (p.family_name !== undefined && p.family_name !== user.familyName) patch.familyName = p.family_name;
  if (p.phone_number !== undefined && p.phone_number !== user.phoneNumber) patch.phoneNumber = p.phone_number;
  if (p.phone_number_verified !== undefined && p.phone_number_verified !== user.phoneNumberVerified) patch.phoneNumberVerified = p.phone_number_verified;
  if (p.locale !== undefined && p.locale !== user.locale) patch.locale = p.locale;
  if (p.status !== undefined && p.status !== user.status) patch.status = p.status;
  return patch;
}

function newUserRow(tenantId: string, row: ImportRow): Insertable<UsersTable> {
  const p = row.profile;
  const now = Date.now();
  const keys = nameKeys(p.given_name, p.family_name);
  return {
    id: randomUUID(), tenant_id: tenantId, username: p.username ?? null, username_normalized: p.username ? normalizeUsername(p.username) : null,
    email: p.email ?? null, email_normalized: p.email ? normalizeEmail(p.email) : null, email_verified: p.email_verified ? 1 : 0,
    given_name: p.given_name ?? null, family_name: p.family_name ?? null, phone_number: p.phone_number ?? null,
    phone_number_verified: p.phone_number_verified ? 1 : 0, password_hash: row.passwordHash ?? null, status: p.status ?? 'active',
    created_at: now, updated_at: now, failed_logins: 0, failed_window_start: null, locked_until: null,
    password_changed_at: row.passwordHash ? now : null, locale: p.locale ?? null, name_family_first: keys.familyFirst, name_given_first: keys.givenFirst,
  };
}

/** For each plan, the first of its unique values another user holds (a field name), if any. */
async function takenValues(db: Kysely<Database>, service: UserDataService, tenantId: string, plans: Plan[]): Promise<Map<ImportRow, string>> {
  const out = new Map<ImportRow, string>();
  const owner = (p: Plan) => (p.kind === 'update' ? p.user.id : null);
  for (const column of ['email_normalized', 'username_normalized'] as const) {
    const wanted = new Map<string, Plan>();
    for (const p of plans) {
      const v = p.kind === 'create' ? p.user[column] : column === 'email_normalized' ? (p.patch.email ? normalizeEmail(p.patch.email) : null) : (p.patch.username ? normalizeUsername(p.patch.username) : null);
      if (v) wanted.set(v, p);
    }
    if (!wanted.size) continue;
    const found = await db.selectFrom('users').select(['id', column]).where('tenant_id', '=', tenantId).where(column, 'in', [...wanted.keys()]).execute();
    for (const f of found) {
      const p = wanted.get((f as Record<string, string>)[column]!)!;
      if (f.id !== owner(p) && !out.has(p.row)) out.set(p.row, column === 'email_normalized' ? 'email' : 'username');
    }
  }
  for (const p of plans) {
    if (out.has(p.row) || (!p.write.set?.some((v) => v.lookup !== null) && !Object.keys(p.write.externalIds ?? {}).length)) continue;
    // A new row's identity external id was just looked up and is free; the other values are checked one by one.
    const conflicts = await service.conflicts(tenantId, owner(p), p.write);
    const first = Object.keys(conflicts)[0];
    if (first) out.set(p.row, first);
  }
  return out;
}

async function insertCreates(trx: Kysely<Database>, ctx: BatchContext, creates: Extract<Plan, { kind: 'create' }>[]): Promise<void> {
  // Bound parameters per statement are capped (SQLite 32 766): ~25 columns × 500 rows fits.
  const CHUNK = 500;
  const now = Date.now();
  for (let i = 0; i < creates.length; i += CHUNK) {
    const chunk = creates.slice(i, i + CHUNK);
    await trx.insertInto('users').values(chunk.map((c) => c.user)).execute();
    await trx.insertInto('memberships').values(chunk.map((c) => ({ user_id: c.user.id!, tenant_id: ctx.tenantId, created_at: now }))).execute();
    const roles = chunk.flatMap((c) => [...new Set(c.row.roles ?? [])].map((role) => ({ user_id: c.user.id!, tenant_id: ctx.tenantId, role })));
    if (roles.length) await trx.insertInto('user_roles').values(roles).execute();
    const values = chunk.flatMap((c) => (c.write.set ?? []).map((v) => ({ user_id: c.user.id!, tenant_id: ctx.tenantId, name: v.name, value: JSON.stringify(v.value), lookup: v.lookup })));
    if (values.length) await trx.insertInto('user_attributes').values(values).execute();
    const ids = chunk.flatMap((c) => Object.entries(c.write.externalIds ?? {}).filter(([, id]) => id !== null)
      .map(([source, id]) => ({ tenant_id: ctx.tenantId, source, external_id: id!, user_id: c.user.id!, created_at: now })));
    if (ids.length) await trx.insertInto('user_external_ids').values(ids).execute();
    if (ctx.sendActivation) {
      const queued = chunk.filter((c) => c.user.email && !c.user.password_hash && c.user.status !== 'disabled')
        .map((c) => ({ user_id: c.user.id!, tenant_id: ctx.tenantId, queued_at: now, not_before: now, claimed_at: null, last_error: null }));
      if (queued.length) await trx.insertInto('activation_queue').values(queued).execute();
    }
  }
}

async function applyUpdate(trx: Kysely<Database>, tenantId: string, p: Extract<Plan, { kind: 'update' }>): Promise<void> {
  const users = createUserRepository(trx);
  if (Object.keys(p.patch).length) await users.updateProfile(p.user.id, p.patch);
  if (p.roles) await users.setRoles(p.user.id, tenantId, p.roles);
  if (p.hash) await users.setPasswordHash(p.user.id, p.hash);
  const w = p.write;
  if (w.set?.length || w.remove?.length || Object.keys(w.externalIds ?? {}).length) await createUserDataRepository(trx).write(p.user.id, tenantId, w);
}

export type { RowError, UserData };
