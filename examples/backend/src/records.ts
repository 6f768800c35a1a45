import { randomUUID } from 'node:crypto';
import { onlyOwnTenant, ownTenant } from '@tessera/backend';
import type { Caller } from '@tessera/backend';

/**
 * The example backend's domain: records that belong to a tenant and an owner.
 * Pure logic over an in-memory store; the HTTP layer (server.ts) only turns
 * requests into calls here. Every operation takes the caller, so no code path
 * can read or change data without saying on whose behalf.
 */

export interface RecordItem {
  id: string;
  tenant: string;
  owner: string;
  title: string;
  createdAt: string;
}

/** Roles that may delete any record of their own tenant (not only their own records). */
export const MODERATOR_ROLES: readonly string[] = ['admin', 'editor'];

export type DeleteOutcome =
  | { outcome: 'deleted'; record: RecordItem; via: 'owner' | `role:${string}` }
  /** Unknown here, or another tenant's: the two are indistinguishable on purpose. */
  | { outcome: 'not_found' }
  | { outcome: 'forbidden' };

export class RecordService {
  private readonly records = new Map<string, RecordItem>();

  /** Records of the caller's tenant only: another tenant's data is never even filtered in. */
  list(caller: Caller): RecordItem[] {
    return onlyOwnTenant(caller, this.records.values());
  }

  /**
   * One record, or undefined when it does not exist *or belongs to another
   * tenant*: answering 403 for the latter would confirm that the id exists.
   */
  get(caller: Caller, id: string): RecordItem | undefined {
    return ownTenant(caller, this.records.get(id));
  }

  /** Creates a record owned by the caller, in the caller's tenant (neither can be chosen by the client). */
  create(caller: Caller, input: { title: string }): RecordItem {
    const record: RecordItem = { id: randomUUID(), tenant: caller.tenant, owner: caller.sub, title: input.title, createdAt: new Date().toISOString() };
    this.records.set(record.id, record);
    return record;
  }

  /**
   * Deletes every record of the caller's tenant; returns how many. Who may
   * (an admin who signed in with a second factor recently) is decided at the
   * HTTP edge (server.ts), where the step-up answer can be given.
   */
  purge(caller: Caller): number {
    const own = this.list(caller);
    for (const r of own) this.records.delete(r.id);
    return own.length;
  }

  /** Owners delete their own records; moderators (MODERATOR_ROLES) any record of their tenant. */
  remove(caller: Caller, id: string): DeleteOutcome {
    const record = this.get(caller, id);
    if (!record) return { outcome: 'not_found' };
    let via: 'owner' | `role:${string}` | undefined;
    if (record.owner === caller.sub) via = 'owner';
    else {
      const role = MODERATOR_ROLES.find((r) => caller.roles.includes(r));
      if (role) via = `role:${role}`;
    }
    if (!via) return { outcome: 'forbidden' };
    this.records.delete(id);
    return { outcome: 'deleted', record, via };
  }
}
