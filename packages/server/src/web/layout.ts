import type { FastifyReply, FastifyRequest } from 'fastify';
import { negotiateLocale, translator } from '../i18n/index.js';
import type { Locale, Translate } from '../i18n/index.js';
import { pageCsp } from '../http/security.js';
import { CSRF_FIELD } from '../http/csrf.js';

/** What every page template needs: the language and its translator. */
export interface PageContext {
  locale: Locale;
  t: Translate;
}

/** The page language for a request: `ui_locales` (when a flow carries it), then Accept-Language. */
export function pageContext(request: FastifyRequest, uiLocales?: string | null): PageContext {
  const locale = negotiateLocale(uiLocales, request.headers['accept-language']);
  return { locale, t: translator(locale) };
}

/** Escapes text for HTML element content and attribute values. */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function layout(ctx: PageContext, title: string, body: string, opts: { wide?: boolean } = {}): string {
  return `<!doctype html>
<html lang="${ctx.locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${esc(title)} · Tessera</title>
<link rel="stylesheet" href="/assets/tessera.css">
</head>
<body>
<main${opts.wide ? ' class="wide"' : ''}>
<p class="brand">TESSERA</p>
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
