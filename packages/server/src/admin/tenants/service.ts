import type { EventContext } from '../../audit/events.js';
import type { RoleRepository, TenantRepository } from '../../identity/repository.js';
import type { Tenant } from '../../identity/model.js';
import { DEFAULT_POLICY, tenantPolicySchema } from '../../identity/policy.js';
import type { TenantPolicy } from '../../identity/policy.js';
import { ConflictError, NotFoundError } from '../../storage/errors.js';
import { isStorableText } from '../../storage/text.js';
import { ADMIN_ROLE } from '../access.js';
import type { AdminPrincipal } from '../access.js';
import type { AdminEmit } from '../audit.js';
import { AdminConflict, AdminInvalid } from '../errors.js';
import { requirePlatform, visibleTenant } from '../tenancy.js';
import { zodFields } from '../validation.js';

export interface TenantAdminDeps {
  tenants: TenantRepository;
  roles: RoleRepository;
  emit: AdminEmit;
}

export interface RoleView {
  name: string;
  description: string | null;
}

type StepUp = () => void;

/**
 * Tenants and their role catalogues. Creating and changing tenants is for
 * platform administrators; a tenant administrator reads their own tenant and
 * manages its roles.
 */
export class TenantAdminService {
  constructor(private readonly deps: TenantAdminDeps) {}

  async list(principal: AdminPrincipal): Promise<Tenant[]> {
    const all = await this.deps.tenants.list();
    return principal.platform ? all : all.filter((t) => t.id === principal.tenantId);
  }

  /** @throws NotFoundError for an unknown tenant or one the caller does not administer. */
  async get(principal: AdminPrincipal, id: string): Promise<Tenant> {
    visibleTenant(principal, id);
    const tenant = isStorableText(id) ? await this.deps.tenants.findById(id) : undefined;
    if (!tenant) throw new NotFoundError('tenant', id);
    return tenant;
  }

  /** Creates a tenant with its built-in admin role. @throws AdminForbidden, AdminConflict (the id is taken). */
  async create(principal: AdminPrincipal, input: { id: string; name: string; policy?: TenantPolicy }, ctx: EventContext): Promise<Tenant> {
    requirePlatform(principal, 'create tenants');
    if (await this.deps.tenants.findById(input.id)) throw new AdminConflict('A tenant with this id exists.', { id: 'taken' });
    try {
      await this.deps.tenants.upsert(input.id, input.name, input.policy ?? DEFAULT_POLICY);
    } catch (err) {
      if (err instanceof ConflictError) throw new AdminConflict('A tenant with this id exists.', { id: 'taken' });
      throw err;
    }
    await this.deps.roles.upsert(input.id, ADMIN_ROLE, 'Tenant administrators');
    await this.deps.emit('tenant.created', principal, { tenantId: input.id, subjectId: input.id }, ctx, { target: 'tenant', name: input.name });
    return (await this.deps.tenants.findById(input.id))!;
  }

  /**
   * Renames a tenant and/or changes its policy: the given policy keys are
   * merged into the current policy (nested blocks too), then validated as the
   * configuration file's. A policy change is security-relevant (MFA,
   * lockout, registration): it needs the caller's step-up.
   * @throws AdminForbidden, AdminInvalid (`policy.*` fields), StaleWriteError
   */
  async update(principal: AdminPrincipal, current: Tenant, input: { name?: string; policy?: Record<string, unknown> }, ctx: EventContext, stepUp: StepUp): Promise<Tenant> {
    requirePlatform(principal, 'change tenants');
    let policy: TenantPolicy | undefined;
    if (input.policy !== undefined) {
      const parsed = tenantPolicySchema.safeParse(deepMerge(current.policy as unknown as Record<string, unknown>, input.policy));
      if (!parsed.success) {
        throw new AdminInvalid(zodFields(parsed.error, input.policy, 'policy', ['policy']),
          `Invalid policy: ${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}`);
      }
      policy = parsed.data;
      stepUp();
    }
    const updated = await this.deps.tenants.updateIfVersion(current.id, current.version, { name: input.name, policy });
    await this.deps.emit('tenant.updated', principal, { tenantId: current.id, subjectId: current.id }, ctx,
      { target: 'tenant', fields: Object.keys(input) });
    return updated;
  }

  async roles(principal: AdminPrincipal, tenantId: string): Promise<RoleView[]> {
    await this.get(principal, tenantId);
    return this.deps.roles.list(tenantId);
  }

  /** Creates or describes a role in the tenant. */
  async saveRole(principal: AdminPrincipal, tenantId: string, name: string, description: string | null, ctx: EventContext): Promise<RoleView> {
    await this.get(principal, tenantId);
    const outcome = await this.deps.roles.upsert(tenantId, name, description);
    if (outcome !== 'unchanged') {
      await this.deps.emit('role.saved', principal, { tenantId, subjectId: tenantId }, ctx, { target: 'role', role: name, outcome });
    }
    return { name, description };
  }

  /** Deletes a role (and takes it from its holders). @throws AdminConflict for `admin`; NotFoundError. */
  async deleteRole(principal: AdminPrincipal, tenantId: string, name: string, ctx: EventContext): Promise<void> {
    await this.get(principal, tenantId);
    if (name === ADMIN_ROLE) throw new AdminConflict('The built-in admin role cannot be deleted.');
    if (!(await this.deps.roles.delete(tenantId, name))) throw new NotFoundError('role', name);
    await this.deps.emit('role.deleted', principal, { tenantId, subjectId: tenantId }, ctx, { target: 'role', role: name });
  }
}

/** JSON merge of plain objects (RFC 7386 without null-deletes): nested policy blocks keep the keys not given. */
function deepMerge(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    const b = out[k];
    out[k] = isPlain(v) && isPlain(b) ? deepMerge(b, v) : v;
  }
  return out;
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
