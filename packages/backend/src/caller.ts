import { createHash, timingSafeEqual } from 'node:crypto';
import { Denied } from './denied.js';

/**
 * The caller of a service behind the Tessera gateway, read from the context
 * headers the gateway adds after it validated the access token
 * (docs/gateway.md#headers). The service never sees the token: it trusts
 * these headers, which is only sound when nobody but the gateway can reach
 * it. The gateway's shared secret (`x-tessera-gateway-secret`,
 * GATEWAY_UPSTREAM_SECRET) makes a request that did not come through the
 * gateway fail even when it does reach the port.
 */
export interface Caller {
  /** `user` for a person's token; `client` for a machine token (client_credentials: `sub` is the client_id, RFC 9068 §2.2). */
  readonly kind: 'user' | 'client';
  /** The token's subject: the user id, or the client_id for machine tokens. */
  readonly sub: string;
  /** The user id for people; undefined for machine clients. */
  readonly userId: string | undefined;
  /** The tenant the token was issued in: every read and write of the service is scoped to it. */
  readonly tenant: string;
  /** The OAuth client the token was issued to. */
  readonly clientId: string;
  /** Granted scopes. */
  readonly scopes: ReadonlySet<string>;
  /** The user's roles in their tenant (none for machine clients). */
  readonly roles: readonly string[];
  /** How the user signed in (`urn:tessera:acr:pwd`, `urn:tessera:acr:mfa`); undefined for machine tokens. */
  readonly acr: string | undefined;
  /** When the user signed in (epoch seconds), when the token says. */
  readonly authTime: number | undefined;
  /** The gateway's request id (`x-request-id`), for logs and audit lines. */
  readonly requestId: string | undefined;
  /**
   * Who acts for the subject (`x-tessera-actor`): the client_id of the service
   * that obtained this token by token exchange (RFC 8693 §4.1 `act.sub`).
   * `sub` is who the call is for; the actor is who makes it. Undefined for
   * tokens the subject's own client obtained.
   */
  readonly actor: string | undefined;
}

/** Headers as Node (and every framework built on it) presents them: lower-case names. */
export type HeaderBag = Record<string, string | string[] | undefined>;

export interface ContextOptions {
  /**
   * The secret the gateway sends in `x-tessera-gateway-secret`
   * (GATEWAY_UPSTREAM_SECRET). A list accepts any of several, for rotation.
   * `null` says, explicitly, that the service accepts context headers
   * without it: only for development, on a port nobody else can reach.
   */
  gatewaySecret: string | readonly string[] | null;
}

/** A header value that may travel from the gateway: visible ASCII, no spaces (as the gateway checks it). */
const TOKEN = /^[\x21-\x7E]{1,512}$/;
/** Space-separated tokens (scopes, roles); empty allowed. */
const TOKEN_LIST = /^(?:[\x21-\x7E]+(?: [\x21-\x7E]+)*)?$/;
const LIST_MAX = 4096;

/** Constant-time comparison: digests first, so neither the content nor the length leaks through timing. */
function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());
}

/** One header's single value; a repeated context header is refused (the gateway sends each once). */
function single(headers: HeaderBag, name: string): string | undefined | null {
  const v = headers[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : null;
}

/**
 * The caller from the gateway's context headers.
 * @throws Denied 401 `not_from_gateway` (secret missing or wrong) or
 * `no_context` (a required header missing, repeated or malformed: the
 * gateway always sends sub, tenant and client for protected routes).
 */
export function readCaller(headers: HeaderBag, options: ContextOptions): Caller {
  const { gatewaySecret } = options;
  if (gatewaySecret !== null) {
    const given = single(headers, 'x-tessera-gateway-secret');
    const secrets = typeof gatewaySecret === 'string' ? [gatewaySecret] : gatewaySecret;
    if (!secrets.length) throw new TypeError('gatewaySecret: give at least one secret, or null for none');
    // Every candidate is compared (no early exit), so timing does not say which one matched.
    let ok = false;
    for (const s of secrets) ok = (typeof given === 'string' && sameSecret(given, s)) || ok;
    if (!ok) throw Denied.notFromGateway();
  }
  const sub = single(headers, 'x-tessera-sub');
  const tenant = single(headers, 'x-tessera-tenant');
  const clientId = single(headers, 'x-tessera-client');
  const scope = single(headers, 'x-tessera-scope') ?? '';
  const roles = single(headers, 'x-tessera-roles') ?? '';
  const acr = single(headers, 'x-tessera-acr');
  const authTime = single(headers, 'x-tessera-auth-time');
  const requestId = single(headers, 'x-request-id');
  const actor = single(headers, 'x-tessera-actor');
  if (typeof sub !== 'string' || !TOKEN.test(sub) || typeof tenant !== 'string' || !TOKEN.test(tenant)
    || typeof clientId !== 'string' || !TOKEN.test(clientId)) throw Denied.noContext();
  if (scope === null || roles === null || scope.length > LIST_MAX || roles.length > LIST_MAX || !TOKEN_LIST.test(scope) || !TOKEN_LIST.test(roles)) {
    throw Denied.noContext();
  }
  if (acr === null || (acr !== undefined && !TOKEN.test(acr))) throw Denied.noContext();
  if (authTime === null || (authTime !== undefined && !/^\d{1,12}$/.test(authTime))) throw Denied.noContext();
  // A delegated call must not pass as the user's own: a malformed or repeated actor is refused, not ignored.
  if (actor === null || (actor !== undefined && !TOKEN.test(actor))) throw Denied.noContext();
  const words = (s: string) => s.split(' ').filter(Boolean);
  // RFC 9068 §2.2: a client_credentials token's subject is the client itself (admin/access.ts uses the same rule).
  const kind = sub === clientId ? 'client' : 'user';
  return Object.freeze({
    kind,
    sub,
    userId: kind === 'user' ? sub : undefined,
    tenant,
    clientId,
    scopes: new Set(words(scope)),
    roles: Object.freeze(words(roles)),
    acr,
    authTime: authTime === undefined ? undefined : Number(authTime),
    requestId: typeof requestId === 'string' && requestId.length <= 128 ? requestId : undefined,
    actor,
  });
}

/** The caller as plain JSON (scopes as a sorted list), for answers such as a "who am I" route. */
export function callerJson(caller: Caller): Record<string, unknown> {
  return { ...caller, scopes: [...caller.scopes].sort() };
}
