import type { Platform } from '../platform.js';
import { signInTenant } from './tenant.js';

export interface LoginLinks {
  registerUrl?: string;
  forgotUrl?: string;
}

/**
 * The links under the sign-in form, for the tenant signing in (tenant.ts):
 * "Create an account" only when that tenant takes registrations (open or by
 * invitation: the page explains the invitation), "Forgot your password?"
 * always. Both carry the interaction, so the user can come back to it, and
 * the client's `ui_locales`, so the pages speak the sign-in page's language.
 */
export function createLoginLinks(platform: Pick<Platform, 'clients' | 'tenants'>): (params: Record<string, unknown>, uid: string) => Promise<LoginLinks> {
  return async (params, uid) => {
    const tenantId = await signInTenant(platform.clients, params);
    const uiLocales = typeof params.ui_locales === 'string' ? params.ui_locales : undefined;
    const tenant = await platform.tenants.findById(tenantId);
    // The client's ui_locales follow the user onto these pages (OIDC Core §3.1.2.1).
    const query = new URLSearchParams({ tenant: tenantId, interaction: uid, ...(uiLocales ? { ui_locales: uiLocales } : {}) }).toString();
    return {
      ...(tenant && tenant.policy.registration !== 'closed' ? { registerUrl: `/register?${query}` } : {}),
      forgotUrl: `/password/forgot?${query}`,
    };
  };
}
