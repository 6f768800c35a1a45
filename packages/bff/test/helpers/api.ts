import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';

export const STEP_UP_ACR = 'urn:tessera:acr:mfa';

/** What the test API saw, per request. */
export interface ApiRecord {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  token: string | undefined;
  /** The verified JWT claims, or undefined when the token was refused. */
  claims: JWTPayload | undefined;
}

export interface TestApi {
  url: string;
  requests: ApiRecord[];
  /** The distinct access tokens that verified, in order of first use. */
  validTokens(): string[];
  /** Refuse the next `n` requests with `401 invalid_token`, even with a valid token (a token revoked early). */
  refuseNext(n: number): void;
  close(): Promise<void>;
}

/**
 * A stand-in for the API behind the BFF (the gateway in production): verifies
 * the bearer JWT against the platform's JWKS, as any Tessera resource server
 * does (iss, aud, exp, typ at+jwt), and records what it received.
 */
export async function startTestApi(issuer: string, audience: string): Promise<TestApi> {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/oidc/jwks`));
  const requests: ApiRecord[] = [];
  let refuse = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString();
      const auth = req.headers.authorization;
      const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
      let claims: JWTPayload | undefined;
      if (token) {
        try {
          ({ payload: claims } = await jwtVerify(token, jwks, { issuer, audience, typ: 'at+jwt' }));
        } catch {
          claims = undefined;
        }
      }
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body, token, claims });
      // A route that needs the MFA level (RFC 9470 step-up), as a gateway route with `acr` would.
      if (claims && req.url!.startsWith('/v1/payouts') && claims.acr !== STEP_UP_ACR) {
        res.writeHead(401, {
          'www-authenticate': `Bearer error="insufficient_user_authentication", error_description="A second factor is required.", acr_values="${STEP_UP_ACR}"`,
          'content-type': 'application/json',
        });
        res.end(JSON.stringify({ error: 'insufficient_user_authentication' }));
        return;
      }
      if (!claims || refuse > 0) {
        if (claims) refuse--;
        res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"', 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_token' }));
        return;
      }
      // A cookie the BFF must not pass on to the browser.
      res.setHeader('set-cookie', 'api_cookie=1; Path=/');
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json', 'x-api': 'test' });
      res.end(JSON.stringify({ method: req.method, path: req.url, sub: claims.sub, scope: claims.scope, body: body || undefined }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    validTokens: () => [...new Set(requests.filter((r) => r.claims).map((r) => r.token!))],
    refuseNext(n) {
      refuse = n;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
