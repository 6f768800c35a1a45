import type { User } from '../identity/model.js';
import { actingTenant } from '../identity/model.js';
import { DEFAULT_POLICY } from '../identity/policy.js';
import type { TenantRepository } from '../identity/repository.js';
import type { MfaFactors } from '../mfa/factors.js';
import { clientMfaMode, mfaRequired } from '../interaction/policy.js';
import type { ClientRepository } from './repository.js';

/** Tessera's MFA-state claims: only released when a client asks for them with the `claims` parameter. */
export const MFA_STATE_CLAIMS = ['mfa_enrolled', 'mfa_required'] as const;

export interface MfaStateDeps {
  clients: ClientRepository;
  tenants: TenantRepository;
  /** The factor registry (built after the engine, hence a getter). */
  factors: () => MfaFactors;
}

export type MfaStateClaims = (user: User, clientId: string | undefined) => Promise<{ mfa_enrolled: boolean; mfa_required: boolean }>;

/**
 * `mfa_enrolled`: the user has a factor that can stand as a second factor;
 * `mfa_required`: policy (client, tenant, the user's roles) makes MFA
 * mandatory for this user signing in to this client. A browser app uses them
 * to offer enrollment or explain a coming step-up (docs/protocol.md#claims);
 * they describe, they do not grant anything.
 */
export function mfaStateClaims(deps: MfaStateDeps): MfaStateClaims {
  return async (user, clientId) => {
    const [client, tenant, enrolled] = await Promise.all([
      clientId ? deps.clients.find(clientId) : undefined,
      deps.tenants.findById(actingTenant(user)),
      deps.factors().hasSecondFactor(user.id),
    ]);
    const policy = tenant?.policy ?? DEFAULT_POLICY;
    return {
      mfa_enrolled: enrolled,
      mfa_required: mfaRequired({ tenant: policy.mfa, client: clientMfaMode(client?.metadata), roles: user.roles }),
    };
  };
}
