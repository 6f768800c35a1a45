import { UserAgent, formAction } from './agent.js';

/** Undoes the page templates' `&#NN;` escaping (layout.ts `esc`). */
export function decodeHtml(s: string): string {
  return s.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c)));
}

/** The hidden inputs of a page (the CSRF token and the context a form carries), decoded. */
export function hiddenInputs(html: string): Record<string, string> {
  // `/>` too: the protocol engine's self-submitting forms close their inputs that way.
  return Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/?>/g)].map((m) => [m[1]!, decodeHtml(m[2]!)]));
}

/**
 * Opens `pagePath` like a browser, then posts the form whose action contains
 * `actionContains` with its hidden inputs (CSRF token included) plus `fields`.
 * Throws if the page is not a 200.
 */
export async function submitForm(ua: UserAgent, issuer: string, pagePath: string, fields: Record<string, string>, actionContains: string): Promise<Response> {
  const page = await ua.get(`${issuer}${pagePath}`);
  const html = await page.text();
  if (page.status !== 200) throw new Error(`GET ${pagePath}: ${page.status}\n${html.slice(0, 500)}`);
  return ua.post(new URL(formAction(html, actionContains), issuer), { ...hiddenInputs(html), ...fields });
}
