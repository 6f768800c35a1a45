import type Provider from 'oidc-provider';
import type { Logger } from 'pino';

/**
 * Refused protocol requests in the log, with the client and the reason, as
 * Keycloak logs `LOGIN_ERROR clientId=… error=invalid_redirect_uri
 * redirect_uri=…`: the client only sees `invalid_client` or an error page,
 * so the operator needs the log to tell "unknown client" from "redirect URI
 * not registered" (issue 19). Never a secret, code or token: only the
 * client id, redirect URI, grant type and the engine's error and detail.
 */

/** Which request each engine event is about, for the log line. */
const EVENTS: Record<string, string> = {
  'authorization.error': 'authorization request',
  'grant.error': 'token request',
  'introspection.error': 'introspection request',
  'revocation.error': 'revocation request',
  'pushed_authorization_request.error': 'pushed authorization request',
  'end_session.error': 'logout request',
  'end_session_confirm.error': 'logout confirmation',
  'userinfo.error': 'userinfo request',
};

interface EngineError {
  error?: string;
  error_description?: string;
  error_detail?: string;
}

interface EngineContext {
  path?: string;
  req: unknown;
  headers?: Record<string, string | string[] | undefined>;
  oidc?: { client?: { clientId?: string }; params?: Record<string, unknown> };
}

/** The client a request named: the engine's resolved client, the parameter, or the Basic credentials' user part. */
export function requestClientId(ctx: EngineContext): string | undefined {
  const resolved = ctx.oidc?.client?.clientId;
  if (resolved) return resolved;
  const param = ctx.oidc?.params?.client_id;
  if (typeof param === 'string' && param) return param;
  const auth = ctx.headers?.authorization;
  if (typeof auth === 'string' && /^basic /i.test(auth)) {
    try {
      const user = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8').split(':')[0];
      // RFC 6749 §2.3.1: the client id is form-encoded inside Basic credentials.
      return user ? decodeURIComponent(user.replace(/\+/g, ' ')) : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** One sentence an operator can act on. */
export function refusalReason(err: EngineError, clientId: string | undefined, redirectUri: string | undefined): string {
  const client = clientId ? `client "${clientId}"` : 'the client';
  if (err.error === 'invalid_client' && /client not found/.test(err.error_detail ?? '')) return `unknown client "${clientId ?? '(none given)'}"`;
  if (err.error === 'invalid_client') return `${client} failed to authenticate${err.error_detail ? ` (${err.error_detail})` : ''}`;
  if (err.error === 'invalid_redirect_uri') return `redirect_uri "${redirectUri ?? '(none given)'}" is not registered for ${client}`;
  if (err.error === 'invalid_request' && /client_id/.test(err.error_description ?? '') && !clientId) return 'no client_id given';
  const detail = err.error_detail ? ` (${err.error_detail})` : '';
  return `${err.error ?? 'error'}: ${err.error_description ?? ''}${detail} [${client}]`;
}

export function logEngineErrors(provider: Provider, log: Logger): void {
  const emitter = provider as unknown as import('node:events').EventEmitter;
  for (const [event, what] of Object.entries(EVENTS)) {
    emitter.on(event, (ctx: EngineContext, err: EngineError) => {
      const clientId = requestClientId(ctx);
      const params = ctx.oidc?.params ?? {};
      const redirectUri = typeof params.redirect_uri === 'string' ? params.redirect_uri : undefined;
      const grantType = typeof params.grant_type === 'string' ? params.grant_type : undefined;
      log.warn({
        event, error: err.error, detail: err.error_detail, clientId, redirectUri, grantType,
        requestId: (ctx.req as { tesseraRequestId?: string }).tesseraRequestId,
      }, `${what} refused: ${refusalReason(err, clientId, redirectUri)}`);
    });
  }
}
