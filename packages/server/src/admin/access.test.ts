import { describe, expect, test } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { AdminAccess, AdminAccessError } from './access.js';
import type { AdminPrincipal } from './access.js';
import { ACR_MFA, ACR_PASSWORD } from '../oidc/acr.js';

const ISSUER = 'https://id.example.test';
const NOW = Date.UTC(2030, 0, 1);

async function setup(verifierNow = NOW) {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const admin = { id: 'u1', tenantId: 'default', roles: ['admin'], status: 'active', lockedUntil: null };
  const access = new AdminAccess({
    issuer: ISSUER, publicJwks: async () => ({ keys: [jwk] }), stepUpMaxAge: 300, now: () => verifierNow,
    users: { findById: async (id: string) => (id === 'u1' ? admin : undefined) } as never,
    clients: { find: async (id: string) => (id === 'console' ? { clientId: 'console', tenantId: 'default', firstParty: true, metadata: {}, secretHash: null } : undefined) },
  });
  const sign = (claims: Record<string, unknown>, typ = 'at+jwt') => new SignJWT({ scope: 'identity.admin', client_id: 'console', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ }).setIssuer(ISSUER).setAudience(`${ISSUER}/api/admin`).setSubject('u1')
    .setIssuedAt(NOW / 1000).setExpirationTime(NOW / 1000 + 600).sign(privateKey);
  return { access, sign };
}

const principal = (p: Partial<AdminPrincipal>): AdminPrincipal => ({
  kind: 'user', id: 'u1', clientId: 'console', tenantId: 'default', platform: true, scopes: new Set(['identity.admin']), acr: null, authTime: null, ...p,
});

describe('AdminAccess', () => {
  test('accepts an RFC 9068 token for the admin audience; refuses another typ', async () => {
    const { access, sign } = await setup();
    const p = await access.authenticate(`Bearer ${await sign({ acr: ACR_MFA, auth_time: NOW / 1000 })}`, 'identity.admin');
    expect(p).toMatchObject({ kind: 'user', id: 'u1', platform: true, acr: ACR_MFA, authTime: NOW / 1000 });
    await expect(access.authenticate(`Bearer ${await sign({}, 'JWT')}`, 'identity.admin')).rejects.toMatchObject({ code: 'invalid_token', status: 401 });
    await expect(access.authenticate(`Bearer ${await sign({})}`, 'auth.admin')).rejects.toMatchObject({ code: 'insufficient_scope', status: 403 });
  });

  test('refuses expired tokens, tokens signed by another key, and other token types in the header', async () => {
    const { access, sign } = await setup(NOW + 3600_000); // the token (exp = NOW + 600 s) has expired by then
    await expect(access.authenticate(`Bearer ${await sign({})}`, 'identity.admin')).rejects.toMatchObject({ code: 'invalid_token' });
    const fresh = await setup();
    const other = await setup();
    await expect(fresh.access.authenticate(`Bearer ${await other.sign({})}`, 'identity.admin')).rejects.toMatchObject({ code: 'invalid_token' });
    await expect(fresh.access.authenticate(`Basic ${await fresh.sign({})}`, 'identity.admin')).rejects.toMatchObject({ code: 'invalid_token' });
    await expect(fresh.access.authenticate(`Bearer ${await fresh.sign({})}`, 'identity.admin')).resolves.toMatchObject({ id: 'u1' });
  });

  test('step-up: the MFA level, signed in within the window', async () => {
    const { access } = await setup();
    const at = NOW / 1000;
    expect(() => access.requireStepUp(principal({ acr: ACR_MFA, authTime: at - 299 }))).not.toThrow();
    for (const stale of [principal({ acr: ACR_MFA, authTime: at - 301 }), principal({ acr: ACR_PASSWORD, authTime: at }), principal({ acr: ACR_MFA })]) {
      let err: unknown;
      try {
        access.requireStepUp(stale);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AdminAccessError);
      expect((err as AdminAccessError).wwwAuthenticate()).toBe(
        `Bearer error="insufficient_user_authentication", error_description="This operation needs a recent multi-factor sign-in.", acr_values="${ACR_MFA}", max_age=300`);
    }
    expect(() => access.requireStepUp(principal({ kind: 'client' }))).not.toThrow();
  });
});
