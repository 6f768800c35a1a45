import type { KoaContextWithOIDC } from 'oidc-provider';
import type { EngineLanguage, EnginePages } from './provider.js';
import { pageCsp } from '../http/security.js';

/**
 * The device authorization grant (RFC 8628), docs/protocol.md#device-authorization.
 * The engine runs the protocol (device and user codes, polling, slow_down);
 * Tessera renders its three pages at `/device` and slows down guessing:
 *
 * 1. enter the user code (`/device`, or `/device?user_code=…` from
 *    `verification_uri_complete`);
 * 2. confirm it names the device in front of you (the client's name and the
 *    code, RFC 8628 §5.4: a person tricked into entering someone else's code
 *    sees whose sign-in it is);
 * 3. the engine then starts an interaction: the hosted sign-in pages, with
 *    MFA and consent as for any sign-in; and finally "done".
 *
 * User codes are 8 characters from BCDFGHJKLMNPQRSTVWXZ (20^8 ≈ 2.6·10^10),
 * live 10 minutes, and failed entries are limited per client IP
 * (`deviceCodeThrottle`), so guessing a live code is hopeless (§5.1).
 */

/** Wrong user codes an address may enter per minute before the page refuses it for the rest of that minute. */
export const DEVICE_CODE_FAILURES_PER_MINUTE = 10;

/** Its own key space in the shared counters (the sign-in throttle counts by bare address). */
const throttleKey = (ip: string) => `device:${ip}`;

type Lang = (ctx: KoaContextWithOIDC) => EngineLanguage;
type Throttle = { isBlocked(key: string): boolean; recordFailure(key: string): void };

/** The CSRF token the engine put in its form (it is bound to the engine's session cookie). */
const xsrfOf = (form: string): string => /name="xsrf" value="([^"]*)"/.exec(form)?.[1] ?? '';
const actionOf = (form: string, fallback: string): string => /action="([^"]*)"/.exec(form)?.[1] ?? fallback;

/** Errors the engine hands the input page when the code was wrong, used, expired or missing. */
const WRONG_CODE = new Set(['NoCodeError', 'NotFoundError', 'ExpiredError', 'AlreadyUsedError']);

/**
 * The engine renders these pages, so Fastify's page helpers do not set their
 * headers: the same strict CSP as every hosted page (no script, styles from
 * our origin, forms only to ourselves: the code and confirmation forms post
 * to /device, which redirects to the hosted sign-in on our origin).
 */
function html(ctx: KoaContextWithOIDC, body: string): void {
  ctx.type = 'html';
  ctx.set('content-security-policy', pageCsp());
  ctx.body = body;
}

export function deviceFlowFeature(pages: EnginePages, throttle: Throttle | undefined, lang: Lang) {
  return {
    enabled: true,
    charset: 'base-20' as const,
    mask: '****-****',
    async userCodeInputSource(ctx: KoaContextWithOIDC, form: string, _out?: unknown, err?: Error & { userCode?: string }) {
      const wrong = err !== undefined && (err.userCode !== undefined || WRONG_CODE.has(err.name));
      // A wrong code posted counts against the address; following verification_uri_complete (GET) does too.
      if (wrong) throttle?.recordFailure(throttleKey(ctx.ip));
      html(ctx, pages.deviceInput(lang(ctx), {
        action: actionOf(form, '/device'), xsrf: xsrfOf(form), code: err?.userCode,
        ...(err ? { error: err.name === 'AbortedError' ? 'aborted' as const : 'invalid' as const } : {}),
      }));
    },
    async userCodeConfirmSource(ctx: KoaContextWithOIDC, form: string, client: { clientName?: string; clientId: string }, _deviceInfo: unknown, userCode: string) {
      html(ctx, pages.deviceConfirm(lang(ctx), { action: actionOf(form, '/device'), xsrf: xsrfOf(form), userCode, clientName: client.clientName ?? client.clientId }));
    },
    async successSource(ctx: KoaContextWithOIDC) {
      html(ctx, pages.deviceDone(lang(ctx), ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId ?? ''));
    },
  };
}

/**
 * Engine middleware: an address with too many wrong user codes in the last
 * minute gets the input page with "too many attempts" (429) for every POST to
 * the page, before the engine looks the code up.
 */
export function throttleDeviceCodeEntry(ctx: KoaContextWithOIDC, next: () => Promise<unknown>, throttle: Throttle, path: string, page: (ctx: KoaContextWithOIDC) => string): Promise<unknown> | undefined {
  if (ctx.path === path && (ctx.method === 'POST' || ctx.query.user_code !== undefined) && throttle.isBlocked(throttleKey(ctx.ip))) {
    ctx.status = 429;
    ctx.set('retry-after', '60');
    ctx.set('cache-control', 'no-store');
    html(ctx, page(ctx));
    return undefined;
  }
  return next();
}

/**
 * A POST to the code page without an engine session (no cookie, an expired
 * one, a forged form) makes the engine touch a session it never saved and
 * then fail to save it ("persist can only be called on previously persisted
 * Sessions": a 500 after the page was rendered). Such a post can only be
 * answered by a fresh form, so it is sent back to the page (303), which sets
 * the session and its CSRF token. Any other error passes on unchanged.
 */
export function restartDeviceFormWithoutSession(ctx: { path: string; method: string; status: number; body: unknown; redirect(url: string): void }, next: () => Promise<unknown>, path: string): Promise<unknown> {
  // Other requests are handed on without an async frame (engine-paths.ts).
  if (ctx.path !== path || ctx.method !== 'POST') return next();
  return restartWithoutSession(ctx, next, path);
}

async function restartWithoutSession(ctx: { status: number; redirect(url: string): void }, next: () => Promise<unknown>, path: string): Promise<unknown> {
  try {
    return await next();
  } catch (err) {
    if (!(err instanceof TypeError) || !/previously persisted Sessions/.test(err.message)) throw err;
    ctx.status = 303;
    ctx.redirect(path);
    return undefined;
  }
}
