import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CookieSigner, readCookie, setCookie } from './cookies.js';

/** Browsers keep a cookie at most 400 days (RFC 6265bis); it is renewed at every successful sign-in. */
const MAX_AGE_SECONDS = 400 * 86_400;
const STATE = Symbol('tessera.device');

interface DeviceState { cookies: DeviceCookies; id?: string }

/**
 * The device cookie: a random id, signed, set at a successful sign-in. It
 * authenticates nothing (the password is still needed); it only tells the
 * lockout that this browser signed in to an account before, so failures from
 * elsewhere do not lock the owner out of it, and it keeps the per-IP
 * throttle of failures apart from others behind the same address
 * (docs/security.md#lockout-and-throttling).
 */
export class DeviceCookies {
  private readonly signer: CookieSigner;
  readonly name: string;

  constructor(key: string, private readonly secure: boolean) {
    this.signer = new CookieSigner(`${key}:device`);
    // __Host-: only this origin, path /, Secure (cannot be planted from a sibling subdomain).
    this.name = secure ? '__Host-tessera_device' : 'tessera_device';
  }

  /** Verifies the request's cookie once per request (every route may ask for it). */
  install(app: FastifyInstance): void {
    app.addHook('onRequest', async (request) => {
      const payload = this.signer.verify<{ d?: unknown }>(readCookie(request, this.name));
      const id = typeof payload?.d === 'string' && /^[\w-]{22}$/.test(payload.d) ? payload.d : undefined;
      (request as unknown as Record<symbol, DeviceState>)[STATE] = { cookies: this, id };
    });
  }

  issue(reply: FastifyReply, id: string): void {
    setCookie(reply, this.name, this.signer.sign({ d: id }), { path: '/', maxAge: MAX_AGE_SECONDS, secure: this.secure, sameSite: 'Lax' });
  }
}

function state(request: FastifyRequest): DeviceState | undefined {
  return (request as unknown as Record<symbol, DeviceState | undefined>)[STATE];
}

/** The id of the request's valid device cookie, if it has one. */
export function deviceOf(request: FastifyRequest): string | undefined {
  return state(request)?.id;
}

/**
 * The device id a sign-in attempt is made with: the cookie's, or a new one
 * that becomes the browser's (`issueDevice`) if the attempt succeeds, so the
 * sign-in records it as a known source of the account.
 */
export function attemptDevice(request: FastifyRequest): string {
  return deviceOf(request) ?? randomBytes(16).toString('base64url');
}

/** After a successful sign-in: sets (or renews) the browser's device cookie. */
export function issueDevice(request: FastifyRequest, reply: FastifyReply, id: string): void {
  state(request)?.cookies.issue(reply, id);
}

/** The key the per-IP failure throttle counts a browser request under: its device when it has one, else its address. */
export function throttleKey(request: FastifyRequest): string {
  const id = deviceOf(request);
  return id ? `device:${id}` : request.ip;
}
