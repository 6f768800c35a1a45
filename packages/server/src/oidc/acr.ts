/**
 * Authentication context class references Tessera publishes
 * (`acr_values_supported`), weakest first. See docs/mfa.md.
 *
 * - `urn:tessera:acr:pwd`: one factor (a password, or a passkey without user verification).
 * - `urn:tessera:acr:mfa`: two factors (password + TOTP or recovery code or passkey,
 *   or a passkey with user verification on its own: possession + inherence/knowledge).
 */
export const ACR_PASSWORD = 'urn:tessera:acr:pwd';
export const ACR_MFA = 'urn:tessera:acr:mfa';
export const ACR_VALUES = [ACR_PASSWORD, ACR_MFA];

/** The rank of an acr value (higher is stronger); unknown values rank below every known one. */
export function acrLevel(acr: string | null | undefined): number {
  return acr ? ACR_VALUES.indexOf(acr) : -1;
}

/** True when a session at `held` satisfies a request for `wanted` (a stronger level satisfies a weaker one). */
export function acrSatisfies(held: string | null | undefined, wanted: string): boolean {
  const need = acrLevel(wanted);
  return need >= 0 && acrLevel(held) >= need;
}
