import { z } from 'zod';
import type { TenantRepository } from '../identity/repository.js';
import { ConflictError } from '../storage/errors.js';
import type { AdminEmit } from '../admin/audit.js';
import { AdminConflict, AdminInvalid } from '../admin/errors.js';
import type { AdminRouter } from '../admin/routing.js';
import type { AdminPrincipal } from '../admin/access.js';
import { idSchema, iso, isoTime, listOf, pathId } from '../admin/schemas.js';
import { visible, visibleTenant } from '../admin/tenancy.js';
import { newWebhookSecret } from '../webhooks/signature.js';
import { ipAllowlistSchema, mappingSchema, PROFILE_FIELDS, secretSchema, sourceNameSchema } from './model.js';
import type { InboundSource } from './model.js';
import { newSourceId } from './sources.js';
import type { InboundSources } from './sources.js';

const tag = 'Inbound sources';
const scope = 'identity.admin' as const;

const mappingView = z.object({
  fields: z.record(z.string(), z.string()).describe(`Tessera profile field (${PROFILE_FIELDS.join(', ')}) → the contact record's field (a key or dotted path).`),
  attributes: z.record(z.string(), z.string()).describe('Attribute → the contact record\'s field; only attributes the source owns are written.'),
});
const sourceView = z.object({
  id: z.string(),
  tenant: z.string(),
  name: z.string().describe('The source: the {source} of POST /api/inbound/{source}/contacts, the external ids\' source and the attributes\' owner.'),
  endpoint: z.string().describe('Where the source sends its batches.'),
  ip_allowlist: z.array(z.string()).nullable().describe('CIDR blocks the source sends from; null: any address.'),
  mapping: mappingView,
  enabled: z.boolean(),
  declared_in: z.enum(['file', 'api']).describe('file: the configuration file owns it (change it there).'),
  created_at: isoTime,
  updated_at: isoTime,
});
const withSecret = sourceView.extend({ secret: z.string().describe('The signing secret (`whsec_…`, Standard Webhooks). Shown only in this answer.') });

const createBody = z.strictObject({
  tenant: idSchema.optional().describe('Default: the caller\'s tenant.'),
  name: sourceNameSchema,
  secret: secretSchema.optional().describe('The source\'s own secret (whsec_…); absent, Tessera makes one and answers it once.'),
  ip_allowlist: ipAllowlistSchema.optional(),
  mapping: mappingSchema,
  enabled: z.boolean().default(true),
});
const patchBody = z.strictObject({
  ip_allowlist: ipAllowlistSchema.nullable().optional().describe('null: any address.'),
  mapping: mappingSchema.optional(),
  enabled: z.boolean().optional(),
});
const rotateBody = z.strictObject({ secret: secretSchema.optional() }).optional();

export interface InboundAdminDeps {
  sources: InboundSources;
  tenants: TenantRepository;
  emit: AdminEmit;
}

