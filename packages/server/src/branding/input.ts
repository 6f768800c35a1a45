import { allCatalogues } from '../i18n/index.js';
import { ASSET_PROBLEM_TEXT, MAX_STYLESHEET_BYTES, brandingSettingsSchema, checkImage, decodeDataUri } from './model.js';
import type { BrandingSettings, TenantBranding } from './model.js';

/**
 * A branding change as the admin API and the configuration file give it:
 * settings, and the logo and favicon as base64 `data:` URIs, the stylesheet
 * as CSS text. `null` removes a field (admin API); in the file, the
 * declared branding is the whole branding.
 */
export interface BrandingInput extends Partial<Record<keyof BrandingSettings, unknown>> {
  logo?: string | null;
  favicon?: string | null;
  stylesheet?: string | null;
}

export type BrandingProblems = Record<string, { code: string; message: string }>;

const SETTINGS_KEYS = ['name', 'colors', 'authenticator_issuer', 'texts'] as const;

/** Every message key some catalogue defines (page texts may only replace those). */
function knownKeys(): Set<string> {
  return new Set(allCatalogues().flatMap((c) => Object.values(c).flatMap((m) => Object.keys(m))));
}

/**
 * The branding after `input`: merged into `current` (`merge`: absent keeps,
 * null removes) or replacing it. Returns the problems by field path instead
 * when anything is wrong; nothing is half-applied.
 */
export function applyBrandingInput(tenantId: string, current: TenantBranding | undefined, input: BrandingInput, mode: 'merge' | 'replace',
  opts: { checkTextKeys?: boolean } = {}): { branding: Omit<TenantBranding, 'updatedAt'> } | { problems: BrandingProblems } {
  const problems: BrandingProblems = {};
  const base: BrandingSettings = mode === 'merge' ? { ...current?.settings } : {};
  const candidate: Record<string, unknown> = { ...base };
  for (const key of SETTINGS_KEYS) {
    if (!(key in input)) continue;
    if (input[key] === null) delete candidate[key];
    else candidate[key] = input[key];
  }
  const parsed = brandingSettingsSchema.safeParse(candidate);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.map(String).join('.');
      problems[path || 'branding'] = { code: issue.code === 'unrecognized_keys' ? 'unknown_key' : 'invalid', message: issue.message };
    }
  }
  // (Off while the file is parsed: catalogues of features register as the app loads; apply checks again.)
  const known = opts.checkTextKeys === false ? undefined : knownKeys();
  for (const [locale, entries] of Object.entries(known && parsed.success ? parsed.data.texts ?? {} : {})) {
    for (const key of Object.keys(entries ?? {})) {
      if (!known!.has(key)) problems[`texts.${locale}.${key}`] = { code: 'unknown_key', message: `"${key}" is not a message key of Tessera's pages` };
    }
  }

  const image = (kind: 'logo' | 'favicon') => {
    const given = input[kind];
    if (given === undefined) return mode === 'merge' ? current?.[kind] ?? null : null;
    if (given === null) return null;
    const bytes = typeof given === 'string' ? decodeDataUri(given) : 'invalid_data_uri';
    const checked = bytes === 'invalid_data_uri' ? bytes : checkImage(kind, bytes);
    if (typeof checked === 'string') {
      problems[kind] = { code: checked, message: ASSET_PROBLEM_TEXT[checked](kind) };
      return null;
    }
    return checked;
  };
  const logo = image('logo');
  const favicon = image('favicon');

  let stylesheet = mode === 'merge' ? current?.stylesheet ?? null : null;
  if (input.stylesheet !== undefined) {
    stylesheet = input.stylesheet;
    if (stylesheet !== null && (typeof stylesheet !== 'string' || Buffer.byteLength(stylesheet) > MAX_STYLESHEET_BYTES || stylesheet.includes('\0'))) {
      problems.stylesheet = { code: 'invalid', message: `must be CSS text of at most ${MAX_STYLESHEET_BYTES / 1024} KiB` };
    }
  }
  if (Object.keys(problems).length || !parsed.success) return { problems };
  return { branding: { tenantId, settings: parsed.data, logo, favicon, stylesheet } };
}
