import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { Tenant } from '../../identity/model.js';
import { tenantPolicySchema } from '../../identity/policy.js';
import type { AuditRepository } from '../../audit/repository.js';
import { AppError } from '../../http/errors.js';
import { checkIfMatch, etagOf } from '../routing.js';
import type { AdminRouter } from '../routing.js';
import { cursorSchema, decodeCursor, encodeCursor, idSchema, iso, isoTime, limitSchema, listOf, pageOf, pathId, timeParam } from '../schemas.js';
import { visibleTenant } from '../tenancy.js';
import type { TenantAdminService } from './service.js';

const scope = 'identity.admin' as const;

const tenantView = z.object({
  id: z.string(),
  name: z.string(),
  policy: tenantPolicySchema,
  created_at: isoTime,
  updated_at: isoTime,
});
const toTenantView = (t: Tenant): z.infer<typeof tenantView> => ({
  id: t.id, name: t.name, policy: t.policy, created_at: iso(t.createdAt)!, updated_at: iso(t.updatedAt)!,
});
function sendTenant(reply: FastifyReply, t: Tenant) {
  const view = toTenantView(t);
  reply.header('etag', etagOf(view));
  return view;
}

const tenantParams = z.object({ tenant: pathId });
const roleParams = z.object({ tenant: pathId, role: idSchema });
const roleView = z.object({ name: z.string(), description: z.string().nullable() });

/** Tenants and their roles (docs/admin.md#tenants-and-roles). */
export function registerTenantRoutes(route: AdminRouter, tenants: TenantAdminService): void {
  const tag = 'Tenants';
  route({
    method: 'GET', path: '/tenants', tag, scope, summary: 'List tenants', description: 'A tenant administrator sees their own tenant only.',
    response: listOf(tenantView),
    async handler({ principal }) {
      return { items: (await tenants.list(principal)).map(toTenantView) };
    },
  });

  route({
    method: 'POST', path: '/tenants', tag, scope, summary: 'Create a tenant (platform administrators)',
    body: z.strictObject({ id: idSchema, name: z.string().trim().min(1).max(256), policy: tenantPolicySchema.optional() }),
    status: 201, response: tenantView, etag: true, errors: [400, 409, 415],
    async handler({ principal, body, event, reply }) {
      const tenant = await tenants.create(principal, body, event);
      reply.header('location', `/api/admin/v1/tenants/${tenant.id}`);
      return sendTenant(reply, tenant);
    },
  });

  route({
    method: 'GET', path: '/tenants/:tenant', tag, scope, summary: 'Read a tenant',
    params: tenantParams, response: tenantView, etag: true, errors: [404],
    async handler({ principal, params, reply }) {
      return sendTenant(reply, await tenants.get(principal, params.tenant));
    },
  });

  route({
    method: 'PATCH', path: '/tenants/:tenant', tag, scope, summary: 'Rename a tenant or change its policy (platform administrators)',
    description: 'The policy keys given are merged into the current policy (nested blocks too). A policy change needs step-up.',
    stepUp: 'conditional', ifMatch: 'required', params: tenantParams,
    body: z.strictObject({
      name: z.string().trim().min(1).max(256).optional(),
      policy: z.record(z.string(), z.unknown()).optional().describe('Partial tenant policy (see POST /tenants), merged into the current one.'),
    }),
    response: tenantView, etag: true, errors: [400, 404, 412, 415, 428],
    async handler({ principal, params, body, ifMatch, event, stepUp, reply }) {
      const current = await tenants.get(principal, params.tenant);
      checkIfMatch(ifMatch, etagOf(toTenantView(current)));
      return sendTenant(reply, await tenants.update(principal, current, body, event, stepUp));
    },
  });

  const roles = 'Roles';
  route({
    method: 'GET', path: '/tenants/:tenant/roles', tag: roles, scope, summary: 'List a tenant\'s roles',
    params: tenantParams, response: listOf(roleView), errors: [404],
    async handler({ principal, params }) {
      return { items: await tenants.roles(principal, params.tenant) };
    },
  });

  route({
    method: 'PUT', path: '/tenants/:tenant/roles/:role', tag: roles, scope, summary: 'Create or describe a role',
    params: roleParams, body: z.strictObject({ description: z.string().max(1024).nullable().default(null) }),
    response: roleView, errors: [400, 404, 415],
    async handler({ principal, params, body, event }) {
      return tenants.saveRole(principal, params.tenant, params.role, body.description, event);
    },
  });

  route({
    method: 'DELETE', path: '/tenants/:tenant/roles/:role', tag: roles, scope, summary: 'Delete a role',
    description: 'Users who had it lose it. The built-in admin role cannot be deleted (409).',
    params: roleParams, errors: [404, 409],
    async handler({ principal, params, event }) {
      await tenants.deleteRole(principal, params.tenant, params.role, event);
    },
  });
}

const auditEntry = z.object({
  id: z.string(),
  at: isoTime,
  action: z.string(),
  tenant: z.string().nullable(),
  actor: z.string().nullable().describe('The user id or client_id that acted.'),
  subject: z.string().nullable().describe('What the event is about: a user id, or a client, API or tenant for admin writes.'),
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});
const auditCursor = z.object({ at: z.number(), id: z.string() });

/** GET /audit: the audit log, newest first (docs/admin.md#audit-log). */
export function registerAuditRoutes(route: AdminRouter, audit: AuditRepository): void {
  route({
    method: 'GET', path: '/audit', tag: 'Audit log', scope, summary: 'Query the audit log',
    description: 'Newest first, keyset-paginated. A tenant administrator sees their tenant\'s entries only.',
    query: z.strictObject({
      tenant: idSchema.optional().describe('Platform administrators: one tenant (default: all).'),
      subject: z.string().max(512).optional().describe('The user (or client, API, tenant) the entries are about.'),
      actor: z.string().max(512).optional(),
      action: z.string().max(128).optional().describe('An event type, e.g. user.disabled.'),
      from: timeParam.optional().describe('Inclusive; RFC 3339 or epoch milliseconds.'),
      to: timeParam.optional().describe('Exclusive; RFC 3339 or epoch milliseconds.'),
      cursor: cursorSchema.optional(),
      limit: limitSchema,
    }),
    response: pageOf(auditEntry), errors: [400, 404],
    async handler({ principal, query }) {
      const after = decodeCursor(query.cursor, auditCursor);
      if (after === 'invalid') throw new AppError('validation_failed', 400, 'The cursor is not one this API issued.', { cursor: 'invalid' });
      const tenantId = principal.platform && query.tenant === undefined ? undefined : visibleTenant(principal, query.tenant);
      const page = await audit.search({
        tenantId, subjectId: query.subject, actorId: query.actor, action: query.action, from: query.from, to: query.to, after, limit: query.limit,
      });
      return {
        items: page.entries.map((e) => ({
          id: e.id, at: iso(e.at)!, action: e.action, tenant: e.tenantId, actor: e.actorId, subject: e.subjectId,
          ip: e.ip, user_agent: e.userAgent, details: e.details,
        })),
        next_cursor: page.next ? encodeCursor(page.next) : null,
      };
    },
  });
}
