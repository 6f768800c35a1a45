import type { Platform } from '../platform.js';

export interface LoginLinks {
  registerUrl?: string;
  forgotUrl?: string;
}

/**
 * The links under the sign-in form, for the tenant of the client asking:
 * "Create an account" only when that tenant takes registrations (open or by
 * invitation: the page explains the invitation), "Forgot your password?"
 * always. Both carry the interaction, so the user can come back to it.
 */
export function createLoginLinks(platform: Pick<Platform, 'clients' | 'tenants'>): (clientId: string, uid: string) => Promise<LoginLinks> {
  return async (clientId, uid) => {
    const tenantId = (await platform.clients.find(clientId))?.tenantId ?? 'default';
    const tenant = await platform.tenants.findById(tenantId);
    const query = new URLSearchParams({ tenant: tenantId, interaction: uid }).toString();
    return {
      ...(tenant && tenant.policy.registration !== 'closed' ? { registerUrl: `/register?${query}` } : {}),
      forgotUrl: `/password/forgot?${query}`,
    };
  };
}
