import { esc } from './layout.js';

/** A fragment of a server-rendered page contributed by a sign-in method or a factor. */
export interface PageSlot {
  /** Escaped HTML (the method escapes what it interpolates). */
  html: string;
  /**
   * Same-origin script URLs the fragment needs (e.g. '/assets/passkeys.js').
   * The page then adds `<script src defer>` tags and `script-src 'self'` to
   * its CSP; pages must still work for other methods without JavaScript.
   */
  scripts?: string[];
  /** Origins a form of the fragment ends up at through redirects (CSP `form-action`, which Chromium applies to redirects). */
  formTargets?: string[];
}

/** Slot HTML and the script tags its fragments need (deduplicated). */
export function renderSlots(slots: (PageSlot | undefined)[]): { html: string; scripts: boolean } {
  const present = slots.filter((s): s is PageSlot => Boolean(s));
  const scripts = [...new Set(present.flatMap((s) => s.scripts ?? []))];
  return {
    html: present.map((s) => s.html).join('\n') + scripts.map((src) => `<script src="${esc(src)}" defer></script>`).join(''),
    scripts: scripts.length > 0,
  };
}
