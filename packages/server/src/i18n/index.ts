import { common } from './catalog/common.js';
import { login } from './catalog/login.js';
import { account } from './catalog/account.js';
import { registration } from './catalog/registration.js';
import { recovery } from './catalog/recovery.js';
import { mfa } from './catalog/mfa.js';
import { passkeys } from './catalog/passkeys.js';
import { directories } from './catalog/directories.js';

/**
 * Message catalogues for the hosted pages and the messages Tessera sends.
 * Each feature has its own catalogue file (catalog/*.ts) holding every
 * locale, so features never edit each other's texts; a test checks that every
 * locale has every key.
 */
export const LOCALES = ['en', 'de'] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = 'en';

export type Catalogue = Record<Locale, Record<string, string>>;

const catalogues: Catalogue[] = [common, login, account, registration, recovery, passkeys, mfa, directories];

/** Registers a feature's catalogue (features call this at import time). */
export function registerCatalogue(catalogue: Catalogue): void {
  if (!catalogues.includes(catalogue)) catalogues.push(catalogue);
  merged = undefined;
}

let merged: Record<Locale, Record<string, string>> | undefined;
function messages(): Record<Locale, Record<string, string>> {
  merged ??= Object.fromEntries(LOCALES.map((l) => [l, Object.assign({}, ...catalogues.map((c) => c[l]))])) as Record<Locale, Record<string, string>>;
  return merged;
}

export function allCatalogues(): readonly Catalogue[] {
  return catalogues;
}

export type Translate = (key: string, params?: Record<string, string | number>) => string;

/** A translator for one locale. Missing keys fall back to English, then to the key itself. */
export function translator(locale: Locale): Translate {
  return (key, params) => {
    const text = messages()[locale][key] ?? messages()[DEFAULT_LOCALE][key] ?? key;
    return params ? text.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m)) : text;
  };
}

/**
 * Picks the page language: the OIDC `ui_locales` request parameter first
 * (space-separated, in preference order), then the browser's Accept-Language.
 */
export function negotiateLocale(uiLocales?: string | null, acceptLanguage?: string | null): Locale {
  for (const tag of (uiLocales ?? '').split(/\s+/)) {
    const l = match(tag);
    if (l) return l;
  }
  const ranked = (acceptLanguage ?? '').split(',')
    .map((part) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { tag: tag ?? '', q: q ? Number(q.slice(2)) || 0 : 1 };
    })
    .filter((x) => x.tag && x.q > 0)
    .sort((a, b) => b.q - a.q);
  for (const { tag } of ranked) {
    const l = match(tag);
    if (l) return l;
  }
  return DEFAULT_LOCALE;
}

function match(tag: string): Locale | undefined {
  const primary = tag.toLowerCase().split('-')[0];
  return (LOCALES as readonly string[]).includes(primary ?? '') ? (primary as Locale) : undefined;
}
