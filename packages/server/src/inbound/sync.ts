import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { EventJournal } from '../audit/journal.js';
import type { AuditRepository } from '../audit/repository.js';
import type { EventContext } from '../audit/events.js';
import type { OidcPayloadStore } from '../oidc/payload-store.js';
import { createUserRepository } from '../identity/repository.js';
import { createUserDataRepository } from '../userdata/repository.js';
import { UserDataService } from '../userdata/service.js';
import type { Batch, Change, ChangeResult, ChangeStatus, InboundSource } from './model.js';
import { createSyncStateRepository } from './repository.js';
import { anonymize, merge, upsert } from './operations.js';
import type { BatchContext } from './operations.js';

export interface ContactSyncDeps {
  db: Kysely<Database>;
  journal: EventJournal;
  audit: AuditRepository;
  payloads: OidcPayloadStore;
}

export interface BatchOutcome {
  results: ChangeResult[];
  counts: Partial<Record<ChangeStatus, number>>;
}

/** The contact of a change whose last applied change time orders it: for a merge, the contact merged away. */
const orderedBy = (c: Change) => (c.type === 'merge' ? c.merged : c.external_id);

/**
 * Applies a verified batch of a source (docs/webhooks.md#inbound-contact-sync):
 * all of it in one transaction, with its events (audit entries and webhook
 * outbox) and the ids of the events it applied, so a failure leaves nothing
 * behind and the sender's retry lands exactly once. Changes apply in the
 * source's change order; an event id already applied, or a change older than
 * the last one applied for its contact, changes nothing.
 */
export class ContactSync {
  constructor(private readonly deps: ContactSyncDeps) {}

  async apply(source: InboundSource, batch: Batch, messageId: string, event: EventContext): Promise<BatchOutcome> {
    const context: EventContext = { ...event, actorId: `inbound_source:${source.name}` };
    const outcome = await this.deps.db.transaction().execute(async (trx) => {
      // One batch of a source at a time (a row lock on PostgreSQL, the write lock on SQLite): a retry racing
      // the first attempt waits for it and then finds its event ids applied.
      await trx.updateTable('inbound_sources').set((eb) => ({ updated_at: eb.ref('updated_at') })).where('id', '=', source.id).execute();
      const now = Date.now();
      const users = createUserRepository(trx);
      const data = createUserDataRepository(trx);
      const state = createSyncStateRepository(trx, source.tenantId, source.name);
      const ctx: BatchContext = {
        trx, tenantId: source.tenantId, source, users, data, state, now,
        userData: new UserDataService({ db: trx, repo: data, users }),
        definitions: new Map((await data.listDefinitions(source.tenantId)).map((d) => [d.name, d])),
        payloads: this.deps.payloads.withDb(trx),
        record: async (type, subjectId, details) => {
          await this.deps.journal.recordIn(trx, {
            type, tenantId: source.tenantId, subjectId, context, data: { ...details, via: 'contact_sync', source: source.name },
          });
        },
        redact: async (userId) => {
          await this.deps.audit.redactUser(userId, { db: trx });
        },
      };
      const applied = await state.applied(batch.changes.map((c) => c.id));
      const results = new Map<string, ChangeResult>();
      // In the source's change order, whatever order the batch lists them in (the sort is stable).
      const ordered = batch.changes.map((c, i) => ({ c, i })).sort((a, b) => a.c.changed_at - b.c.changed_at || a.i - b.i).map((x) => x.c);
      for (const change of ordered) {
        const before = applied.get(change.id);
        if (before) {
          results.set(change.id, { id: change.id, status: 'duplicate', ...(before.user_id ? { user_id: before.user_id } : {}) });
          continue;
        }
        const result = await this.applyOne(ctx, change);
        await state.recordApplied(change.id, messageId, result, now);
        results.set(change.id, result);
      }
      const list = batch.changes.map((c) => results.get(c.id)!);
      const counts: BatchOutcome['counts'] = {};
      for (const r of list) counts[r.status] = (counts[r.status] ?? 0) + 1;
      await this.deps.journal.recordIn(trx, {
        type: 'contacts.synced', tenantId: source.tenantId, subjectId: null, context,
        data: { source: source.name, message: messageId, counts },
      });
      return { results: list, counts };
    });
    this.deps.journal.committed();
    return outcome;
  }

  private async applyOne(ctx: BatchContext, change: Change): Promise<ChangeResult> {
    const last = await ctx.state.contact(orderedBy(change));
    if (last && change.changed_at < last.changedAt) return { id: change.id, status: 'stale', user_id: last.userId };
    if (change.type === 'upsert') {
      if (last?.state === 'merged') return { id: change.id, status: 'refused', code: 'contact_merged' };
      if (last?.state === 'anonymized') return { id: change.id, status: 'refused', code: 'contact_anonymized' };
      return upsert(ctx, change);
    }
    if (change.type === 'merge') return merge(ctx, change);
    return anonymize(ctx, change);
  }
}
