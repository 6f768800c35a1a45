import { z } from 'zod';
import type { TenantRepository } from '../../identity/repository.js';
import { NotFoundError } from '../../storage/errors.js';
import { ACCOUNT_ACCESS, ATTRIBUTE_TYPES, attributeDefinitionSchema, attributeDefinitionShape } from '../../userdata/model.js';
import type { AttributeDefinition } from '../../userdata/model.js';
import { SchemaChangeRefused } from '../../userdata/service.js';
import type { UserDataService } from '../../userdata/service.js';
import type { AdminEmit } from '../audit.js';
import { AdminConflict, AdminInvalid } from '../errors.js';
import type { AdminRouter } from '../routing.js';
import { iso, isoTime, listOf, pathId } from '../schemas.js';
import { visibleTenant } from '../tenancy.js';

const tag = 'Attributes';
const scope = 'identity.admin' as const;

const definitionView = z.object({
  name: z.string(),
  type: z.enum(ATTRIBUTE_TYPES),
  required: z.boolean(),
  unique: z.boolean(),
  source: z.string().nullable().describe('The source that owns the attribute: only it may change values (docs/users.md#source-ownership).'),
  values: z.array(z.string()).nullable().describe('The allowed values of an enum.'),
  account: z.enum(ACCOUNT_ACCESS).describe('What the user sees on /account: hidden, read or edit.'),
  description: z.string().nullable(),
  created_at: isoTime,
  updated_at: isoTime,
});

const toView = (d: AttributeDefinition): z.infer<typeof definitionView> => ({
  name: d.name, type: d.type, required: d.required, unique: d.unique, source: d.source, values: d.values, account: d.account,
  description: d.description, created_at: iso(d.createdAt)!, updated_at: iso(d.updatedAt)!,
});

const { name: _name, ...declared } = attributeDefinitionShape;
const params = z.object({ tenant: pathId, name: pathId });

/**
 * A tenant's attribute schema (docs/users.md#attributes): list, declare or
 * change, delete. Deleting removes every user's value, so it needs step-up.
 */
export function registerAttributeRoutes(route: AdminRouter, deps: { userData: UserDataService; tenants: TenantRepository; emit: AdminEmit }): void {
  const tenantOf = async (principal: Parameters<typeof visibleTenant>[0], tenant: string) => {
    const id = visibleTenant(principal, tenant);
    if (!(await deps.tenants.findById(id))) throw new NotFoundError('tenant', id);
    return id;
  };

  route({
    method: 'GET', path: '/tenants/:tenant/attributes', tag, scope, summary: 'List a tenant\'s attribute schema',
    params: z.object({ tenant: pathId }), response: listOf(definitionView), errors: [404],
    async handler({ principal, params: p }) {
      return { items: (await deps.userData.definitions(await tenantOf(principal, p.tenant))).map(toView) };
    },
  });

  route({
    method: 'PUT', path: '/tenants/:tenant/attributes/:name', tag, scope, summary: 'Declare or change an attribute',
    description: 'Creates the attribute or replaces its definition. A type (or enum values) the stored values do not fit, or unique while '
      + 'two users share a value, is refused with 409. The configuration file\'s attributes are re-applied at every start.',
    params, body: z.strictObject(declared), response: definitionView, errors: [400, 404, 409, 415],
    async handler({ principal, params: p, body, event }) {
      const tenantId = await tenantOf(principal, p.tenant);
      const decl = attributeDefinitionSchema.safeParse({ ...body, name: p.name });
      if (!decl.success) {
        const issue = decl.error.issues[0]!;
        throw new AdminInvalid({ [issue.path.join('.') || 'name']: (issue as { params?: { code?: string } }).params?.code ?? 'invalid' }, issue.message);
      }
      try {
        const { definition, outcome } = await deps.userData.define(tenantId, decl.data);
        if (outcome !== 'unchanged') {
          await deps.emit('attribute.saved', principal, { tenantId, subjectId: tenantId }, event, { target: 'attribute', attribute: p.name, outcome });
        }
        return toView(definition);
      } catch (err) {
        if (err instanceof SchemaChangeRefused) throw new AdminConflict(err.message, { [err.field]: err.code });
        throw err;
      }
    },
  });

  route({
    method: 'DELETE', path: '/tenants/:tenant/attributes/:name', tag, scope, summary: 'Delete an attribute and every value of it', stepUp: 'always',
    params, errors: [404],
    async handler({ principal, params: p, event, stepUp }) {
      const tenantId = await tenantOf(principal, p.tenant);
      stepUp();
      if (!(await deps.userData.undefine(tenantId, p.name))) throw new NotFoundError('attribute', p.name);
      await deps.emit('attribute.deleted', principal, { tenantId, subjectId: tenantId }, event, { target: 'attribute', attribute: p.name });
    },
  });
}
