import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { DomainEventType } from '../audit/events.js';
import type { User, UserProfilePatch } from '../identity/model.js';
import { nameKeys, normalizeUsername } from '../identity/model.js';
import type { UserRepository } from '../identity/repository.js';
import type { OidcPayloadStore } from '../oidc/payload-store.js';
import type { AttributeDefinition } from '../userdata/model.js';
import { sourceCaller } from '../userdata/model.js';
import type { UserDataRepository, UserDataWrite } from '../userdata/repository.js';
import { UserDataInvalid } from '../userdata/service.js';
import type { UserDataService } from '../userdata/service.js';
import { mapContact } from './mapping.js';
import type { MappedProfile } from './mapping.js';
import type { Change, ChangeResult, InboundSource } from './model.js';
import type { SyncStateRepository } from './repository.js';

/** Everything one batch works with, bound to its transaction. */
export interface BatchContext {
  trx: Kysely<Database>;
  tenantId: string;
  source: InboundSource;
  users: UserRepository;
  data: UserDataRepository;
  userData: UserDataService;
  state: SyncStateRepository;
  definitions: Map<string, AttributeDefinition>;
  payloads: OidcPayloadStore;
  /** Records a domain event in the batch's transaction (audit entry and webhook outbox). */
  record(type: DomainEventType, subjectId: string | null, data: Record<string, unknown>): Promise<void>;
  /** Erases the user's personal data from earlier audit entries (audit/erasure.ts), in the transaction. */
  redact(userId: string): Promise<void>;
  now: number;
}

type Upsert = Extract<Change, { type: 'upsert' }>;
type Merge = Extract<Change, { type: 'merge' }>;
type Anonymize = Extract<Change, { type: 'anonymize' }>;

const refused = (c: Change, code: string, fields?: Record<string, string>): ChangeResult => ({ id: c.id, status: 'refused', code, ...(fields ? { fields } : {}) });

/** The Tessera user of a contact of this source (its own id, merged or not). */
async function userOf(ctx: BatchContext, externalId: string): Promise<User | undefined> {
  const id = await ctx.data.findUserByExternalId(ctx.tenantId, ctx.source.name, externalId);
  return id ? ctx.users.findById(id) : undefined;
}

const PROFILE_KEYS: Record<keyof MappedProfile, keyof UserProfilePatch> = {
  username: 'username', email: 'email', email_verified: 'emailVerified', given_name: 'givenName', family_name: 'familyName',
  phone_number: 'phoneNumber', locale: 'locale',
};

/** Email and username must stay unique in the tenant: checked before writing, so a batch never trips a unique index. */
async function takenFields(ctx: BatchContext, selfId: string | null, patch: UserProfilePatch): Promise<Record<string, string>> {
  const fields: Record<string, string> = {};
  if (patch.email) {
    const other = await ctx.users.findByEmail(ctx.tenantId, patch.email);
    if (other && other.id !== selfId) fields.email = 'taken';
  }
  if (patch.username) {
    const other = await ctx.users.findByUsername(ctx.tenantId, patch.username);
    if (other && other.id !== selfId) fields.username = 'taken';
  }
  return fields;
}

async function planData(ctx: BatchContext, selfId: string | null, change: { attributes: Record<string, unknown>; externalIds?: Record<string, string> },
  current: Awaited<ReturnType<UserDataRepository['dataOf']>> | null): Promise<{ write: UserDataWrite } | { problem: ChangeResult['fields']; code: string }> {
  try {
    const write = await ctx.userData.plan(ctx.tenantId, sourceCaller(ctx.source.name), change, current, ctx.definitions);
    const taken = await ctx.userData.conflicts(ctx.tenantId, selfId, write);
    return Object.keys(taken).length ? { problem: taken, code: 'taken' } : { write };
  } catch (err) {
    if (err instanceof UserDataInvalid) return { problem: err.fields, code: 'invalid' };
    throw err;
  }
}

