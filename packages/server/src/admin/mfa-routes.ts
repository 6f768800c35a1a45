import { z } from 'zod';
import type { Platform } from '../platform.js';
import type { User } from '../identity/model.js';
import type { EventContext } from '../audit/events.js';
import { AppError } from '../http/errors.js';
import { MfaService } from '../mfa/service.js';
import { createSignInStateRepository } from '../interaction/state.js';
import { createMfaRepository } from '../mfa/repository.js';
import type { AdminPrincipal } from './access.js';
import type { AdminRouter } from './routing.js';


export interface MfaAdminDeps {
  users: Pick<Platform['users'], 'findById'>;
  /** Removes every factor of the user; returns how many (MfaService.reset). `audit` joins the entry's details. */
  reset(user: User, context: EventContext, audit: Record<string, unknown>): Promise<number>;
}

const userParams = z.object({ id: z.string().min(1).max(128).regex(/^[A-Za-z0-9_-]+$/) });
const resetResponse = z.object({
  user_id: z.string(),
  /** Factors removed (authenticator apps, passkeys, the set of recovery codes). */
  removed: z.number().int(),
});

/** Administers the user's tenant: an administrator of it, or of the platform (default) tenant. */
function administers(principal: AdminPrincipal, tenantId: string): boolean {
  return principal.platform || principal.tenantId === tenantId;
}

/**
 * `POST /api/admin/v1/users/{id}/mfa/reset`: an administrator removes every
 * factor of a user who lost them (authenticator apps, passkeys, recovery
 * codes); at the next sign-in the tenant's policy decides again (enrollment
 * when MFA is required). Scope `identity.admin`; a user caller needs a
 * recent MFA sign-in (step-up, RFC 9470), checked before anything is looked
 * up, so an unstepped caller learns nothing about the user. Audited as
 * `mfa.reset` with the actor.
 */
export function registerMfaAdminRoutes(route: AdminRouter, deps: MfaAdminDeps): void {
  route({
    method: 'POST',
    path: '/users/:id/mfa/reset',
    summary: 'Reset a user\'s multi-factor authentication',
    description: 'Removes every second factor of the user (authenticator apps, passkeys, recovery codes) and voids sign-ins waiting for one. '
      + 'Needs a multi-factor sign-in within the last 10 minutes for user callers (RFC 9470).',
    tag: 'Users',
    scope: 'identity.admin',
    stepUp: 'always',
    params: userParams,
    response: resetResponse,
    errors: [404],
    async handler(ctx) {
      ctx.stepUp();
      const user = await deps.users.findById(ctx.params.id);
      // Another tenant's user is "not found": administrators do not learn what lies outside their tenant.
      if (!user || !administers(ctx.principal, user.tenantId)) throw new AppError('not_found', 404, 'No such user.');
      // The entry says who acted and how, as every admin write does (admin/audit.ts, docs/admin.md#audit).
      const removed = await deps.reset(user, ctx.event, { actor_type: ctx.principal.kind, via: 'admin_api' });
      return { user_id: user.id, removed };
    },
  });
}

/** The MFA reset route's dependencies over the platform (also used by the admin API feature, admin/feature.ts). */
export function mfaAdminDeps(p: Platform): MfaAdminDeps {
  const service = new MfaService({
    repo: createMfaRepository(p.db), signInStates: createSignInStateRepository(p.db), kek: p.kek, users: p.users, tenants: p.tenants, events: p.events, factors: p.mfa, sources: p.signInSources,
    issuerName: new URL(p.settings.issuer).host, issuerNameFor: async (tenantId) => (await p.brands.brand(tenantId)).authenticatorIssuer, onEventError: (err) => p.log.error({ err }, 'event listener failed'),
  });
  return { users: p.users, reset: (user, context, audit) => service.reset(user, context, audit) };
}
