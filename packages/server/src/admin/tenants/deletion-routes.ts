import { z } from 'zod';
import { AppError } from '../../http/errors.js';
import type { AdminRouter } from '../routing.js';
import { pathId } from '../schemas.js';
import { TenantNotEmpty } from './deletion.js';
import type { TenantDeletionService } from './deletion.js';

const deletedView = z.object({
  id: z.string(),
  cascade: z.boolean(),
  deleted: z.record(z.string(), z.number().int()).describe('Rows removed, by kind (users, clients, roles, sessions_and_tokens, …).'),
});

/** DELETE /tenants/{tenant} (docs/admin.md#deleting-a-tenant). */
export function registerTenantDeletionRoute(route: AdminRouter, deletion: TenantDeletionService): void {
  route({
    method: 'DELETE', path: '/tenants/:tenant', tag: 'Tenants', scope: 'identity.admin', stepUp: 'always',
    summary: 'Delete a tenant (platform administrators)',
    description: 'Needs a recent multi-factor sign-in (RFC 9470). Refused for `default` and for tenants the configuration file declares (409). '
      + 'Without `cascade=true` only an empty tenant (no users, clients or members from other tenants) is deleted, else 409 `tenant_not_empty` '
      + 'with `fields` naming what is left. With `cascade=true` its users, clients, roles, sessions, tokens and every other row of the tenant '
      + 'go in one transaction with it. The audit log keeps its entries.',
    params: z.object({ tenant: pathId }),
    query: z.strictObject({ cascade: z.enum(['true', 'false']).default('false').describe('`true` deletes everything in the tenant.') }),
    response: deletedView, errors: [400, 404, 409],
    async handler({ principal, params, query, event, stepUp }) {
      try {
        return await deletion.delete(principal, params.tenant, query.cascade === 'true', event, stepUp);
      } catch (err) {
        if (err instanceof TenantNotEmpty) {
          throw new AppError('tenant_not_empty', 409, `${err.message} Delete them first, or pass cascade=true.`,
            Object.fromEntries(Object.keys(err.contents).map((k) => [k, 'not_empty'])));
        }
        throw err;
      }
    },
  });
}