/** Creates the contact's user, or changes the fields the mapping names (and the attributes the source owns). */
export async function upsert(ctx: BatchContext, c: Upsert): Promise<ChangeResult> {
  const mapped = mapContact(ctx.source.mapping, c.contact, ctx.source.name, ctx.definitions);
  const ignored = mapped.ignored.length ? { ignored_attributes: mapped.ignored } : {};
  if (Object.keys(mapped.problems).length) return { ...refused(c, 'invalid', mapped.problems), ...ignored };
  const patch: UserProfilePatch = {};
  for (const [field, value] of Object.entries(mapped.profile)) (patch as Record<string, unknown>)[PROFILE_KEYS[field as keyof MappedProfile]] = value;
  const user = await userOf(ctx, c.external_id);

  if (!user) {
    if (!patch.username && !patch.email) return { ...refused(c, 'invalid', { username: 'required', email: 'required' }), ...ignored };
    const taken = await takenFields(ctx, null, patch);
    if (Object.keys(taken).length) return { ...refused(c, 'taken', taken), ...ignored };
    const planned = await planData(ctx, null, { attributes: mapped.attributes, externalIds: { [ctx.source.name]: c.external_id } }, null);
    if ('problem' in planned) return { ...refused(c, planned.code, planned.problem), ...ignored };
    const created = await ctx.users.create({
      tenantId: ctx.tenantId, username: patch.username ?? null, email: patch.email ?? null, emailVerified: patch.emailVerified ?? false,
      givenName: patch.givenName ?? null, familyName: patch.familyName ?? null, phoneNumber: patch.phoneNumber ?? null,
      locale: patch.locale ?? null, status: 'active', passwordHash: null,
    });
    await ctx.data.write(created.id, ctx.tenantId, planned.write);
    await ctx.record('user.created', created.id, {
      status: 'active', has_password: false, attributes: (planned.write.set ?? []).map((v) => v.name), external_ids: [ctx.source.name],
    });
    await ctx.state.saveContact(c.external_id, { userId: created.id, changedAt: c.changed_at, state: 'active' }, ctx.now);
    return { id: c.id, status: 'created', user_id: created.id, ...ignored };
  }

  // Only what differs is written (and named in user.updated).
  const changed: UserProfilePatch = {};
  for (const [key, value] of Object.entries(patch) as [keyof UserProfilePatch, unknown][]) {
    const current = (user as unknown as Record<string, unknown>)[key] ?? null;
    if (value !== current) (changed as Record<string, unknown>)[key] = value;
  }
  const next = { username: changed.username !== undefined ? changed.username : user.username, email: changed.email !== undefined ? changed.email : user.email };
  if (!next.username && !next.email) return { ...refused(c, 'invalid', { username: 'required', email: 'required' }), ...ignored };
  const taken = await takenFields(ctx, user.id, changed);
  if (Object.keys(taken).length) return { ...refused(c, 'taken', taken), ...ignored };
  const currentData = await ctx.data.dataOf(user.id);
  const planned = await planData(ctx, user.id, { attributes: mapped.attributes }, currentData);
  if ('problem' in planned) return { ...refused(c, planned.code, planned.problem), ...ignored };
  const attributes = [...(planned.write.set ?? []).map((v) => v.name), ...(planned.write.remove ?? [])].sort();
  const fields = Object.keys(changed).map((k) => Object.entries(PROFILE_KEYS).find(([, v]) => v === k)?.[0] ?? k).sort();
  // A new address or number is not verified unless the source says so (as in the admin API).
  if (changed.email !== undefined && changed.emailVerified === undefined && user.emailVerified) changed.emailVerified = false;
  if (changed.phoneNumber !== undefined && user.phoneNumberVerified) changed.phoneNumberVerified = false;
  await ctx.state.saveContact(c.external_id, { userId: user.id, changedAt: c.changed_at, state: 'active' }, ctx.now);
  if (!fields.length && !attributes.length) return { id: c.id, status: 'unchanged', user_id: user.id, ...ignored };
  if (Object.keys(changed).length) await ctx.users.updateProfile(user.id, changed);
  if (attributes.length) await ctx.data.write(user.id, ctx.tenantId, planned.write);
  await ctx.record('user.updated', user.id, { fields, ...(attributes.length ? { attributes } : {}) });
  return { id: c.id, status: 'updated', user_id: user.id, ...ignored };
}

