import type { FastifyInstance } from 'fastify';
import type { Platform } from '../platform.js';
import { MfaService } from './service.js';
import { registerMfaLoginRoutes } from './routes.js';
import { registerMfaAccountRoutes } from './account-routes.js';

/**
 * The MFA core: TOTP and recovery codes as factor providers, the sign-in MFA
 * step and the account Security page. The login step itself (and the
 * registry the passkeys feature plugs into) is installed by the composition
 * root before the interaction routes (mfa/login-step.ts).
 */
declare module 'fastify' {
  interface FastifyInstance {
    /** The MFA service (TOTP, recovery codes); set by `mfaFeature`, which runs before the passkeys feature. */
    tesseraMfaService?: MfaService;
  }
}

export function mfaFeature(app: FastifyInstance, p: Platform): void {
  const step = app.tesseraLoginStep;
  const service = new MfaService({
    repo: step.repo, kek: p.kek, users: p.users, tenants: p.tenants, events: p.events, factors: p.mfa,
    issuerName: new URL(p.settings.issuer).host,
    onEventError: (err) => p.log.error({ err }, 'event listener failed'),
  });
  for (const provider of service.providers()) p.mfa.register(provider);
  // Other factor kinds (passkeys) give a first-time user recovery codes too.
  app.decorate('tesseraMfaService', service);
  registerMfaLoginRoutes(app, { platform: p, step, service });
  registerMfaAccountRoutes(app, { sessions: p.accountSessions, secure: p.secureCookies, platform: p, service });
}
