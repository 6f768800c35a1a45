import { z } from 'zod';
import { AppError } from '../http/errors.js';
import { ConflictError } from '../storage/errors.js';
import type { AdminEmit } from '../admin/audit.js';
import type { AdminPrincipal } from '../admin/access.js';
import { AdminConflict } from '../admin/errors.js';
import type { AdminRouter } from '../admin/routing.js';
import { iso, isoTime, listOf, pathId } from '../admin/schemas.js';
import type { UserRepository } from '../identity/repository.js';
import type { EventBus } from '../audit/events.js';
import type { Logger } from 'pino';
import type { ExternalLinkRepository } from './links.js';
import type { LinkRequest, LinkRequests } from './link-requests.js';

const requestView = z.object({
  id: z.string(),
  tenant: z.string(),
  provider: z.string().describe('The identity provider\'s alias.'),
  subject: z.string().describe('The identity\'s subject at the provider.'),
  user_id: z.string().describe('The local account the identity would sign in as.'),
  email: z.string().nullable().describe('The address the provider asserted.'),
  kind: z.enum(['link', 'account']).describe('link: an identity whose email belongs to this existing account (link: admin_approval); '
    + 'account: a JIT account waiting to be activated (jit: approve).'),
  status: z.enum(['pending', 'approved', 'rejected', 'expired']),
  created_at: isoTime,
  expires_at: isoTime,
  decided_at: isoTime.nullable(),
  decided_by: z.string().nullable().describe('The administrator (user id or client id) who decided.'),
}).describe('A link request waiting for (or decided by) an administrator (docs/federation.md#link-requests).');

const listQuery = z.object({
  status: z.enum(['pending', 'approved', 'rejected']).optional().describe('Only requests with this status (expired ones count as pending here and show as expired).'),
});
const idParams = z.object({ id: pathId });

/**
 * The approval queue of federated links and JIT accounts (`link:
 * admin_approval`, `jit: approve`; docs/federation.md#link-requests), scope
 * identity.admin. Approving makes the link (or activates the account) and
 * needs step-up: it lets the upstream identity sign in as the account.
 * Rejecting discards a link, or disables the JIT account. The first decision
 * wins (409 for a request decided or expired meanwhile).
 */
export function registerLinkRequestRoutes(route: AdminRouter, deps: {
  requests: LinkRequests; links: ExternalLinkRepository; users: UserRepository; emit: AdminEmit; events: EventBus; log: Logger;
}): void {
  const { requests, links, users, emit } = deps;
  const tag = 'Users';
  const scope = 'identity.admin' as const;
  const kindOf = (r: LinkRequest) => r.approvalKind;
  const view = (r: LinkRequest, now = Date.now()) => ({
    id: r.id, tenant: r.tenantId, provider: r.provider, subject: r.subject, user_id: r.userId, email: r.email, kind: kindOf(r),
    status: r.status === 'pending' && r.expiresAt <= now ? 'expired' as const : r.status,
    created_at: iso(r.createdAt)!, expires_at: iso(r.expiresAt)!, decided_at: iso(r.decidedAt), decided_by: r.decidedBy,
  });
  const find = async (principal: AdminPrincipal, id: string) => {
    const r = await requests.get(id);
    // Another tenant's request is as absent as an unknown one (no existence leak).
    if (!r || !(principal.platform || r.tenantId === principal.tenantId)) throw new AppError('not_found', 404, 'No such link request.');
    return r;
  };
  const pending = (r: LinkRequest) => {
    if (r.status !== 'pending') throw new AdminConflict(`The request was ${r.status} already.`, { status: r.status });
    if (r.expiresAt <= Date.now()) throw new AdminConflict('The request expired: the person signs in again to ask anew.', { status: 'expired' });
  };

  route({
    method: 'GET', path: '/link-requests', tag, scope, summary: 'List link requests',
    description: 'Newest first (at most 500). A tenant administrator sees their tenant\'s requests.',
    query: listQuery, response: listOf(requestView),
    async handler({ principal, query }) {
      const items = await requests.list({ ...(principal.platform ? {} : { tenantId: principal.tenantId }), ...(query.status ? { status: query.status } : {}) });
      return { items: items.map((r) => view(r)) };
    },
  });

  route({
    method: 'GET', path: '/link-requests/:id', tag, scope, summary: 'Read a link request',
    params: idParams, response: requestView, errors: [404],
    async handler({ principal, params }) {
      return view(await find(principal, params.id));
    },
  });

  route({
    method: 'POST', path: '/link-requests/:id/approve', tag, scope, summary: 'Approve a link request', stepUp: 'always',
    description: 'kind link: the upstream identity is linked to the account (user.linked, via approval); kind account: the pending JIT account is activated. '
      + 'Audited as link.approved. Needs step-up. 409 when the request was decided or expired, or the identity is linked to another account meanwhile.',
    params: idParams, response: requestView, errors: [404, 409],
    async handler({ principal, params, event, stepUp }) {
      stepUp();
      const r = await find(principal, params.id);
      pending(r);
      const kind = kindOf(r);
      const user = await users.findById(r.userId);
      if (!user) throw new AppError('not_found', 404, 'The account of this request is gone.');
      if (!(await requests.decide(r.id, 'approved', principal.id))) throw new AdminConflict('The request was decided meanwhile.', { status: 'decided' });
      const target = { tenantId: r.tenantId, subjectId: r.userId };
      if (kind === 'account') {
        if (user.status === 'pending') await users.updateProfile(user.id, { status: 'active' });
      } else {
        try {
          await links.link({ tenantId: r.tenantId, provider: r.provider, subject: r.subject, userId: r.userId, email: r.email });
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err;
          throw new AdminConflict('This identity is linked to an account already.', { subject: 'linked' });
        }
        // As the sign-in's own links are audited (via jit / proof), not as an admin write (whose `via` is admin_api).
        await deps.events.emit({ type: 'user.linked', ...target, context: { ...event, actorId: principal.id }, data: { provider: r.provider, via: 'approval', request: r.id } },
          (err) => deps.log.error({ err }, 'event listener failed'));
      }
      await emit('link.approved', principal, target, event, { target: 'user', provider: r.provider, request: r.id, kind });
      return view((await requests.get(r.id))!);
    },
  });

  route({
    method: 'POST', path: '/link-requests/:id/reject', tag, scope, summary: 'Reject a link request',
    description: 'kind link: no link is made; kind account: the pending JIT account is disabled. Audited as link.rejected. '
      + '409 when the request was decided or expired.',
    params: idParams, response: requestView, errors: [404, 409],
    async handler({ principal, params, event }) {
      const r = await find(principal, params.id);
      pending(r);
      const kind = kindOf(r);
      if (!(await requests.decide(r.id, 'rejected', principal.id))) throw new AdminConflict('The request was decided meanwhile.', { status: 'decided' });
      if (kind === 'account') {
        const user = await users.findById(r.userId);
        if (user?.status === 'pending') await users.updateProfile(user.id, { status: 'disabled' });
      }
      await emit('link.rejected', principal, { tenantId: r.tenantId, subjectId: r.userId }, event, { target: 'user', provider: r.provider, request: r.id, kind });
      return view((await requests.get(r.id))!);
    },
  });
}
