import type { Kysely } from 'kysely';
import type { EventContext } from '../../audit/events.js';
import type { TenantRepository } from '../../identity/repository.js';
import type { ClientRepository } from '../../oidc/repository.js';
import type { Database } from '../../storage/schema.js';
import { NotFoundError, inTransaction, isForeignKeyViolation } from '../../storage/errors.js';
import { isStorableText } from '../../storage/text.js';
import { TENANT_DATA, deletionOrder } from '../../storage/tenant-data.js';
import type { TenantDataPart } from '../../storage/tenant-data.js';
import { PLATFORM_TENANT } from '../access.js';
import type { AdminPrincipal } from '../access.js';
import type { AdminEmit } from '../audit.js';
import { AdminConflict } from '../errors.js';
import { requirePlatform } from '../tenancy.js';

export interface TenantDeletionDeps {
  db: Kysely<Database>;
  tenants: TenantRepository;
  /** Cached for token requests: the deleted clients are evicted once the deletion committed. */
  clients: Pick<ClientRepository, 'delete'>;
  emit: AdminEmit;
  /** Tenants the configuration file declares: deleting them would only last until the next start. */
  declaredTenants: ReadonlySet<string>;
  /** The registry (storage/tenant-data.ts); tests pass their own. */
  parts?: readonly TenantDataPart[];
}

/** A plain DELETE found the tenant in use: what is in it, by part (only parts that block, with rows). */
export class TenantNotEmpty extends Error {
  constructor(readonly contents: Record<string, number>) {
    super(`The tenant still has ${Object.entries(contents).map(([k, v]) => `${v} ${k.replace(/_/g, ' ')}`).join(', ')}.`);
    this.name = 'TenantNotEmpty';
  }
}

export interface TenantDeleted {
  id: string;
  cascade: boolean;
  /** Rows removed, by part of the registry (zeros included). */
  deleted: Record<string, number>;
}

/**
 * Deleting a tenant (docs/admin.md#deleting-a-tenant): for platform
 * administrators, with step-up, never the `default` tenant nor one the
 * configuration file declares. Without cascade only an empty tenant goes;
 * with cascade everything in the registry goes, in one transaction with the
 * tenant itself: either all of it is gone or nothing is.
 */
export class TenantDeletionService {
  constructor(private readonly deps: TenantDeletionDeps) {}

  /**
   * @throws AdminForbidden (not a platform administrator), NotFoundError,
   * AdminConflict (`default`, declared in the file, changed meanwhile),
   * the step-up answer, TenantNotEmpty (no cascade, tenant in use).
   */
  async delete(principal: AdminPrincipal, tenantId: string, cascade: boolean, ctx: EventContext, stepUp: () => void): Promise<TenantDeleted> {
    requirePlatform(principal, 'delete tenants');
    const tenant = isStorableText(tenantId) ? await this.deps.tenants.findById(tenantId) : undefined;
    if (!tenant) throw new NotFoundError('tenant', tenantId);
    if (tenant.id === PLATFORM_TENANT) throw new AdminConflict('The default tenant holds the platform administrators and cannot be deleted.');
    stepUp();
    if (this.deps.declaredTenants.has(tenant.id)) {
      throw new AdminConflict('This tenant is declared in the configuration file, which would create it again at the next start: remove it there first.');
    }
    const parts = deletionOrder(this.deps.parts ?? TENANT_DATA);
    let clientIds: string[] = [];
    let deleted: Record<string, number>;
    try {
      deleted = await inTransaction(this.deps.db, async (trx) => {
        const blocking: Record<string, number> = {};
        for (const part of parts.filter((p) => p.blocks)) {
          const count = await part.count(trx, tenant.id);
          if (count > 0) blocking[part.name] = count;
        }
        if (!cascade && Object.keys(blocking).length) throw new TenantNotEmpty(blocking);
        clientIds = (await trx.selectFrom('clients').select('client_id').where('tenant_id', '=', tenant.id).execute()).map((r) => r.client_id);
        const out: Record<string, number> = {};
        for (const part of parts) out[part.name] = await part.remove(trx, tenant.id);
        const gone = await trx.deleteFrom('tenants').where('id', '=', tenant.id).executeTakeFirst();
        if (Number(gone.numDeletedRows) !== 1) throw new NotFoundError('tenant', tenant.id);
        return out;
      });
    } catch (err) {
      // Something was added to the tenant between the deletes (a registration, a client): nothing was deleted.
      if (isForeignKeyViolation(err)) throw new AdminConflict('The tenant changed while it was being deleted; nothing was deleted. Try again.');
      throw err;
    }
    // The read cache would serve the deleted clients for a few more seconds; the engine looks them up there.
    for (const id of clientIds) await this.deps.clients.delete(id);
    await this.deps.emit('tenant.deleted', principal, { tenantId: tenant.id, subjectId: tenant.id }, ctx,
      { target: 'tenant', name: tenant.name, cascade, deleted });
    return { id: tenant.id, cascade, deleted };
  }
}
