import type { FastifyReply, FastifyRequest } from 'fastify';
import { negotiateLocale, translator } from '../i18n/index.js';
import type { Locale, Translate } from '../i18n/index.js';
import { pageCsp } from '../http/security.js';
import { CSRF_FIELD } from '../http/csrf.js';
import { TESSERA_BRAND } from '../branding/service.js';
import type { Brand } from '../branding/service.js';

/** What every page template needs: the language and its translator, and the tenant's look. */
export interface PageContext {
  locale: Locale;
  t: Translate;
  /** The tenant's brand (branding/service.ts); Tessera's own look when absent. */
  brand?: Brand;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the branding feature's hook (branding/hook.ts) for page requests. */
    tesseraBrand?: Brand;
  }
}

/**
 * The page language for a request (`ui_locales` when a flow carries it, then
 * Accept-Language), and the brand of the request's tenant, whose page texts
 * replace the catalogue's.
 */
export function pageContext(request: FastifyRequest, uiLocales?: string | null): PageContext {
  const locale = negotiateLocale(uiLocales, request.headers['accept-language']);
  return brandedContext(locale, request.tesseraBrand);
}

/** A context for a language and a brand: the brand's texts for this language win over the catalogue. */
export function brandedContext(locale: Locale, brand: Brand | undefined): PageContext {
  const base = translator(locale);
  const overrides = brand?.texts[locale];
  if (!overrides) return { locale, t: base, brand };
  const t: Translate = (key, params) => {
    const text = overrides[key];
    if (text === undefined) return base(key, params);
    return params ? text.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m)) : text;
  };
  return { locale, t, brand };
}

/** Escapes text for HTML element content and attribute values. */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A whole page. `wide`: tables and lists (a wider card); `account`: the
 * account area (wider still, for its one-line navigation; forms stay narrow).
 */
export function layout(ctx: PageContext, title: string, body: string, opts: { wide?: boolean; account?: boolean } = {}): string {
  const brand = ctx.brand ?? TESSERA_BRAND;
  // Logo, favicon and theme are Tessera's own URLs (/branding/…): the pages' CSP (`'self'`) covers them.
  return `<!doctype html>
<html lang="${ctx.locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${esc(title)} · ${esc(brand.name)}</title>
<link rel="stylesheet" href="/assets/tessera.css">
${brand.stylesheetUrl ? `<link rel="stylesheet" href="${esc(brand.stylesheetUrl)}">\n` : ''}${brand.faviconUrl ? `<link rel="icon" href="${esc(brand.faviconUrl)}">\n` : ''}</head>
<body>
<main${opts.account ? ' class="wide account"' : opts.wide ? ' class="wide"' : ''}>
<p class="brand">${brand.logoUrl ? `<img class="brand-logo" src="${esc(brand.logoUrl)}" alt="">` : ''}<span class="brand-name">${esc(brand.name)}</span></p>
${body}
</main>
<footer>${esc(ctx.t('layout.footer'))}</footer>
</body>
</html>`;
}

export interface FieldOptions {
  name: string;
  label: string;
  type?: 'text' | 'email' | 'password' | 'tel';
  autocomplete?: string;
  value?: string | null;
  /** Shown next to the field, linked with aria-describedby. */
  error?: string;
  hint?: string;
  required?: boolean;
  autofocus?: boolean;
}

/** A labelled input with its error next to it (accessible: aria-invalid + aria-describedby). */
export function field(o: FieldOptions): string {
  const id = `f-${o.name}`;
  const described = [o.hint ? `${id}-hint` : '', o.error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return `<label for="${id}">${esc(o.label)}</label>
  <input id="${id}" name="${esc(o.name)}" type="${o.type ?? 'text'}"${o.autocomplete ? ` autocomplete="${esc(o.autocomplete)}"` : ''}${o.type === 'password' ? '' : ` value="${esc(o.value ?? '')}"`}${o.required ? ' required' : ''}${o.autofocus ? ' autofocus' : ''}${o.error ? ' aria-invalid="true"' : ''}${described ? ` aria-describedby="${described}"` : ''}>
  ${o.hint ? `<p class="hint" id="${id}-hint">${esc(o.hint)}</p>` : ''}${o.error ? `<p class="field-error" id="${id}-error">${esc(o.error)}</p>` : ''}`;
}

export function csrfInput(token: string): string {
  return `<input type="hidden" name="${CSRF_FIELD}" value="${esc(token)}">`;
}

export function alert(message: string | undefined, kind: 'error' | 'info' = 'error'): string {
  if (!message) return '';
  return kind === 'error' ? `<p class="alert" role="alert">${esc(message)}</p>` : `<p class="notice" role="status">${esc(message)}</p>`;
}

/**
 * Sends a page with the strict CSP and no caching (pages may show personal data and form tokens).
 * `opts.scripts`: the page loads a script file from /assets (see pageCsp).
 */
export function sendPage(reply: FastifyReply, html: string, formTargets: string[] = [], opts: { scripts?: boolean } = {}): FastifyReply {
  return reply.type('text/html; charset=utf-8').header('content-security-policy', pageCsp(formTargets, opts))
    .header('cache-control', 'no-store').send(html);
}
