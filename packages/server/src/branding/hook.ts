import type { FastifyInstance, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import type { ClientRepository } from '../oidc/repository.js';
import { signInTenant } from '../interaction/tenant.js';
import { interactionInRequest } from '../interaction/details.js';
import { ID_PATTERN } from '../identity/model.js';
import { ReadCache } from '../storage/read-cache.js';
import type { BrandService } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The brand resolver (branding/service.ts), for routes that learn their tenant late (the account pages). */
    tesseraBrands?: BrandService;
  }
}

/** Paths that never render a hosted page: no brand to resolve. */
const NOT_PAGES = /^\/(oidc|api|assets|branding|admin|metrics|healthz|readyz|\.well-known)(\/|$|\?)/;
const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]{1,64})(?:[/?]|$)/;
const INTERACTION_TENANT_TTL_MS = 10 * 60_000;

export interface BrandHookDeps {
  brands: BrandService;
  clients: Pick<ClientRepository, 'find'>;
  provider(): Provider;
}

/**
 * Gives every page request its tenant's brand before the handler runs, so
 * page code keeps calling `pageContext(request)` unchanged: the sign-in
 * pages' tenant is the interaction's (its client's, or the built-in apps'
 * `tenant` parameter: interaction/tenant.ts); registration, recovery and
 * confirmation pages name theirs with `tenant` (query or form); anything else
 * is the product's (`default`). The account pages set the signed-in user's
 * tenant themselves (useTenantBrand).
 */
export function installBrandHook(app: FastifyInstance, deps: BrandHookDeps): void {
  app.decorate('tesseraBrands', deps.brands);
  // An interaction's tenant never changes: remember it instead of reading the interaction twice per page.
  const interactionTenants = new ReadCache<string>(INTERACTION_TENANT_TTL_MS, 10_000);
  app.addHook('preHandler', async (request, reply) => {
    if ((request.method !== 'GET' && request.method !== 'POST') || NOT_PAGES.test(request.url)) return;
    const uid = INTERACTION.exec(request.url)?.[1];
    const tenantId = uid
      ? await interactionTenants.get(uid, async () => {
        // The browser's own interaction, loaded once for the page too (interaction/details.ts): a sign-in's
        // first page reads it once, not here and again in the handler (issue 20). Another browser's
        // request (no or another interaction cookie) reads it by uid, as the page's brand does not depend on whose it is.
        const own = await interactionInRequest(deps.provider, request, reply).catch(() => undefined);
        const interaction = own?.uid === uid ? own : await deps.provider().Interaction.find(uid).catch(() => undefined);
        return interaction ? signInTenant(deps.clients, interaction.params as Record<string, unknown>) : undefined;
      })
      : named(request.query) ?? named(request.body);
    request.tesseraBrand = await deps.brands.brand(tenantId ?? 'default');
  });
}

/** A well-formed `tenant` field of a query or form, if any. */
function named(source: unknown): string | undefined {
  const value = (source as { tenant?: unknown } | undefined)?.tenant;
  return typeof value === 'string' && ID_PATTERN.test(value) ? value : undefined;
}

/** For a page that learns its tenant in the handler (the signed-in user's): use that tenant's brand. */
export async function useTenantBrand(request: FastifyRequest, tenantId: string): Promise<void> {
  const brands = request.server.tesseraBrands;
  if (brands) request.tesseraBrand = await brands.brand(tenantId);
}
