import type { AuditRepository } from '../audit/repository.js';

const HOUR_MS = 3_600_000;
/** Exports an administrator (or machine client) may make per hour. */
export const ADMIN_EXPORTS_PER_HOUR = 30;
/** Exports of one's own data per hour (account page). */
export const SELF_EXPORTS_PER_HOUR = 5;

/**
 * Exports are counted in the audit log (`user.exported` by the actor):
 * every export is audited anyway, so the count holds across instances and
 * restarts, and needs no state of its own. Returns the seconds until the
 * oldest export in the window leaves it, when the allowance is used up.
 */
export async function exportAllowance(audit: Pick<AuditRepository, 'search'>, actorId: string, perHour: number, now = Date.now()): Promise<{ ok: true } | { ok: false; retryAfter: number }> {
  const { entries } = await audit.search({ actorId, action: 'user.exported', from: now - HOUR_MS, limit: perHour });
  if (entries.length < perHour) return { ok: true };
  const oldest = entries[entries.length - 1]!.at;
  return { ok: false, retryAfter: Math.max(1, Math.ceil((oldest + HOUR_MS - now) / 1000)) };
}
