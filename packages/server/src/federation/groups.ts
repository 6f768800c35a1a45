import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../storage/schema.js';
import type { RoleRepository, UserRepository } from '../identity/repository.js';
import type { StoredProvider } from './providers.js';

/**
 * Group mappings, applied at every federated sign-in (docs/federation.md#group-mappings).
 * What a mapping granted is recorded in `federated_grants` (role, or '' for
 * a membership) per provider: when the group disappears upstream, exactly
 * what it granted goes; roles given by hand (present before the mapping
 * would have granted them) are never recorded, so never removed.
 */
export async function applyGroupMappings(deps: {
  db: Kysely<Database>; users: Pick<UserRepository, 'rolesIn' | 'setRoles' | 'addMembership' | 'removeMembership' | 'listMemberships'>;
  roles: Pick<RoleRepository, 'list'>; log: Logger;
}, p: StoredProvider, user: { id: string; tenantId: string }, groups: readonly string[], now = Date.now()): Promise<{ added: string[]; removed: string[] }> {
  const key = (tenant: string, role: string) => `${tenant}\u0000${role}`;
  const desired = new Map<string, { tenant: string; role: string }>();
  for (const m of p.group_mappings) {
    if (!groups.includes(m.group)) continue;
    const tenant = m.tenant ?? user.tenantId;
    if (m.membership && tenant !== user.tenantId) desired.set(key(tenant, ''), { tenant, role: '' });
    for (const role of m.roles) desired.set(key(tenant, role), { tenant, role });
  }
  const previousRows = await deps.db.selectFrom('federated_grants').selectAll().where('user_id', '=', user.id).where('provider', '=', p.alias).execute();
  const previous = new Map(previousRows.map((r) => [key(r.tenant_id, r.role), { tenant: r.tenant_id, role: r.role }]));
  const added: string[] = [];
  const removed: string[] = [];
  const memberships = new Set(await deps.users.listMemberships(user.id));
  const inTenant = (tenant: string) => tenant === user.tenantId || memberships.has(tenant);

  // Memberships first: roles in another tenant need one.
  const ordered = [...desired.entries()].sort(([, a], [, b]) => (a.role === '' ? -1 : b.role === '' ? 1 : 0));
  for (const [k, g] of ordered) {
    if (previous.has(k)) continue;
    if (g.role === '') {
      if (memberships.has(g.tenant)) continue; // a membership given by hand stays the administrator's
      await deps.users.addMembership(user.id, g.tenant);
      memberships.add(g.tenant);
    } else {
      if (!inTenant(g.tenant)) {
        deps.log.warn({ provider: p.alias, tenant: g.tenant, role: g.role }, 'group mapping grants a role in a tenant the user is not a member of; skipped');
        continue;
      }
      if (!(await deps.roles.list(g.tenant)).some((r) => r.name === g.role)) {
        deps.log.warn({ provider: p.alias, tenant: g.tenant, role: g.role }, 'group mapping names a role the tenant does not have; skipped');
        continue;
      }
      const current = await deps.users.rolesIn(user.id, g.tenant);
      if (current.includes(g.role)) continue; // given by hand: not the mapping's to take away later
      await deps.users.setRoles(user.id, g.tenant, [...current, g.role]);
    }
    await deps.db.insertInto('federated_grants').values({ user_id: user.id, tenant_id: g.tenant, provider: p.alias, role: g.role, created_at: now }).execute();
    added.push(g.role ? `${g.tenant}:${g.role}` : `${g.tenant}:member`);
  }
  for (const [k, g] of previous) {
    if (desired.has(k)) continue;
    if (g.role === '') {
      await deps.users.removeMembership(user.id, g.tenant);
    } else {
      const current = await deps.users.rolesIn(user.id, g.tenant);
      if (current.includes(g.role)) await deps.users.setRoles(user.id, g.tenant, current.filter((r) => r !== g.role));
    }
    await deps.db.deleteFrom('federated_grants').where('user_id', '=', user.id).where('tenant_id', '=', g.tenant)
      .where('provider', '=', p.alias).where('role', '=', g.role).execute();
    removed.push(g.role ? `${g.tenant}:${g.role}` : `${g.tenant}:member`);
  }
  return { added, removed };
}
