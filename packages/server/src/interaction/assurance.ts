import { ACR_MFA, ACR_PASSWORD } from '../oidc/acr.js';
import type { CompletedMethod } from './state.js';

/**
 * Which kind of factor each RFC 8176 `amr` value proves. Multi-factor means
 * two different kinds: knowledge (a password, a PIN), possession (a TOTP
 * app, a recovery code, a security key or a synced passkey), inherence (a
 * biometric; `user`, the user-verification flag of a passkey, counts here,
 * which is how a passkey with user verification is multi-factor on its own),
 * or an upstream provider's sign-in (`fed`), whose own factors Tessera does
 * not see unless the provider is trusted for MFA (docs/federation.md).
 */
const FAMILY: Record<string, 'know' | 'have' | 'are' | 'fed'> = {
  pwd: 'know', pin: 'know', kba: 'know',
  otp: 'have', hwk: 'have', swk: 'have', sms: 'have', tel: 'have', sc: 'have', pop: 'have',
  user: 'are', fpt: 'are', face: 'are', iris: 'are', retina: 'are', vbm: 'are',
  fed: 'fed',
};

/**
 * The level a sign-in achieved, from what was completed, never from which
 * method ran. Counting distinct families, not entries, keeps "the same
 * factor twice" one factor (Kratos #4317). Computed at every step, never
 * cached (GHSA-wc43-73w7-x2f5). Undefined before any method completed.
 */
export function achievedAcr(done: readonly CompletedMethod[]): string | undefined {
  if (!done.length) return undefined;
  if (done.some((m) => m.upstreamMfa)) return ACR_MFA;
  const families = new Set(done.flatMap((m) => m.amr.flatMap((v) => FAMILY[v] ?? [])));
  return families.size >= 2 ? ACR_MFA : ACR_PASSWORD;
}

/**
 * The `amr` of the finished sign-in (RFC 8176): every value proved, once,
 * plus `mfa` exactly when the sign-in reached the MFA level.
 */
export function achievedAmr(done: readonly CompletedMethod[]): string[] {
  const all = [...new Set(done.flatMap((m) => m.amr).filter((v) => v !== 'mfa'))];
  return achievedAcr(done) === ACR_MFA ? [...all, 'mfa'] : all;
}
