import type { Platform } from '../platform.js';

export interface LoginLinks {
  registerUrl?: string;
  forgotUrl?: string;
}

/**
 * The links under the sign-in form, for the tenant of the client asking:
 * "Create an account" only when that tenant takes registrations (open or by
 * invitation: the page explains the invitation), "Forgot your password?"
 * always. Both carry the interaction, so the user can come back to it, and
 * the client's `ui_locales`, so the pages speak the sign-in page's language.
 */
export function createLoginLinks(platform: Pick<Platform, 'clients' | 'tenants'>): (clientId: string, uid: string, uiLocales?: string) => Promise<LoginLinks> {
  return async (clientId, uid, uiLocales) => {
    const tenantId = (await platform.clients.find(clientId))?.tenantId ?? 'default';
    const tenant = await platform.tenants.findById(tenantId);
    // The client's ui_locales follow the user onto these pages (OIDC Core §3.1.2.1).
    const query = new URLSearchParams({ tenant: tenantId, interaction: uid, ...(uiLocales ? { ui_locales: uiLocales } : {}) }).toString();
    return {
      ...(tenant && tenant.policy.registration !== 'closed' ? { registerUrl: `/register?${query}` } : {}),
      forgotUrl: `/password/forgot?${query}`,
    };
  };
}
