import type { FastifyInstance } from 'fastify';
import type { Platform } from '../platform.js';
import type { AdminEmit } from '../admin/audit.js';
import { AccessService } from '../account/access.js';
import { createSessionMetaRepository } from '../account/session-meta.js';
import { createUserSearch } from '../admin/users/search.js';
import { UserAdminService } from '../admin/users/service.js';
import { ProvisioningAccess } from './access.js';
import type { ProvisioningPrincipal } from './access.js';
import { Directory } from './directory.js';
import { RateLimiter } from './rate-limit.js';
import { createApiTokenStore } from './tokens.js';
import type { ApiTokenStore } from './tokens.js';
import { registerOktaRoutes } from './okta/routes.js';
import { registerScimRoutes } from './scim/routes.js';
import { activationService } from '../userdata/activation-routes.js';

/** The API token store (one HMAC key, derived from the KEK, for every instance). */
export function apiTokenStore(p: Pick<Platform, 'db' | 'kek'>): ApiTokenStore {
  return createApiTokenStore(p.db, p.kek.derive('provisioning api tokens'));
}

/** Audit entries of provisioning writes: the actor is the API token (or client) and `via` names the API. */
function provisioningEmitter(p: Platform): AdminEmit {
  return async (type, principal, target, ctx, data = {}) => {
    const via = (principal as Partial<ProvisioningPrincipal>).via ?? 'provisioning';
    await p.events.emit({
      type, tenantId: target.tenantId, subjectId: target.subjectId, context: { ...ctx, actorId: principal.id },
      data: { ...data, actor_type: principal.id.startsWith('api_token:') ? 'api_token' : 'client', via },
    }, (err) => p.log.error({ err, event: type }, 'event listener failed'));
  };
}

/**
 * The provisioning APIs (docs/provisioning.md): the Okta-compatible Users
 * and Groups API under /compat/okta/api/v1 and SCIM 2.0 under
 * /scim/v2/{tenant}, both on the same directory and API tokens.
 */
export function provisioningFeature(app: FastifyInstance, p: Platform): void {
  const emit = provisioningEmitter(p);
  const sessionMeta = createSessionMetaRepository(p.db);
  const admin = new UserAdminService({
    users: p.users, tenants: p.tenants, roles: p.roles, identity: p.identity, search: createUserSearch(p.db),
    sessions: new AccessService({ payloads: p.payloads, meta: sessionMeta, clients: p.clients, provider: p.provider, events: p.events, log: p.log }),
    payloads: p.payloads, sessionMeta, emit, userData: p.userData, eraseAudit: (id) => p.audit.redactUser(id), sources: p.signInSources,
  });
  const directory = new Directory({
    db: p.db, users: p.users, roles: p.roles, admin, tokens: p.tokens, emit, issuer: p.settings.issuer, mailer: p.mailer,
    policyFor: (tenantId) => p.identity.policyFor(tenantId), userData: p.userData,
    // The "set your password" mail of imports and the admin API (docs/users.md#activation).
    activation: activationService(p),
  });
  const access = new ProvisioningAccess({ issuer: p.settings.issuer, tokens: apiTokenStore(p), clients: p.clients, publicJwks: () => p.keys.publicJwks() });
  const limiter = new RateLimiter(p.settings.provisioningRequestsPerMinute, Date.now, { counters: p.counters, name: 'provisioning' });
  registerOktaRoutes(app, { issuer: p.settings.issuer, access, directory, limiter });
  registerScimRoutes(app, { issuer: p.settings.issuer, access, directory, userData: p.userData, limiter });
}
