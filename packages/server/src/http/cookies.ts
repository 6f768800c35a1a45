import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Reads one cookie from the request (no dependency: Tessera sets few, simple cookies). */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export interface CookieOptions {
  path: string;
  maxAge: number;
  secure: boolean;
  sameSite: 'Lax' | 'Strict' | 'None';
}

/** Appends a Set-Cookie header; always HttpOnly. `value` must be cookie-safe (base64url + '.'). */
export function setCookie(reply: FastifyReply, name: string, value: string, o: CookieOptions): void {
  const cookie = `${name}=${value}; Path=${o.path}; HttpOnly; SameSite=${o.sameSite}; Max-Age=${o.maxAge}${o.secure ? '; Secure' : ''}`;
  const existing = reply.getHeader('set-cookie');
  const list = Array.isArray(existing) ? existing : existing ? [String(existing)] : [];
  reply.header('set-cookie', [...list, cookie]);
}

/** HMAC-signed cookie values: `payload.signature`, compared in constant time. */
export class CookieSigner {
  constructor(private readonly key: string) {}

  sign(payload: unknown): string {
    const value = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${value}.${this.mac(value)}`;
  }

  /** Returns the payload, or undefined when absent, malformed or tampered with. */
  verify<T>(signed: string | undefined): T | undefined {
    if (!signed) return undefined;
    const i = signed.lastIndexOf('.');
    if (i <= 0) return undefined;
    const value = signed.slice(0, i);
    const a = Buffer.from(this.mac(value));
    const b = Buffer.from(signed.slice(i + 1));
    if (a.length !== b.length || !timingSafeEqual(a, b)) return undefined;
    try {
      return JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as T;
    } catch {
      return undefined;
    }
  }

  private mac(value: string): string {
    return createHmac('sha256', this.key).update(value).digest('base64url');
  }
}
