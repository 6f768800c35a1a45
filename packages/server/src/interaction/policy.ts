import type { TenantPolicy } from '../identity/policy.js';

export type MfaMode = 'off' | 'optional' | 'required';

/** What a sign-in does after its first factor. */
export type MfaAction =
  /** Finish with the first factor alone (password level). */
  | 'skip'
  /** Ask for one of the user's second factors. */
  | 'challenge'
  /** MFA is required and the user has no factor: enroll one inside the sign-in, then finish. */
  | 'enroll';

export interface MfaPolicyInput {
  tenant: TenantPolicy['mfa'];
  /** The client's `mfa` metadata; undefined: the tenant decides. */
  client?: MfaMode;
  /** The user's roles in their tenant. */
  roles: readonly string[];
  /** The request asks for the MFA level (acr_values, essential acr claim): a step-up. */
  acrRequested: boolean;
  /** The user has a factor that can stand as a second factor (recovery codes alone do not). */
  hasSecondFactor: boolean;
}

/**
 * True when MFA is mandatory for this user (and, when known, this client):
 * the client or the tenant says `required`, or the user holds one of the
 * tenant's `required_roles`. A requirement is a floor: a client set to `off`
 * cannot lower what the tenant or a role requires.
 */
export function mfaRequired(input: Pick<MfaPolicyInput, 'tenant' | 'client' | 'roles'>): boolean {
  if (input.client === 'required' || input.tenant.mode === 'required') return true;
  const roles = new Set(input.roles);
  return input.tenant.required_roles.some((r) => roles.has(r));
}

/**
 * The MFA decision for one sign-in, as one ordered rule list:
 * 1. required (client, tenant or role) or requested (step-up) → challenge, or enroll when the user has no factor;
 * 2. client `off`, or tenant `off` without a client override → skip;
 * 3. optional → challenge users who enrolled a factor, skip the others.
 */
export function decideMfa(input: MfaPolicyInput): { action: MfaAction; required: boolean } {
  const required = input.acrRequested || mfaRequired(input);
  if (required) return { action: input.hasSecondFactor ? 'challenge' : 'enroll', required };
  const mode: MfaMode = input.client ?? input.tenant.mode;
  if (mode === 'off') return { action: 'skip', required };
  return { action: input.hasSecondFactor ? 'challenge' : 'skip', required };
}

/** The client's `mfa` metadata, when it holds a valid mode. */
export function clientMfaMode(metadata: Record<string, unknown> | undefined): MfaMode | undefined {
  const v = metadata?.mfa;
  return v === 'off' || v === 'optional' || v === 'required' ? v : undefined;
}
