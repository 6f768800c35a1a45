import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { ClientRegistry } from './adapter.js';
import type { SignIn } from './scenarios.js';

/** A Graph API error body, as Facebook shapes it (`error.code` 190: bad token, 100: bad parameter). */
function graphError(res: ServerResponse, status: number, code: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'www-authenticate': `OAuth "Facebook Platform" "${type}" "${message}"` });
  res.end(JSON.stringify({ error: { message, type, code, fbtrace_id: 'mock' } }));
}

export interface MeDeps {
  provider: Provider;
  clients: ClientRegistry;
  signInForGrant(grantId: string | undefined): SignIn | undefined;
  slow(): Promise<void>;
}

/**
 * GET /facebook/me (and /facebook/vNN.N/me): the Graph API profile of the token's user. Like an app
 * with "Require App Secret" switched on, every call must carry
 * `appsecret_proof = hex(HMAC-SHA256(key = app secret, message = access token))`.
 */
export async function handleMe(deps: MeDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    graphError(res, 400, 100, 'GraphMethodException', 'Unsupported request method: use GET');
    return;
  }
  const auth = req.headers.authorization;
  const token = url.searchParams.get('access_token') ?? (auth?.match(/^(?:Bearer|OAuth) (\S+)$/i)?.[1]);
  if (!token) {
    graphError(res, 400, 2500, 'OAuthException', 'An active access token must be used to query information about the current user.');
    return;
  }
  const at = await deps.provider.AccessToken.find(token);
  if (!at || at.isExpired) {
    graphError(res, 400, 190, 'OAuthException', 'Invalid OAuth access token - Cannot parse access token');
    return;
  }
  const secret = deps.clients.get(at.clientId ?? '')?.client_secret;
  const proof = url.searchParams.get('appsecret_proof');
  if (!proof) {
    graphError(res, 400, 100, 'GraphMethodException', 'API calls from the server require an appsecret_proof argument');
    return;
  }
  const expected = Buffer.from(createHmac('sha256', secret ?? '').update(token).digest('hex'));
  const given = Buffer.from(proof.toLowerCase());
  if (!secret || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    graphError(res, 400, 100, 'GraphMethodException', 'Invalid appsecret_proof provided in the API argument');
    return;
  }
  const signIn = deps.signInForGrant(at.grantId);
  if (!signIn) {
    graphError(res, 400, 190, 'OAuthException', 'Error validating access token: the session is no longer valid');
    return;
  }
  if (signIn.scenario === 'slow') await deps.slow();
  const scopes = new Set(String(at.scope ?? '').split(' '));
  const fields = (url.searchParams.get('fields') ?? 'id,name').split(',').map((f) => f.trim()).filter(Boolean);
  const out: Record<string, unknown> = { id: signIn.sub };
  for (const f of fields) {
    if (f === 'email' && !scopes.has('email')) continue; // needs the `email` permission
    if (f === 'picture') out.picture = { data: { height: 50, width: 50, is_silhouette: true, url: `https://example.com/avatars/${signIn.persona}.png` } };
    else if (f in signIn.claims) out[f] = signIn.claims[f];
  }
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : JSON.stringify(out));
}
