/**
 * A refused request, and the HTTP answer for it. Every answer has a JSON
 * body `{error, error_description}` (as the gateway's own answers do) and,
 * where RFC 6750 §3 or RFC 9470 §3 call for one, a `WWW-Authenticate`
 * challenge, so both body-reading and header-reading clients learn what to
 * do: sign in again with a stronger method, ask for a scope, or give up.
 */
export type DenialCode =
  | 'not_from_gateway' | 'no_context'
  | 'insufficient_scope' | 'insufficient_user_authentication'
  | 'forbidden' | 'not_found';

/** What a refusal looks like on the wire; adapters write it as is. */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: { error: string; error_description: string };
}

/** The challenge realm; services may pass their own to `answerFor`. */
export const DEFAULT_REALM = 'tessera';

/** Quoted-string content allowed by RFC 6750 §3 (%x20-21 / %x23-5B / %x5D-7E); anything else is dropped. */
const quote = (v: string) => `"${v.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '')}"`;

export class Denied extends Error {
  constructor(
    readonly code: DenialCode,
    readonly status: 401 | 403 | 404,
    readonly description: string,
    /** RFC 6750 §3 / RFC 9470 §3 challenge parameters (`scope`, `acr_values`, `max_age`). */
    readonly challenge?: { scope?: string; acrValues?: string; maxAge?: number },
    /** The wire error code, when it differs from `code` (the two 401s without context say `unauthorized`). */
    readonly error: string = code,
  ) {
    super(description);
    this.name = 'Denied';
  }

  /** The request did not come through the gateway (its secret is missing or wrong). */
  static notFromGateway(): Denied {
    return new Denied('not_from_gateway', 401, 'Requests must come through the Tessera gateway.', undefined, 'unauthorized');
  }

  /** No usable caller context (a route the gateway serves without a token, or a misconfigured gateway). */
  static noContext(): Denied {
    return new Denied('no_context', 401, 'Requests must come through the Tessera gateway with an access token.', undefined, 'unauthorized');
  }

  /** RFC 6750 §3.1: the token lacks a scope the operation needs; `scope` names what is needed. */
  static insufficientScope(scopes: readonly string[]): Denied {
    return new Denied('insufficient_scope', 403, `This operation needs the scope${scopes.length > 1 ? 's' : ''} ${scopes.join(' ')}.`, { scope: scopes.join(' ') });
  }

  /** RFC 9470 §3: sign in again, at `acrValues`, and/or more recently than `maxAge` seconds. */
  static stepUp(description: string, acrValues: string | undefined, maxAge: number | undefined): Denied {
    return new Denied('insufficient_user_authentication', 401, description, {
      ...(acrValues ? { acrValues } : {}), ...(maxAge !== undefined ? { maxAge } : {}),
    });
  }

  /** The caller is known, and not allowed (a missing role, a machine client where a person is needed). */
  static forbidden(description = 'You may not do this.'): Denied {
    return new Denied('forbidden', 403, description);
  }

  /** Not there, or not the caller's to see: another tenant's data is answered as missing, never as forbidden. */
  static notFound(description = 'Not found.'): Denied {
    return new Denied('not_found', 404, description);
  }
}

/**
 * The answer for a refusal. 401s always carry a challenge (RFC 9110 §11.6.1);
 * 403 `insufficient_scope` does too (RFC 6750 §3.1); plain 403/404 do not.
 */
export function answerFor(denied: Denied, realm = DEFAULT_REALM): Answer {
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    // Answers about credentials must not be cached by anything in between (RFC 6750 §5.3).
    'cache-control': 'no-store',
  };
  const parts = [`realm=${quote(realm)}`];
  if (denied.code === 'insufficient_scope' || denied.code === 'insufficient_user_authentication') {
    parts.push(`error=${quote(denied.code)}`, `error_description=${quote(denied.description)}`);
    const c = denied.challenge ?? {};
    if (c.scope) parts.push(`scope=${quote(c.scope)}`);
    if (c.acrValues) parts.push(`acr_values=${quote(c.acrValues)}`);
    // Quoted as in RFC 9470's own example (§3, figure 2); a token would be valid too.
    if (c.maxAge !== undefined) parts.push(`max_age=${quote(String(c.maxAge))}`);
  }
  if (denied.status === 401 || denied.code === 'insufficient_scope') headers['www-authenticate'] = `Bearer ${parts.join(', ')}`;
  return { status: denied.status, headers, body: { error: denied.error, error_description: denied.description } };
}
