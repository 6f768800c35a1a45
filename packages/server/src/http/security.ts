/**
 * Security headers. Pages get a strict CSP (no inline script, styles from
 * our origin only, no framing). `form-action` must also allow where a
 * successful sign-in form ends up (the client's redirect URI), because
 * browsers apply it to the redirects that follow a form submission.
 */
export const BASE_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

/**
 * @param opts.scripts allows script files from our own origin and `fetch` to it
 *   (`script-src 'self'; connect-src 'self'`), still no inline script: only
 *   for pages that load one (the passkey pages load /assets/passkeys.js).
 */
export function pageCsp(formTargets: string[] = [], opts: { scripts?: boolean; images?: string[] } = {}): string {
  const formAction = ["'self'", ...new Set(formTargets)].join(' ');
  return [
    "default-src 'none'",
    ...(opts.scripts ? ["script-src 'self'", "connect-src 'self'"] : []),
    "style-src 'self'",
    // opts.images: origins of images a page shows from elsewhere (a client's logo on the consent page).
    ["img-src 'self' data:", ...new Set(opts.images ?? [])].join(' '),
    `form-action ${formAction}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** The origin of a URL, or undefined when it is not one a CSP source can name. */
export function originOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : `${u.protocol}`;
  } catch {
    return undefined;
  }
}
