import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.js';
import type { SignInMethod } from '../../interaction/methods.js';
import type { FactorProvider } from '../factors.js';
import { registerPasskeyAssets, PASSKEY_SCRIPT } from './assets.js';
import { createChallengeStore, createPasskeyRepository } from './repository.js';
import type { PasskeyRepository } from './repository.js';
import { registerPasskeyRoutes } from './routes.js';
import { registerPasskeySignInRoutes } from './sign-in-routes.js';
import { PasskeyService } from './service.js';
import { passkeyEnrollButton, passkeyMfaButton, passkeyNotice, passkeySignInButton, renderPasskeySection } from './views.js';

/** Where the passkey section lives: the account Security page (mfa/). */
export const PASSKEY_ACCOUNT_PAGE = '/account/security';

/**
 * Passkeys: a factor kind in the factor registry (platform.mfa: policy and
 * the Security page see them) and a sign-in method (platform.signIn) that is
 * both a first factor (passwordless) and a second factor.
 */
export function passkeysFeature(app: FastifyInstance, p: Platform): void {
  const passkeys = createPasskeyRepository(p.db);
  const service = new PasskeyService({ issuer: p.settings.issuer, passkeys, challenges: createChallengeStore(p.db) });
  p.mfa.register(passkeyFactor(passkeys));
  p.signIn.register(passkeyMethod(p, passkeys, service));
  registerPasskeyAssets(app);
  registerPasskeyRoutes(app, { platform: p, service, accountPage: PASSKEY_ACCOUNT_PAGE });
}

/**
 * The passkey as a sign-in method: "Sign in with a passkey" (and the
 * username field's autofill, conditional UI) on the sign-in page, "Use a
 * passkey" on the second-factor page for users who have one, and "Add a
 * passkey" where the sign-in must enroll a factor.
 */
export function passkeyMethod(p: Platform, passkeys: PasskeyRepository, service: PasskeyService): SignInMethod {
  return {
    id: 'passkey',
    kinds: ['first', 'second'],
    // As a second factor; as the only factor, with user verification, the sign-in also gets 'user'.
    amr: ['hwk'],
    order: 50,
    usernameAutocomplete: 'webauthn',
    offered: async ({ kind, user }) => kind === 'first' || Boolean(user && (await passkeys.listByUser(user.id)).length),
    async slot(view) {
      const html = view.kind === 'first'
        ? passkeySignInButton(view.ctx, view.uid, { autofill: true, script: false })
        : passkeyMfaButton(view.ctx, view.uid, { script: false });
      return { html, scripts: [PASSKEY_SCRIPT], region: 'extra' };
    },
    async enrollSlot(view) {
      return { html: passkeyEnrollButton(view.ctx, view.uid, { script: false }), scripts: [PASSKEY_SCRIPT], region: 'extra' };
    },
    routes: (app, flow) => registerPasskeySignInRoutes(app, p, service, flow),
  };
}

/** The FactorProvider of kind 'passkey': listing, removal, and its section of the Security page. */
export function passkeyFactor(passkeys: PasskeyRepository): FactorProvider {
  return {
    kind: 'passkey',
    amr: ['hwk'],
    async list(userId) {
      return (await passkeys.listByUser(userId)).map((k) => ({
        id: k.id, kind: 'passkey' as const, label: k.name, createdAt: k.createdAt, lastUsedAt: k.lastUsedAt,
      }));
    },
    remove: (userId, id) => passkeys.remove(userId, id),
    removeAll: (userId) => passkeys.removeAll(userId),
    async accountSlot(view) {
      const list = await passkeys.listByUser(view.user.id);
      const html = renderPasskeySection(view.ctx, list, view.csrf, { script: false, ...passkeyNotice(view.ctx, view.query) });
      return { html, scripts: [PASSKEY_SCRIPT] };
    },
  };
}
