/**
 * What a `401` asks for. The BFF answers `401 {"error":"login_required"}`
 * when its session is gone; an API behind the gateway answers a step-up
 * challenge (RFC 9470 §3):
 *
 *   WWW-Authenticate: Bearer error="insufficient_user_authentication",
 *     acr_values="urn:tessera:acr:mfa", max_age=300
 */
export type Challenge =
  | { kind: 'login' }
  | { kind: 'step-up'; acrValues?: string; maxAge?: number }
  | { kind: 'other' };

/** Reads the auth-params of the first Bearer challenge (RFC 9110 §11.2), quoted or token values. */
export function parseBearerChallenge(header: string | null): Record<string, string> | undefined {
  if (!header) return undefined;
  const at = header.search(/(^|,\s*)bearer(\s|$)/i);
  if (at < 0) return undefined;
  const rest = header.slice(at).replace(/^,?\s*bearer\s*/i, '');
  const params: Record<string, string> = {};
  const re = /\s*([A-Za-z0-9_!#$%&'*+.^`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))\s*(?:,|$)/y;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rest)) !== null) {
    const name = m[1]!.toLowerCase();
    if (name in params) break;
    params[name] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
    if (re.lastIndex >= rest.length) break;
  }
  return params;
}

/** Classifies a `401` from the BFF or from an API behind it. Reads a clone: the caller keeps the body. */
export async function readChallenge(res: Response): Promise<Challenge> {
  const bearer = parseBearerChallenge(res.headers.get('www-authenticate'));
  let body: { error?: unknown } | undefined;
  if ((res.headers.get('content-type') ?? '').includes('json')) {
    body = await res.clone().json().catch(() => undefined) as { error?: unknown } | undefined;
  }
  const error = bearer?.error ?? (typeof body?.error === 'string' ? body.error : undefined);
  if (error === 'login_required') return { kind: 'login' };
  if (error === 'insufficient_user_authentication') {
    const maxAge = bearer?.max_age !== undefined && /^\d+$/.test(bearer.max_age) ? Number(bearer.max_age) : undefined;
    return {
      kind: 'step-up',
      ...(bearer?.acr_values ? { acrValues: bearer.acr_values } : {}),
      ...(maxAge !== undefined ? { maxAge } : {}),
    };
  }
  return { kind: 'other' };
}
