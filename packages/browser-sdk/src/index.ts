/**
 * Tessera's browser SDK, for a shell and its micro-frontends behind the
 * Tessera BFF (docs/browser-sdk.md). It never sees a token: the BFF keeps them.
 *
 *   import { getTessera } from '@tessera/browser-sdk';
 *   const tessera = getTessera();
 *   const me = await tessera.whenAuthenticated({ signIn: true });
 *   const res = await tessera.fetch('/api/orders', { method: 'POST', body: '{}' });
 */
import { TesseraSession } from './session.js';
import type { TesseraOptions } from './session.js';

export { TesseraSession } from './session.js';
export type { LoginOptions, TesseraFetchInit, TesseraOptions } from './session.js';
export type { SessionState, SessionStatus } from './state.js';
export { parseBearerChallenge } from './challenge.js';

const GLOBAL_KEY = Symbol.for('tessera.browser-sdk');

/**
 * The page's one session object. Micro-frontends bundled separately (each
 * with its own copy of this module) still share it: it lives on `globalThis`
 * under a registered symbol. `options` apply to the first call only.
 */
export function getTessera(options?: TesseraOptions): TesseraSession {
  const holder = globalThis as unknown as Record<symbol, TesseraSession | undefined>;
  return (holder[GLOBAL_KEY] ??= new TesseraSession(options));
}
