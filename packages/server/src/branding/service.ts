import { createHash } from 'node:crypto';
import type { TenantRepository } from '../identity/repository.js';
import type { Locale } from '../i18n/index.js';
import { ReadCache } from '../storage/read-cache.js';
import type { BrandingRepository } from './repository.js';
import type { BrandingSettings, TenantBranding } from './model.js';

/** What a page needs to look like its tenant (web/layout.ts renders it). */
export interface Brand {
  tenantId: string;
  /** The tenant's name on its pages: its branding name, else the tenant's name (the product's for `default`). */
  name: string;
  /** The `default` tenant's branding name, else "Tessera". */
  productName: string;
  logoUrl?: string;
  faviconUrl?: string;
  /** Colours and stylesheets as one file (/branding/<tenant>/theme.css), so the CSP needs no inline styles. */
  stylesheetUrl?: string;
  texts: Partial<Record<Locale, Record<string, string>>>;
  authenticatorIssuer?: string;
}

/** Tessera's own look: what a page shows when nobody configured anything. */
export const TESSERA_BRAND: Brand = Object.freeze({ tenantId: 'default', name: 'Tessera', productName: 'Tessera', texts: {} });

export const BRANDING_PATH = '/branding';
const DEFAULT_TENANT = 'default';
const BRAND_CACHE_TTL_MS = 5_000;

const hash = (data: Buffer | string) => createHash('sha256').update(data).digest('base64url').slice(0, 12);

/** `#abc` → `#aabbcc`. */
function expand(color: string): string {
  return color.length === 4 ? `#${[...color.slice(1)].map((c) => c + c).join('')}` : color.toLowerCase();
}

function channels(color: string): [number, number, number] {
  const c = expand(color);
  return [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)) as [number, number, number];
}

/** The colour `amount` (0–1) of the way to black: hover states of buttons. */
function darker(color: string, amount = 0.15): string {
  return `#${channels(color).map((v) => Math.round(v * (1 - amount)).toString(16).padStart(2, '0')).join('')}`;
}

