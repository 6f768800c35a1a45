import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.js';
import type { FactorProvider } from '../factors.js';
import { registerPasskeyAssets, PASSKEY_SCRIPT } from './assets.js';
import { createChallengeStore, createPasskeyRepository } from './repository.js';
import type { PasskeyRepository } from './repository.js';
import { registerPasskeyRoutes } from './routes.js';
import { PasskeyService } from './service.js';
import { passkeyEnrollButton, passkeyMfaButton, passkeyNotice, passkeySignInButton, renderPasskeySection } from './views.js';

/** Where the passkey section lives: the account Security page (mfa/). */
export const PASSKEY_ACCOUNT_PAGE = '/account/security';

/**
 * Passkeys as an MFA factor kind: registered with the factor registry
 * (platform.mfa) so policy, the MFA step and the Security page see them;
 * also a first factor on its own (passwordless sign-in).
 */
export function passkeysFeature(app: FastifyInstance, p: Platform): void {
  const passkeys = createPasskeyRepository(p.db);
  const service = new PasskeyService({ issuer: p.settings.issuer, passkeys, challenges: createChallengeStore(p.db) });
  p.mfa.register(passkeyFactor(passkeys));
  registerPasskeyAssets(app);
  registerPasskeyRoutes(app, { platform: p, service, accountPage: PASSKEY_ACCOUNT_PAGE, flow: app.tesseraSignInFlow });
}

/** The FactorProvider of kind 'passkey': listing, removal, and its parts of the MFA and Security pages. */
export function passkeyFactor(passkeys: PasskeyRepository): FactorProvider {
  return {
    kind: 'passkey',
    // What a passkey adds as a second factor; as the only factor, with user verification, the sign-in also gets 'user'.
    amr: ['hwk'],
    async list(userId) {
      return (await passkeys.listByUser(userId)).map((k) => ({
        id: k.id, kind: 'passkey' as const, label: k.name, createdAt: k.createdAt, lastUsedAt: k.lastUsedAt,
      }));
    },
    remove: (userId, id) => passkeys.remove(userId, id),
    removeAll: (userId) => passkeys.removeAll(userId),
    // Passwordless: the button, and passkeys offered in the username field's autofill (conditional UI).
    async signInSlot(view) {
      return { html: passkeySignInButton(view.ctx, view.uid, { autofill: true, script: false }), scripts: [PASSKEY_SCRIPT] };
    },
    async challengeSlot(view) {
      return { html: passkeyMfaButton(view.ctx, view.uid, { script: false }), scripts: [PASSKEY_SCRIPT] };
    },
    async enrollSlot(view) {
      return { html: passkeyEnrollButton(view.ctx, view.uid, { script: false }), scripts: [PASSKEY_SCRIPT] };
    },
    async accountSlot(view) {
      const list = await passkeys.listByUser(view.user.id);
      const html = renderPasskeySection(view.ctx, list, view.csrf, { script: false, ...passkeyNotice(view.ctx, view.query) });
      return { html, scripts: [PASSKEY_SCRIPT] };
    },
  };
}