/** Ends everything issued to the account (sessions, grants, tokens) inside the batch; records session.revoked when there were sessions. */
async function signOutEverywhere(ctx: BatchContext, userId: string): Promise<void> {
  const sessions = await ctx.payloads.listByAccount('Session', userId);
  await ctx.payloads.revokeByAccount(userId);
  await ctx.trx.deleteFrom('session_meta').where('account_id', '=', userId).execute();
  if (sessions.length) await ctx.record('session.revoked', userId, { scope: 'all', count: sessions.length });
}

/**
 * Merges the contact `merged` into `external_id`: the survivor keeps its id
 * and gains the loser's roles, memberships and upstream links; the loser is
 * disabled, signed out everywhere, and points to the survivor (its external
 * ids resolve to the survivor).
 */
export async function merge(ctx: BatchContext, c: Merge): Promise<ChangeResult> {
  if (c.merged === c.external_id) return refused(c, 'same_contact');
  const [survivorState, loserState] = [await ctx.state.contact(c.external_id), await ctx.state.contact(c.merged)];
  if (survivorState?.state === 'merged' || loserState?.state === 'merged') return refused(c, 'contact_merged');
  const survivor = await userOf(ctx, c.external_id);
  const loser = await userOf(ctx, c.merged);
  if (!survivor || !loser) return refused(c, 'unknown_contact', { ...(!survivor ? { external_id: 'unknown' } : {}), ...(!loser ? { merged: 'unknown' } : {}) });
  if (survivor.id === loser.id) return refused(c, 'same_contact');
  const { trx } = ctx;

  // Roles and memberships move (the survivor keeps what it had).
  const roles = await trx.selectFrom('user_roles').select(['tenant_id', 'role']).where('user_id', '=', loser.id).execute();
  const has = new Set((await trx.selectFrom('user_roles').select(['tenant_id', 'role']).where('user_id', '=', survivor.id).execute()).map((r) => `${r.tenant_id}\u0000${r.role}`));
  const moved = roles.filter((r) => !has.has(`${r.tenant_id}\u0000${r.role}`));
  if (moved.length) await trx.insertInto('user_roles').values(moved.map((r) => ({ user_id: survivor.id, tenant_id: r.tenant_id, role: r.role }))).execute();
  await trx.deleteFrom('user_roles').where('user_id', '=', loser.id).execute();
  const memberships = await trx.selectFrom('memberships').select(['tenant_id', 'created_at']).where('user_id', '=', loser.id).execute();
  const member = new Set((await trx.selectFrom('memberships').select('tenant_id').where('user_id', '=', survivor.id).execute()).map((r) => r.tenant_id));
  const joins = memberships.filter((m) => !member.has(m.tenant_id) && m.tenant_id !== survivor.tenantId);
  if (joins.length) await trx.insertInto('memberships').values(joins.map((m) => ({ user_id: survivor.id, tenant_id: m.tenant_id, created_at: ctx.now }))).execute();
  await trx.deleteFrom('memberships').where('user_id', '=', loser.id).execute();
  // Upstream identities (federation links) sign in as the survivor from now on; roles they granted follow.
  await trx.updateTable('external_links').set({ user_id: survivor.id }).where('user_id', '=', loser.id).execute();
  const grants = await trx.selectFrom('federated_grants').selectAll().where('user_id', '=', loser.id).execute();
  const held = new Set((await trx.selectFrom('federated_grants').selectAll().where('user_id', '=', survivor.id).execute()).map((g) => `${g.tenant_id}\u0000${g.provider}\u0000${g.role}`));
  const grantMoves = grants.filter((g) => !held.has(`${g.tenant_id}\u0000${g.provider}\u0000${g.role}`));
  if (grantMoves.length) await trx.insertInto('federated_grants').values(grantMoves.map((g) => ({ ...g, user_id: survivor.id }))).execute();
  await trx.deleteFrom('federated_grants').where('user_id', '=', loser.id).execute();
  // The survivor's version moves on (its roles changed, the admin API's ETag with them).
  await ctx.users.updateProfile(survivor.id, {});

  await ctx.users.updateProfile(loser.id, { status: 'disabled' });
  await signOutEverywhere(ctx, loser.id);
  await ctx.state.recordMerge(loser.id, survivor.id, ctx.now);
  await ctx.state.saveContact(c.merged, { userId: loser.id, changedAt: Math.max(c.changed_at, loserState?.changedAt ?? 0), state: 'merged' }, ctx.now);
  await ctx.state.saveContact(c.external_id, { userId: survivor.id, changedAt: Math.max(c.changed_at, survivorState?.changedAt ?? 0), state: survivorState?.state ?? 'active' }, ctx.now);
  if (loser.status !== 'disabled') await ctx.record('user.disabled', loser.id, { previous_status: loser.status });
  await ctx.record('user.merged', survivor.id, { survivor: survivor.id, merged: loser.id, roles: moved.map((r) => r.role).sort() });
  return { id: c.id, status: 'merged', user_id: survivor.id };
}

