import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { mapConflict, mapMissingReference } from '../storage/errors.js';
import { isStorableText } from '../storage/text.js';
import type { ChangeResult, InboundSource, Mapping, SourceOrigin } from './model.js';

export interface NewInboundSource {
  id: string;
  tenantId: string;
  name: string;
  sealedSecret: string;
  ipAllowlist: string[] | null;
  mapping: Mapping;
  enabled: boolean;
  origin: SourceOrigin;
}

export type InboundSourcePatch = Partial<Pick<NewInboundSource, 'sealedSecret' | 'ipAllowlist' | 'mapping' | 'enabled' | 'origin'>>;

/** A contact's sync state (one row per source and external id). */
export interface ContactState {
  userId: string;
  changedAt: number;
  state: 'active' | 'merged' | 'anonymized';
}

const toSource = (r: Database['inbound_sources']): InboundSource => ({
  id: r.id, tenantId: r.tenant_id, name: r.name, ipAllowlist: r.ip_allowlist ? JSON.parse(r.ip_allowlist) as string[] : null,
  mapping: JSON.parse(r.mapping) as Mapping, enabled: Number(r.enabled) === 1, origin: r.origin as SourceOrigin,
  createdAt: Number(r.created_at), updatedAt: Number(r.updated_at),
});

/** Sources (with their sealed secrets). Migration 032. */
export function createInboundSourceRepository(db: Kysely<Database>) {
  return {
    /** @throws ConflictError when the tenant has a source of that name; NotFoundError for an unknown tenant. */
    async create(s: NewInboundSource, now = Date.now()): Promise<InboundSource> {
      const row = {
        id: s.id, tenant_id: s.tenantId, name: s.name, secret: s.sealedSecret, ip_allowlist: s.ipAllowlist ? JSON.stringify(s.ipAllowlist) : null,
        mapping: JSON.stringify(s.mapping), enabled: s.enabled ? 1 : 0, origin: s.origin, created_at: now, updated_at: now,
      };
      await mapMissingReference('tenant', s.tenantId, () => mapConflict('inbound source', s.name, () => db.insertInto('inbound_sources').values(row).execute()));
      return toSource(row);
    },
    async find(id: string): Promise<InboundSource | undefined> {
      if (!isStorableText(id)) return undefined;
      const r = await db.selectFrom('inbound_sources').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? toSource(r) : undefined;
    },
    /** The source and its sealed secret, by tenant and name (the inbound endpoint). */
    async findByName(tenantId: string, name: string): Promise<{ source: InboundSource; sealedSecret: string } | undefined> {
      if (!isStorableText(tenantId) || !isStorableText(name)) return undefined;
      const r = await db.selectFrom('inbound_sources').selectAll().where('tenant_id', '=', tenantId).where('name', '=', name).executeTakeFirst();
      return r ? { source: toSource(r), sealedSecret: r.secret } : undefined;
    },
    async sealedSecret(id: string): Promise<string | undefined> {
      return (await db.selectFrom('inbound_sources').select('secret').where('id', '=', id).executeTakeFirst())?.secret;
    },
    async list(tenantId: string | undefined): Promise<InboundSource[]> {
      let q = db.selectFrom('inbound_sources').selectAll();
      if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
      return (await q.orderBy('tenant_id').orderBy('name').execute()).map(toSource);
    },
    async update(id: string, patch: InboundSourcePatch, now = Date.now()): Promise<InboundSource | undefined> {
      const set: Partial<Database['inbound_sources']> = { updated_at: now };
      if (patch.sealedSecret !== undefined) set.secret = patch.sealedSecret;
      if (patch.ipAllowlist !== undefined) set.ip_allowlist = patch.ipAllowlist ? JSON.stringify(patch.ipAllowlist) : null;
      if (patch.mapping !== undefined) set.mapping = JSON.stringify(patch.mapping);
      if (patch.enabled !== undefined) set.enabled = patch.enabled ? 1 : 0;
      if (patch.origin !== undefined) set.origin = patch.origin;
      await db.updateTable('inbound_sources').set(set).where('id', '=', id).execute();
      return this.find(id);
    },
    async delete(id: string): Promise<boolean> {
      const res = await db.deleteFrom('inbound_sources').where('id', '=', id).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
  };
}
export type InboundSourceRepository = ReturnType<typeof createInboundSourceRepository>;

/** The sync state a batch reads and writes, bound to the batch's transaction. */
export function createSyncStateRepository(db: Kysely<Database>, tenantId: string, source: string) {
  return {
    /** Results of event ids already applied (idempotency). */
    async applied(eventIds: string[]): Promise<Map<string, ChangeResult>> {
      if (!eventIds.length) return new Map();
      const rows = await db.selectFrom('inbound_events').select(['event_id', 'result'])
        .where('tenant_id', '=', tenantId).where('source', '=', source).where('event_id', 'in', eventIds).execute();
      return new Map(rows.map((r) => [r.event_id, JSON.parse(r.result) as ChangeResult]));
    },
    async recordApplied(eventId: string, messageId: string, result: ChangeResult, now: number): Promise<void> {
      await db.insertInto('inbound_events').values({
        tenant_id: tenantId, source, event_id: eventId, message_id: messageId, result: JSON.stringify(result), applied_at: now,
      }).execute();
    },
    async contact(externalId: string): Promise<ContactState | undefined> {
      const r = await db.selectFrom('inbound_contacts').select(['user_id', 'changed_at', 'state'])
        .where('tenant_id', '=', tenantId).where('source', '=', source).where('external_id', '=', externalId).executeTakeFirst();
      return r ? { userId: r.user_id, changedAt: Number(r.changed_at), state: r.state as ContactState['state'] } : undefined;
    },
    async saveContact(externalId: string, s: ContactState, now: number): Promise<void> {
      const res = await db.updateTable('inbound_contacts').set({ user_id: s.userId, changed_at: s.changedAt, state: s.state, updated_at: now })
        .where('tenant_id', '=', tenantId).where('source', '=', source).where('external_id', '=', externalId).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) {
        await db.insertInto('inbound_contacts').values({
          tenant_id: tenantId, source, external_id: externalId, user_id: s.userId, changed_at: s.changedAt, state: s.state, updated_at: now,
        }).execute();
      }
    },
    /** Points a merged user to its survivor; users that pointed to the loser point to the survivor too. */
    async recordMerge(loserId: string, survivorId: string, now: number): Promise<void> {
      await db.updateTable('user_merges').set({ survivor_id: survivorId }).where('survivor_id', '=', loserId).execute();
      await db.deleteFrom('user_merges').where('user_id', '=', loserId).execute();
      await db.insertInto('user_merges').values({ user_id: loserId, tenant_id: tenantId, survivor_id: survivorId, source, merged_at: now }).execute();
    },
  };
}
export type SyncStateRepository = ReturnType<typeof createSyncStateRepository>;