/** Inbound contact sources (docs/webhooks.md#inbound-contact-sync, docs/admin.md#inbound-sources). */
export function registerInboundAdminRoutes(route: AdminRouter, deps: InboundAdminDeps): void {
  const repo = deps.sources.repo;
  const view = (s: InboundSource): z.infer<typeof sourceView> => ({
    id: s.id, tenant: s.tenantId, name: s.name,
    endpoint: `/api/inbound/${s.name}/contacts${s.tenantId === 'default' ? '' : `?tenant=${encodeURIComponent(s.tenantId)}`}`,
    ip_allowlist: s.ipAllowlist, mapping: { fields: s.mapping.fields as Record<string, string>, attributes: s.mapping.attributes },
    enabled: s.enabled, declared_in: s.origin, created_at: iso(s.createdAt)!, updated_at: iso(s.updatedAt)!,
  });
  const find = async (principal: AdminPrincipal, id: string) => visible(principal, await repo.find(id), 'inbound source', id);
  const notFromFile = (s: InboundSource, verb: string) => {
    if (s.origin === 'file') throw new AdminConflict(`This source is declared in the configuration file: ${verb} it there.`, { name: 'declared_in_file' });
  };

  route({
    method: 'GET', path: '/inbound-sources', tag, scope, summary: 'List inbound contact sources',
    query: z.strictObject({ tenant: idSchema.optional().describe('Platform administrators: one tenant (default: all).') }),
    response: listOf(sourceView), errors: [400, 404],
    async handler({ principal, query }) {
      const tenantId = principal.platform && query.tenant === undefined ? undefined : visibleTenant(principal, query.tenant);
      return { items: (await repo.list(tenantId)).map(view) };
    },
  });

  route({
    method: 'POST', path: '/inbound-sources', tag, scope, summary: 'Declare an inbound contact source', status: 201, stepUp: 'always',
    description: 'Answers the signing secret once (the one given, or a new one). The source writes users of its tenant: needs step-up.',
    body: createBody, response: withSecret, errors: [400, 404, 409, 415],
    async handler({ principal, body, event, stepUp }) {
      const tenantId = visibleTenant(principal, body.tenant);
      if (!(await deps.tenants.findById(tenantId))) throw new AdminInvalid({ tenant: 'unknown_tenant' });
      stepUp();
      const secret = body.secret ?? newWebhookSecret();
      let created: InboundSource;
      try {
        created = await repo.create({
          id: newSourceId(), tenantId, name: body.name, sealedSecret: deps.sources.seal(secret), ipAllowlist: body.ip_allowlist ?? null,
          mapping: body.mapping, enabled: body.enabled, origin: 'api',
        });
      } catch (err) {
        if (err instanceof ConflictError) throw new AdminConflict('The tenant has a source of that name.', { name: 'taken' });
        throw err;
      }
      await deps.emit('inbound_source.saved', principal, { tenantId, subjectId: created.id }, event, { target: 'inbound_source', source: created.name, created: true });
      return { ...view(created), secret };
    },
  });

  route({
    method: 'GET', path: '/inbound-sources/:id', tag, scope, summary: 'Read an inbound contact source',
    params: z.object({ id: pathId }), response: sourceView, errors: [404],
    async handler({ principal, params }) {
      return view(await find(principal, params.id));
    },
  });

  route({
    method: 'PATCH', path: '/inbound-sources/:id', tag, scope, summary: 'Change an inbound contact source',
    description: 'Absent fields stay. Sources declared in the configuration file are changed there (409).',
    params: z.object({ id: pathId }), body: patchBody, response: sourceView, errors: [400, 404, 409, 415],
    async handler({ principal, params, body, event }) {
      const current = await find(principal, params.id);
      notFromFile(current, 'change');
      const updated = await repo.update(current.id, { ipAllowlist: body.ip_allowlist, mapping: body.mapping, enabled: body.enabled });
      await deps.emit('inbound_source.saved', principal, { tenantId: current.tenantId, subjectId: current.id }, event,
        { target: 'inbound_source', source: current.name, fields: Object.keys(body).sort() });
      return view(updated!);
    },
  });

  route({
    method: 'DELETE', path: '/inbound-sources/:id', tag, scope, summary: 'Remove an inbound contact source',
    description: 'Its batches are refused from now on (401). Users it wrote, their external ids and its sync state stay. Sources declared in the configuration file are removed there (409).',
    params: z.object({ id: pathId }), errors: [404, 409],
    async handler({ principal, params, event }) {
      const current = await find(principal, params.id);
      notFromFile(current, 'remove');
      await repo.delete(current.id);
      await deps.emit('inbound_source.deleted', principal, { tenantId: current.tenantId, subjectId: current.id }, event, { target: 'inbound_source', source: current.name });
    },
  });

  route({
    method: 'POST', path: '/inbound-sources/:id/secret', tag, scope, summary: 'Replace the signing secret', stepUp: 'always',
    description: 'Sets the given secret or a new one (answered once); batches signed with the old one are refused from now on.',
    params: z.object({ id: pathId }), body: rotateBody, response: z.object({ secret: z.string() }), errors: [400, 404, 409, 415],
    async handler({ principal, params, body, event, stepUp }) {
      const current = await find(principal, params.id);
      notFromFile(current, 'change');
      stepUp();
      const secret = body?.secret ?? newWebhookSecret();
      await repo.update(current.id, { sealedSecret: deps.sources.seal(secret) });
      await deps.emit('inbound_source.secret_rotated', principal, { tenantId: current.tenantId, subjectId: current.id }, event, { target: 'inbound_source', source: current.name });
      return { secret };
    },
  });
}