/**
 * Erases the contact's personal data: names, email, phone, username (a
 * random pseudonym takes its place), attribute values, upstream links and
 * factors; the account is disabled and signed out everywhere, and earlier
 * audit entries about or by the user lose their personal data.
 */
export async function anonymize(ctx: BatchContext, c: Anonymize): Promise<ChangeResult> {
  const state = await ctx.state.contact(c.external_id);
  const user = await userOf(ctx, c.external_id);
  if (!user) return refused(c, 'unknown_contact', { external_id: 'unknown' });
  if (state?.state === 'anonymized') return { id: c.id, status: 'unchanged', user_id: user.id };
  const { trx } = ctx;
  const pseudonym = `anon-${randomBytes(8).toString('hex')}`;
  const keys = nameKeys(null, null);
  await trx.updateTable('users').set((eb) => ({
    username: pseudonym, username_normalized: normalizeUsername(pseudonym), email: null, email_normalized: null, email_verified: 0,
    given_name: null, family_name: null, phone_number: null, phone_number_verified: 0, locale: null, password_hash: null,
    name_family_first: keys.familyFirst, name_given_first: keys.givenFirst, status: 'disabled', locked_until: null,
    updated_at: ctx.now, version: eb('version', '+', 1),
  })).where('id', '=', user.id).execute();
  await trx.deleteFrom('user_attributes').where('user_id', '=', user.id).execute();
  // Upstream links hold the upstream's email; factors (passkey and authenticator names) can name the person.
  await trx.deleteFrom('external_links').where('user_id', '=', user.id).execute();
  await trx.deleteFrom('mfa_totp').where('user_id', '=', user.id).execute();
  await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', user.id).execute();
  await trx.deleteFrom('passkeys').where('user_id', '=', user.id).execute();
  await signOutEverywhere(ctx, user.id);
  await ctx.state.saveContact(c.external_id, { userId: user.id, changedAt: Math.max(c.changed_at, state?.changedAt ?? 0), state: 'anonymized' }, ctx.now);
  await ctx.record('user.anonymized', user.id, { previous_status: user.status });
  // Last, so the entries just written are covered too.
  await ctx.redact(user.id);
  return { id: c.id, status: 'anonymized', user_id: user.id };
}
