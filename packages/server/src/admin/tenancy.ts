import type { AdminPrincipal } from './access.js';
import { AdminForbidden } from './errors.js';
import { NotFoundError } from '../storage/errors.js';

/**
 * Tenant boundaries of the admin API. A tenant administrator sees and
 * changes their own tenant only; a platform administrator (an administrator
 * of the `default` tenant) every tenant. Things in another tenant are
 * answered as if they did not exist (404), so a tenant administrator cannot
 * even learn which ids exist elsewhere.
 */
export function administers(principal: AdminPrincipal, tenantId: string): boolean {
  return principal.platform || principal.tenantId === tenantId;
}

/** @throws NotFoundError when the tenant is not the caller's to see. */
export function visibleTenant(principal: AdminPrincipal, tenantId: string | undefined, entity = 'tenant'): string {
  const wanted = tenantId ?? principal.tenantId;
  if (!administers(principal, wanted)) throw new NotFoundError(entity, wanted);
  return wanted;
}

/** @throws NotFoundError when `item` is missing or in a tenant the caller does not administer. */
export function visible<T extends { tenantId: string }>(principal: AdminPrincipal, item: T | undefined, entity: string, key: string): T {
  if (!item || !administers(principal, item.tenantId)) throw new NotFoundError(entity, key);
  return item;
}

/** @throws AdminForbidden unless the caller administers every tenant. */
export function requirePlatform(principal: AdminPrincipal, what: string): void {
  if (!principal.platform) throw new AdminForbidden(`Only platform administrators (of the default tenant) may ${what}.`);
}
