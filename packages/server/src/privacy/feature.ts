import type { FastifyInstance } from 'fastify';
import type { Platform } from '../platform.js';
import { AccessService } from '../account/access.js';
import { createSessionMetaRepository } from '../account/session-meta.js';
import { createExternalLinkRepository } from '../federation/links.js';
import { UserExportService } from './export.js';
import { registerAccountExportRoutes } from './account-routes.js';

/** The export service over the platform's shared services (the admin API and the account page use the same). */
export function userExportService(p: Platform): UserExportService {
  return new UserExportService({
    issuer: p.settings.issuer, users: p.users, userData: p.userData, links: createExternalLinkRepository(p.db), factors: p.mfa,
    access: new AccessService({ payloads: p.payloads, meta: createSessionMetaRepository(p.db), clients: p.clients, provider: p.provider, events: p.events, log: p.log }),
    audit: p.audit,
  });
}

/** The account page's export of one's own data (/account/data); the admin API's route is registered by the admin feature. */
export function privacyFeature(app: FastifyInstance, p: Platform): void {
  registerAccountExportRoutes(app, { sessions: p.accountSessions, secure: p.secureCookies, exporter: userExportService(p), audit: p.audit, events: p.events, log: p.log });
}