/** White or near-black text on `color`, whichever contrasts more (WCAG relative luminance). */
function onColor(color: string): string {
  const [r, g, b] = channels(color).map((v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return (1.05 / (luminance + 0.05)) >= ((luminance + 0.05) / 0.05) ? '#ffffff' : '#111111';
}

/** The theme file: colour variables (tessera.css reads them), then the product's and the tenant's own stylesheets. */
export function themeCss(colors: NonNullable<BrandingSettings['colors']>, stylesheets: string[]): string {
  const vars: string[] = [];
  if (colors.primary) vars.push(`--accent:${expand(colors.primary)}`, `--accent-dark:${darker(colors.primary)}`, `--on-accent:${onColor(colors.primary)}`);
  if (colors.background) vars.push(`--bg:${expand(colors.background)}`);
  if (colors.text) vars.push(`--text:${expand(colors.text)}`);
  return [vars.length ? `:root{${vars.join(';')}}` : '', ...stylesheets].filter(Boolean).join('\n');
}

interface Resolved {
  brand: Brand;
  /** Which tenant's row serves each asset (a tenant without its own logo shows the product's). */
  logoFrom?: string;
  faviconFrom?: string;
  theme?: string;
}

/**
 * Resolves a tenant's brand: its own branding, then the `default` tenant's
 * (the product's), then Tessera's look. Read on every page, so cached for a
 * few seconds per tenant (writes through this service invalidate at once;
 * other instances see them within the TTL).
 */
export class BrandService {
  private readonly cache: ReadCache<Resolved>;
  private latestDefault: Brand = TESSERA_BRAND;

  constructor(private readonly deps: { branding: BrandingRepository; tenants: Pick<TenantRepository, 'findById'> }, ttlMs = BRAND_CACHE_TTL_MS) {
    this.cache = new ReadCache<Resolved>(ttlMs, 1_000);
  }

  async brand(tenantId: string): Promise<Brand> {
    return (await this.resolved(tenantId)).brand;
  }

  /** The product's brand as last resolved (for pages the engine renders without a request context). */
  defaultBrand(): Brand {
    return this.latestDefault;
  }

  invalidate(): void {
    this.cache.invalidate();
  }

  /** An asset of the tenant's brand (falling back as the brand does), with a strong ETag. */
  async asset(tenantId: string, kind: 'logo' | 'favicon' | 'theme'): Promise<{ type: string; body: Buffer | string; etag: string } | undefined> {
    const r = await this.resolved(tenantId);
    if (kind === 'theme') return r.theme ? { type: 'text/css; charset=utf-8', body: r.theme, etag: hash(r.theme) } : undefined;
    const from = kind === 'logo' ? r.logoFrom : r.faviconFrom;
    const image = from ? (await this.deps.branding.find(from))?.[kind] : undefined;
    return image ? { type: image.type, body: image.data, etag: hash(image.data) } : undefined;
  }

  private async resolved(tenantId: string): Promise<Resolved> {
    return (await this.cache.get(tenantId, () => this.load(tenantId)))!;
  }

  private async load(tenantId: string): Promise<Resolved> {
    const tenant = tenantId === DEFAULT_TENANT ? undefined : await this.deps.tenants.findById(tenantId);
    // A tenant that does not exist (a made-up `tenant` parameter) looks like the product.
    if (tenantId !== DEFAULT_TENANT && !tenant) return this.resolved(DEFAULT_TENANT);
    const own = await this.deps.branding.find(tenantId);
    const product = tenantId === DEFAULT_TENANT ? own : await this.deps.branding.find(DEFAULT_TENANT);
    const productName = product?.settings.name ?? TESSERA_BRAND.productName;
    const layers = [product, tenantId === DEFAULT_TENANT ? undefined : own].filter((b): b is TenantBranding => Boolean(b));
    const colors = Object.assign({}, ...layers.map((b) => b.settings.colors ?? {})) as NonNullable<BrandingSettings['colors']>;
    const stylesheets = layers.map((b) => b.stylesheet).filter((s): s is string => Boolean(s));
    const theme = themeCss(colors, stylesheets) || undefined;
    const logoFrom = own?.logo ? tenantId : product?.logo ? DEFAULT_TENANT : undefined;
    const faviconFrom = own?.favicon ? tenantId : product?.favicon ? DEFAULT_TENANT : undefined;
    const texts: Brand['texts'] = {};
    for (const b of layers) {
      for (const [locale, entries] of Object.entries(b.settings.texts ?? {})) texts[locale as Locale] = { ...texts[locale as Locale], ...entries };
    }
    // Inherited files are named by their owner's URL: one cached copy for every tenant that shows them.
    const url = (from: string, file: string) => `${BRANDING_PATH}/${encodeURIComponent(from)}/${file}`;
    const logo = logoFrom === tenantId ? own?.logo : product?.logo;
    const favicon = faviconFrom === tenantId ? own?.favicon : product?.favicon;
    const brand: Brand = {
      tenantId,
      name: own?.settings.name ?? (tenantId === DEFAULT_TENANT ? productName : tenant?.name ?? productName),
      productName,
      ...(logo ? { logoUrl: `${url(logoFrom!, 'logo')}?v=${hash(logo.data)}` } : {}),
      ...(favicon ? { faviconUrl: `${url(faviconFrom!, 'favicon')}?v=${hash(favicon.data)}` } : {}),
      ...(theme ? { stylesheetUrl: `${url(tenantId, 'theme.css')}?v=${hash(theme)}` } : {}),
      texts,
      ...((own?.settings.authenticator_issuer ?? product?.settings.authenticator_issuer)
        ? { authenticatorIssuer: own?.settings.authenticator_issuer ?? product?.settings.authenticator_issuer } : {}),
    };
    if (tenantId === DEFAULT_TENANT) this.latestDefault = brand;
    return { brand, logoFrom, faviconFrom, theme };
  }
}
