import type { Feature } from '../platform.js';
import { installBrandHook } from './hook.js';
import { registerBrandingAssetRoutes } from './routes.js';

/**
 * Tenant branding on the hosted pages (docs/branding.md): each page request
 * gets its tenant's brand, and the brand's files are served from
 * /branding. (The admin API routes are registered with the admin API.)
 */
export const brandingFeature: Feature = async (app, p) => {
  installBrandHook(app, { brands: p.brands, clients: p.clients, provider: p.provider });
  registerBrandingAssetRoutes(app, p.brands);
  // Engine-rendered pages (errors, logout) use the product's brand as last resolved: resolve it once now.
  await p.brands.brand('default');
};
