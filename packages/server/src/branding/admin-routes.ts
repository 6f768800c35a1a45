import { z } from 'zod';
import type { AdminRouter } from '../admin/routing.js';
import type { AdminEmit } from '../admin/audit.js';
import { AdminInvalid } from '../admin/errors.js';
import { pathId, iso } from '../admin/schemas.js';
import { requirePlatform, visibleTenant } from '../admin/tenancy.js';
import type { TenantRepository } from '../identity/repository.js';
import { NotFoundError } from '../storage/errors.js';
import { applyBrandingInput } from './input.js';
import type { BrandingInput } from './input.js';
import type { BrandingRepository } from './repository.js';
import type { BrandService } from './service.js';
import { BRANDING_PATH } from './service.js';
import type { TenantBranding } from './model.js';
import { MAX_FAVICON_BYTES, MAX_LOGO_BYTES, MAX_STYLESHEET_BYTES } from './model.js';

export interface BrandingAdminDeps {
  branding: BrandingRepository;
  brands: BrandService;
  tenants: Pick<TenantRepository, 'findById'>;
  emit: AdminEmit;
}

const color = z.string().nullable().optional();
const assetView = z.object({ type: z.string(), bytes: z.number().int(), url: z.string() }).nullable();
const brandingView = z.object({
  tenant: z.string(),
  name: z.string().nullable(),
  colors: z.object({ primary: z.string().optional(), background: z.string().optional(), text: z.string().optional() }),
  authenticator_issuer: z.string().nullable(),
  texts: z.record(z.string(), z.record(z.string(), z.string())),
  logo: assetView,
  favicon: assetView,
  stylesheet: assetView,
  updated_at: z.string().nullable(),
  effective: z.object({
    name: z.string(), logo_url: z.string().nullable(), favicon_url: z.string().nullable(), stylesheet_url: z.string().nullable(),
  }).describe('What the tenant\'s pages show, with what it inherits from the default tenant (the product) filled in.'),
});

const patchBody = z.strictObject({
  name: z.string().nullable().optional(),
  colors: z.strictObject({ primary: color, background: color, text: color }).nullable().optional(),
  authenticator_issuer: z.string().nullable().optional(),
  texts: z.record(z.string(), z.record(z.string(), z.string())).nullable().optional().describe('Page texts by language (en, de): message key → text.'),
  logo: z.string().nullable().optional().describe(`A base64 data: URI (PNG, JPEG, WebP, GIF or SVG; at most ${MAX_LOGO_BYTES / 1024} KiB); null removes it.`),
  favicon: z.string().nullable().optional().describe(`A base64 data: URI (PNG, ICO, GIF or SVG; at most ${MAX_FAVICON_BYTES / 1024} KiB); null removes it.`),
  stylesheet: z.string().nullable().optional().describe(`CSS text (at most ${MAX_STYLESHEET_BYTES / 1024} KiB), served as part of /branding/{tenant}/theme.css; null removes it.`),
});

const params = z.object({ tenant: pathId });

/** Tenant branding (docs/branding.md): read by the tenant's administrators, changed by platform administrators. */
export function registerBrandingAdminRoutes(route: AdminRouter, deps: BrandingAdminDeps): void {
  const tag = 'Tenants';
  const scope = 'identity.admin' as const;
  const view = async (tenantId: string) => toView(tenantId, await deps.branding.find(tenantId), deps.brands);
  const tenantOf = async (principal: Parameters<typeof visibleTenant>[0], id: string) => {
    visibleTenant(principal, id);
    if (!(await deps.tenants.findById(id))) throw new NotFoundError('tenant', id);
  };

  route({
    method: 'GET', path: '/tenants/:tenant/branding', tag, scope, summary: 'Read a tenant\'s branding',
    params, response: brandingView, errors: [404],
    async handler({ principal, params: p }) {
      await tenantOf(principal, p.tenant);
      return view(p.tenant);
    },
  });

  route({
    method: 'PATCH', path: '/tenants/:tenant/branding', tag, scope, summary: 'Change a tenant\'s branding (platform administrators)',
    description: 'Fields given replace the stored ones, `null` removes one, absent ones stay. The default tenant\'s branding is the product\'s: '
      + 'other tenants inherit what they leave out. A tenant whose branding the configuration file declares gets the file\'s again at the next start.',
    params, body: patchBody, response: brandingView, errors: [400, 404, 413, 415], bodyLimit: 1024 * 1024,
    async handler({ principal, params: p, body, event }) {
      requirePlatform(principal, 'change branding');
      await tenantOf(principal, p.tenant);
      const current = await deps.branding.find(p.tenant);
      const result = applyBrandingInput(p.tenant, current, body as BrandingInput, 'merge');
      if ('problems' in result) {
        const first = Object.entries(result.problems)[0]!;
        throw new AdminInvalid(Object.fromEntries(Object.entries(result.problems).map(([k, v]) => [k, v.code])), `${first[0]}: ${first[1].message}`);
      }
      const outcome = await deps.branding.put(result.branding);
      deps.brands.invalidate();
      if (outcome !== 'unchanged') {
        await deps.emit('tenant.branding_changed', principal, { tenantId: p.tenant, subjectId: p.tenant }, event, { target: 'tenant', fields: Object.keys(body).sort() });
      }
      return view(p.tenant);
    },
  });

  route({
    method: 'DELETE', path: '/tenants/:tenant/branding', tag, scope, summary: 'Remove a tenant\'s branding (platform administrators)',
    description: 'The tenant\'s pages show the product\'s branding (the default tenant\'s) again; for the default tenant, Tessera\'s own look.',
    params, errors: [404],
    async handler({ principal, params: p, event }) {
      requirePlatform(principal, 'change branding');
      await tenantOf(principal, p.tenant);
      if (await deps.branding.delete(p.tenant)) {
        deps.brands.invalidate();
        await deps.emit('tenant.branding_changed', principal, { tenantId: p.tenant, subjectId: p.tenant }, event, { target: 'tenant', removed: true });
      }
    },
  });
}

async function toView(tenantId: string, b: TenantBranding | undefined, brands: BrandService): Promise<z.input<typeof brandingView>> {
  const effective = await brands.brand(tenantId);
  const base = `${BRANDING_PATH}/${encodeURIComponent(tenantId)}`;
  const asset = (kind: 'logo' | 'favicon') => {
    const image = b?.[kind];
    return image ? { type: image.type, bytes: image.data.length, url: effective[kind === 'logo' ? 'logoUrl' : 'faviconUrl'] ?? `${base}/${kind}` } : null;
  };
  return {
    tenant: tenantId,
    name: b?.settings.name ?? null,
    colors: b?.settings.colors ?? {},
    authenticator_issuer: b?.settings.authenticator_issuer ?? null,
    texts: (b?.settings.texts ?? {}) as Record<string, Record<string, string>>,
    logo: asset('logo'),
    favicon: asset('favicon'),
    stylesheet: b?.stylesheet ? { type: 'text/css', bytes: Buffer.byteLength(b.stylesheet), url: effective.stylesheetUrl ?? `${base}/theme.css` } : null,
    updated_at: b ? iso(b.updatedAt)! : null,
    effective: {
      name: effective.name,
      logo_url: effective.logoUrl ?? null,
      favicon_url: effective.faviconUrl ?? null,
      stylesheet_url: effective.stylesheetUrl ?? null,
    },
  };
}
