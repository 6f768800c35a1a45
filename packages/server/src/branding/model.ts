import { z } from 'zod';

/**
 * A tenant's branding, as stored and as the configuration file and the
 * admin API declare it. Every field is optional: what a tenant leaves out
 * comes from the `default` tenant's branding (the product's), then from
 * Tessera's own look (branding/service.ts).
 */

const color = z.string().regex(/^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/, 'must be a hex colour such as #3b5bdb');

/** Catalogue keys (`login.title`) → text, per page language. Plain text: it is escaped like every message. */
const texts = z.partialRecord(
  z.enum(['en', 'de'], 'must be a page language: en or de'),
  z.record(z.string().regex(/^[a-z0-9_]+(\.[a-z0-9_]+)+$/, 'must be a message key such as login.title'), z.string().min(1).max(1000, 'must be at most 1000 characters')),
);

export const brandingSettingsSchema = z.strictObject({
  /** Shown in the page header, the window title and texts that name the tenant ("Join {tenant}."). */
  name: z.string().trim().min(1, 'must not be empty').max(80, 'must be at most 80 characters').optional(),
  colors: z.strictObject({
    /** Buttons, links, focus rings. */
    primary: color.optional(),
    /** The page background. */
    background: color.optional(),
    /** Body text. */
    text: color.optional(),
  }).optional(),
  /** The issuer name authenticator apps show next to the account (otpauth URI `issuer`). */
  authenticator_issuer: z.string().trim().min(1).max(64, 'must be at most 64 characters')
    .refine((v) => !v.includes(':'), 'must not contain ":" (authenticator apps split the label at it)').optional(),
  texts: texts.optional(),
});

export type BrandingSettings = z.infer<typeof brandingSettingsSchema>;

/** A stored image: its media type and bytes. */
export interface BrandImage {
  type: string;
  data: Buffer;
}

export interface TenantBranding {
  tenantId: string;
  settings: BrandingSettings;
  logo: BrandImage | null;
  favicon: BrandImage | null;
  stylesheet: string | null;
  updatedAt: number;
}

export const LOGO_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/svg+xml', 'image/gif'] as const;
export const FAVICON_TYPES = ['image/png', 'image/x-icon', 'image/vnd.microsoft.icon', 'image/svg+xml', 'image/gif'] as const;
export const MAX_LOGO_BYTES = 256 * 1024;
export const MAX_FAVICON_BYTES = 64 * 1024;
export const MAX_STYLESHEET_BYTES = 64 * 1024;

/**
 * The media type the bytes really have (magic numbers; SVG by its root
 * element), so a file's name or a data URI's claim cannot make Tessera serve
 * HTML as an image. Undefined when it is none of the accepted kinds.
 */
export function sniffImage(data: Buffer): string | undefined {
  if (data.length >= 8 && data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'image/jpeg';
  if (data.length >= 12 && data.subarray(0, 4).toString('latin1') === 'RIFF' && data.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  if (data.length >= 6 && /^GIF8[79]a$/.test(data.subarray(0, 6).toString('latin1'))) return 'image/gif';
  if (data.length >= 4 && data[0] === 0 && data[1] === 0 && data[2] === 1 && data[3] === 0) return 'image/x-icon';
  const head = data.subarray(0, 1024).toString('utf8').replace(/^\uFEFF/, '').trimStart();
  if (/^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*(<!DOCTYPE svg[^>]*>\s*)?<svg[\s>]/i.test(head)) return 'image/svg+xml';
  return undefined;
}

export type AssetProblem = 'not_an_image' | 'unsupported_type' | 'too_large' | 'invalid_data_uri';

/**
 * Checks image bytes for a logo or favicon. Returns the problem, or the
 * image with its sniffed type.
 */
export function checkImage(kind: 'logo' | 'favicon', data: Buffer): BrandImage | AssetProblem {
  const max = kind === 'logo' ? MAX_LOGO_BYTES : MAX_FAVICON_BYTES;
  if (data.length > max) return 'too_large';
  const type = sniffImage(data);
  if (!type) return 'not_an_image';
  const allowed: readonly string[] = kind === 'logo' ? LOGO_TYPES : FAVICON_TYPES;
  if (!allowed.includes(type)) return 'unsupported_type';
  return { type, data };
}

/** `data:image/png;base64,…` → bytes (the declared type is ignored: checkImage sniffs). */
export function decodeDataUri(uri: string): Buffer | 'invalid_data_uri' {
  const m = /^data:[\w.+/-]*(;[\w=-]+)*;base64,([A-Za-z0-9+/=\s]*)$/.exec(uri);
  if (!m) return 'invalid_data_uri';
  return Buffer.from(m[2]!.replace(/\s/g, ''), 'base64');
}

export const ASSET_PROBLEM_TEXT: Record<AssetProblem, (kind: string) => string> = {
  not_an_image: (kind) => `is not an image (${kind === 'logo' ? 'PNG, JPEG, WebP, GIF or SVG' : 'PNG, ICO, GIF or SVG'})`,
  unsupported_type: (kind) => `is not an accepted type (${kind === 'logo' ? 'PNG, JPEG, WebP, GIF or SVG' : 'PNG, ICO, GIF or SVG'})`,
  too_large: (kind) => `is too large (at most ${(kind === 'logo' ? MAX_LOGO_BYTES : MAX_FAVICON_BYTES) / 1024} KiB)`,
  invalid_data_uri: () => 'must be a base64 data: URI such as data:image/png;base64,iVBORw0…',
};
