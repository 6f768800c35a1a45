import type { FastifyInstance } from 'fastify';
import { assertScopesDeclared, engineScopeMetadata } from '../oidc/client-grants.js';
import type { Platform } from '../platform.js';
import { AccessService } from '../account/access.js';
import { createSessionMetaRepository } from '../account/session-meta.js';
import { AdminAccess } from './access.js';
import { adminEmitter } from './audit.js';
import { OpenApiRegistry } from './openapi.js';
import { ADMIN_BASE, adminRouter } from './routing.js';
import { createUserSearch } from './users/search.js';
import { UserAdminService } from './users/service.js';
import { registerUserRoutes } from './users/routes.js';
import { TenantAdminService } from './tenants/service.js';
import { registerAuditRoutes, registerTenantRoutes } from './tenants/routes.js';
import { ClientAdminService } from './clients/service.js';
import { registerClientRoutes } from './clients/routes.js';
import { registerRegistrationTokenRoutes } from './clients/registration-token-routes.js';
import { createRegistrationTokenStore } from '../oidc/dynamic-registration/tokens.js';
import { ApiAdminService } from './apis/service.js';
import { registerApiRoutes } from './apis/routes.js';
import { mfaAdminDeps, registerMfaAdminRoutes } from './mfa-routes.js';
import { registerLinkRoutes } from './links-routes.js';
import { TenantDeletionService } from './tenants/deletion.js';
import { registerTenantDeletionRoute } from './tenants/deletion-routes.js';
import { createExternalLinkRepository } from '../federation/links.js';
import { registerAttributeRoutes } from './users/attribute-routes.js';
import { registerExportRoute } from '../privacy/admin-routes.js';
import { userExportService } from '../privacy/feature.js';
import { registerBrandingAdminRoutes } from '../branding/admin-routes.js';
import { createBrandingRepository } from '../branding/repository.js';
import { registerActivationRoutes } from './users/activation-routes.js';
import { registerImportRoutes } from './users/import-routes.js';
import { activationService } from '../userdata/activation-routes.js';
import { registerApiTokenRoutes } from '../provisioning/token-routes.js';
import { apiTokenStore } from '../provisioning/feature.js';
import { registerProviderAdminRoutes } from '../federation/admin-routes.js';
import { ClientKeyStore } from '../federation/client-keys.js';
import { registerLinkRequestRoutes } from '../federation/link-request-routes.js';
import { LinkRequests } from '../federation/link-requests.js';
import { registerWebhookRoutes } from '../webhooks/admin-routes.js';
import { registerInboundAdminRoutes } from '../inbound/admin-routes.js';
import { inboundSources } from '../inbound/feature.js';

/** The OpenAPI document's stable URL. */
export const OPENAPI_PATH = `${ADMIN_BASE}/openapi.json`;

/**
 * The admin APIs (docs/admin.md): identity administration (scope
 * identity.admin) and authorization-server administration (auth.admin),
 * under /api/admin/v1, with their OpenAPI document. Returns the registry
 * (tests check every route is documented).
 */
export function adminFeature(app: FastifyInstance, p: Platform): OpenApiRegistry {
  const access = new AdminAccess({
    issuer: p.settings.issuer,
    publicJwks: () => p.keys.publicJwks(),
    users: p.users,
    clients: p.clients,
    stepUpMaxAge: p.settings.adminStepUpMaxAge,
  });
  const registry = new OpenApiRegistry();
  const route = adminRouter(app, access, registry);
  const emit = adminEmitter(p.events, p.log);
  const sessionMeta = createSessionMetaRepository(p.db);

  const userAdmin = new UserAdminService({
    users: p.users, tenants: p.tenants, roles: p.roles, identity: p.identity, search: createUserSearch(p.db),
    sessions: new AccessService({ payloads: p.payloads, meta: sessionMeta, clients: p.clients, provider: p.provider, events: p.events, log: p.log }),
    payloads: p.payloads, sessionMeta, emit, userData: p.userData, eraseAudit: (id) => p.audit.redactUser(id), sources: p.signInSources,
  });
  registerUserRoutes(route, userAdmin);
  registerAttributeRoutes(route, { userData: p.userData, tenants: p.tenants, emit });
  registerActivationRoutes(route, { users: userAdmin, activation: activationService(p), emit });
  registerImportRoutes(app, route, p, emit);
  registerLinkRoutes(route, userAdmin, createExternalLinkRepository(p.db), emit);
  registerExportRoute(route, { users: userAdmin, exporter: userExportService(p), audit: p.audit, emit });
  registerMfaAdminRoutes(route, mfaAdminDeps(p));
  const tenants = new TenantAdminService({ tenants: p.tenants, roles: p.roles, emit });
  registerTenantRoutes(route, tenants);
  registerTenantDeletionRoute(route, new TenantDeletionService({
    db: p.db, tenants: p.tenants, clients: p.clients, emit, declaredTenants: new Set(p.settings.declarative.tenants.map((t) => t.id)),
  }));
  registerAuditRoutes(route, p.audit);
  registerBrandingAdminRoutes(route, { branding: createBrandingRepository(p.db), brands: p.brands, tenants: p.tenants, emit });
  registerClientRoutes(route, new ClientAdminService({
    clients: p.clients, emit,
    validate: async (metadata) => {
      await assertScopesDeclared(metadata, p.apis);
      await p.provider().Client.validate(engineScopeMetadata(metadata, 'validate') as never);
    },
  }), { apis: p.apis, issuer: p.settings.issuer });
  registerApiTokenRoutes(route, { tokens: apiTokenStore(p), tenants: p.tenants, emit });
  registerRegistrationTokenRoutes(route, { tokens: createRegistrationTokenStore(p.db), tenants: p.tenants, apis: p.apis, emit });
  registerProviderAdminRoutes(route, { registry: p.identityProviders, tenants: p.tenants, issuer: p.settings.issuer, emit, keys: new ClientKeyStore(p.db, p.kek) });
  registerLinkRequestRoutes(route, { requests: new LinkRequests(p.db), links: createExternalLinkRepository(p.db), users: p.users, emit, events: p.events, log: p.log });
  registerWebhookRoutes(route, {
    repo: p.webhooks.repo, tenants: p.tenants, kek: p.kek, emit, privateHosts: p.settings.outboundPrivateHosts,
    nudge: () => p.webhooks.worker.nudge(),
  });
  registerInboundAdminRoutes(route, { sources: inboundSources(p), tenants: p.tenants, emit });
  registerApiRoutes(route, new ApiAdminService({ issuer: p.settings.issuer, apis: p.apis, keys: p.keys, rotateKeys: () => p.rotateKeys(), emit }));

  // Public, like discovery: the document describes the API, it grants nothing.
  app.get(OPENAPI_PATH, async (_request, reply) => reply.header('cache-control', 'public, max-age=300')
    .send(registry.document(p.settings.issuer, ADMIN_BASE)));
  return registry;
}
