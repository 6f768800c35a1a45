import type { FastifyInstance } from 'fastify';
import type { Platform } from '../platform.js';
import { registerInboundRoutes } from './routes.js';
import { InboundSources } from './sources.js';
import { ContactSync } from './sync.js';

/** The sources store shared by the endpoint, the admin API and the configuration file's apply. */
export function inboundSources(p: Pick<Platform, 'db' | 'kek'>): InboundSources {
  return new InboundSources({ db: p.db, kek: p.kek });
}

/** Inbound contact sync: `POST /api/inbound/{source}/contacts` (docs/webhooks.md#inbound-contact-sync). */
export function inboundFeature(app: FastifyInstance, p: Platform): void {
  registerInboundRoutes(app, {
    sources: inboundSources(p),
    sync: new ContactSync({ db: p.db, journal: p.journal, audit: p.audit, payloads: p.payloads }),
    log: p.log,
  });
}
