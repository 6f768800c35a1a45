import type { ContextOptions } from './caller.js';

/** What every adapter takes. */
export interface BackendOptions extends ContextOptions {
  /** Requests for which no caller is read (health checks): return true to let them through without one. */
  skip?: (path: string, method: string) => boolean;
  /** The realm in `WWW-Authenticate` challenges (default `tessera`). */
  realm?: string;
  /** Told about every request refused for want of a valid context (not_from_gateway, no_context), e.g. to log it. */
  onRefused?: (reason: 'not_from_gateway' | 'no_context', path: string) => void;
}

/** The path without its query, as the adapters compare it with `skip`. */
export function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}
