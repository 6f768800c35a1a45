import type { FastifyInstance } from 'fastify';
import type { Platform } from '../platform.js';
import { MfaService } from './service.js';
import { createMfaRepository } from './repository.js';
import { createSignInStateRepository } from '../interaction/state.js';
import { ACR_MFA } from '../oidc/acr.js';
import { recoveryCodeMethod, totpMethod } from './methods.js';
import { registerMfaAccountRoutes } from './account-routes.js';
import { registerRecoveryCodesScript } from './recovery-script.js';
import { MFA } from '../identity/lockout-counters.js';

/**
 * The MFA core: TOTP and recovery codes as factor providers, the sign-in MFA
 * step and the account Security page. The sign-in pipeline itself is
 * created by the composition root (interaction/flow.ts).
 */
declare module 'fastify' {
  interface FastifyInstance {
    /** The MFA service (TOTP, recovery codes); set by `mfaFeature`, which runs before the passkeys feature. */
    tesseraMfaService?: MfaService;
  }
}

export function mfaFeature(app: FastifyInstance, p: Platform): void {
  const repo = createMfaRepository(p.db);
  const service = new MfaService({
    repo, signInStates: createSignInStateRepository(p.db), kek: p.kek, users: p.users, tenants: p.tenants, events: p.events, factors: p.mfa, sources: p.signInSources,
    issuerName: new URL(p.settings.issuer).host, issuerNameFor: async (tenantId) => (await p.brands.brand(tenantId)).authenticatorIssuer,
    onEventError: (err) => p.log.error({ err }, 'event listener failed'),
  });
  for (const provider of service.providers()) p.mfa.register(provider);
  // Other factor kinds (passkeys) give a first-time user recovery codes too.
  app.decorate('tesseraMfaService', service);
  p.signIn.register(totpMethod(service));
  p.signIn.register(recoveryCodeMethod(service));
  // A multi-factor sign-in starts the count of wrong codes over (they no longer count toward the lockout).
  p.signIn.onFinish(async ({ user, acr }) => {
    if (acr === ACR_MFA) await p.signInSources.counters.resetFailures(user.id, MFA);
  });
  registerRecoveryCodesScript(app);
  registerMfaAccountRoutes(app, { sessions: p.accountSessions, secure: p.secureCookies, platform: p, service });
}
