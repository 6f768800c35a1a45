import { z } from 'zod';
import { AppError } from '../http/errors.js';
import type { AdminRouter } from '../admin/routing.js';
import type { AdminEmit } from '../admin/audit.js';
import { pathId } from '../admin/schemas.js';
import type { UserAdminService } from '../admin/users/service.js';
import type { AuditRepository } from '../audit/repository.js';
import type { UserExportService } from './export.js';
import { ADMIN_EXPORTS_PER_HOUR, exportAllowance } from './limits.js';

/** GET /users/{id}/export (docs/admin.md#data-export): one user's data for a data-protection access request. */
export function registerExportRoute(route: AdminRouter, deps: { users: UserAdminService; exporter: UserExportService; audit: AuditRepository; emit: AdminEmit }): void {
  route({
    method: 'GET', path: '/users/:id/export', tag: 'Users', scope: 'identity.admin', stepUp: 'always',
    summary: 'Export a user\'s data (data-protection access request)',
    description: 'Profile, attributes, external ids, identity-provider links, memberships and roles, second factors (never secrets), sessions, '
      + `consents and the audit entries about or by the user, as one JSON document (format tessera.user-export/1). Needs a recent multi-factor sign-in; `
      + `audited (user.exported); at most ${ADMIN_EXPORTS_PER_HOUR} exports per caller and hour (429 with Retry-After).`,
    params: z.object({ id: pathId }),
    response: z.record(z.string(), z.unknown()).describe('The export document (docs/admin.md#data-export).'),
    errors: [404, 429],
    async handler({ principal, params, event, stepUp, reply }) {
      stepUp();
      const user = await deps.users.get(principal, params.id);
      const allowed = await exportAllowance(deps.audit, principal.id, ADMIN_EXPORTS_PER_HOUR);
      if (!allowed.ok) {
        reply.header('retry-after', String(allowed.retryAfter));
        throw new AppError('too_many_requests', 429, `At most ${ADMIN_EXPORTS_PER_HOUR} exports an hour; retry after the delay in Retry-After.`);
      }
      const doc = await deps.exporter.export(user);
      await deps.emit('user.exported', principal, { tenantId: user.tenantId, subjectId: user.id }, event, { target: 'user', format: doc.format });
      // A download, and nothing any cache should keep (the router sets no-store).
      reply.header('content-disposition', `attachment; filename="tessera-user-${user.id}.json"`);
      return doc;
    },
  });
}
