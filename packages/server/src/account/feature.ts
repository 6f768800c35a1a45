import type { FastifyInstance } from 'fastify';
import type { Platform } from '../platform.js';
import { AccountService } from './service.js';
import { PhoneCodes } from '../identity/phone-codes.js';
import { AccessService } from './access.js';
import { createSessionMetaRepository } from './session-meta.js';
import { registerProfileRoutes } from './profile.js';
import { registerPhoneRoutes } from './phone.js';
import { registerSessionRoutes } from './sessions.js';
import { registerApplicationRoutes } from './applications.js';

/** The self-service account pages: profile, email change, phone, sessions, connected applications. */
export function registerSelfService(app: FastifyInstance, p: Platform): void {
  const pageDeps = { sessions: p.accountSessions, secure: p.secureCookies };
  const service = new AccountService({
    issuer: p.settings.issuer, users: p.users, tenants: p.tenants, tokens: p.tokens, mailer: p.mailer, events: p.events, log: p.log,
    phoneCodes: new PhoneCodes({ db: p.db, tokens: p.tokens, tenants: p.tenants, sms: p.sms, log: p.log }),
  });
  const access = new AccessService({
    payloads: p.payloads, meta: createSessionMetaRepository(p.db), clients: p.clients, provider: p.provider, events: p.events, log: p.log,
  });
  // Username and email changes say whether a value is taken: limited per client IP like registration.
  registerProfileRoutes(app, { ...pageDeps, service, takenLimiter: p.rateLimiter('account-taken', p.settings.authFailuresPerMinute) });
  registerPhoneRoutes(app, { ...pageDeps, service });
  registerSessionRoutes(app, { ...pageDeps, access });
  registerApplicationRoutes(app, { ...pageDeps, access });
}
