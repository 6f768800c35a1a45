import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';
import type { Configuration } from 'oidc-provider';
import { exportJWK, generateKeyPair } from 'jose';
import { GATEWAY_SECRET, WORKER_SECRET, freePort } from './helpers.js';

export const OPAQUE_API = 'https://opaque.example.test';

export interface OpaqueIssuer {
  issuer: string;
  /** Requests the introspection endpoint received. */
  introspections: () => number;
  close(): Promise<void>;
}

/**
 * An RFC 7662 issuer that issues *opaque* access tokens for an API: the same
 * engine Tessera runs (oidc-provider), configured the way a platform would
 * need to be for revocation-sensitive routes (Tessera issues JWTs for every
 * declared API today; docs/gateway.md). Two clients: `worker`
 * (client_credentials) and `gateway` (introspection).
 */
export async function startOpaqueIssuer(): Promise<OpaqueIssuer> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'opaque-es256', alg: 'ES256', use: 'sig' };
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const client = (client_id: string, client_secret: string) => ({
    client_id, client_secret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' as const,
  });
  const configuration: Configuration = {
    clients: [client('worker', WORKER_SECRET), client('gateway', GATEWAY_SECRET)],
    jwks: { keys: [jwk] } as Configuration['jwks'],
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    ttl: { ClientCredentials: 600 },
    extraTokenClaims: async () => ({ tenant: 'acme' }),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async (ctx) => ctx.oidc.client?.clientId === 'gateway' },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? OPAQUE_API,
        useGrantedResource: async () => true,
        async getResourceServerInfo(_ctx, indicator) {
          if (indicator !== OPAQUE_API && indicator !== `${OPAQUE_API}/other`) throw new errors.InvalidTarget();
          return { scope: 'records:read', audience: indicator, accessTokenTTL: 600, accessTokenFormat: 'opaque' };
        },
      },
    },
  };
  const provider = new Provider(issuer, configuration);
  let introspections = 0;
  const callback = provider.callback();
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/token/introspection')) introspections++;
    callback(req, res);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    issuer,
    introspections: () => introspections,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
