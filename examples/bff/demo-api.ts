import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';

export interface DemoApi {
  url: string;
  server: Server;
}

/**
 * A stand-in for the gateway and a backend, so the example runs on its own:
 * it verifies the BFF's bearer JWT against the platform's JWKS (iss, aud,
 * exp, typ at+jwt) and answers two routes. With the gateway, point
 * BFF_API_BASE at it instead (docs/bff.md).
 */
export async function startDemoApi(opts: { issuer: string; audience: string; host?: string; port?: number }): Promise<DemoApi> {
  const jwks = createRemoteJWKSet(new URL(`${opts.issuer}/oidc/jwks`));
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      };
      const auth = req.headers.authorization ?? '';
      let claims;
      try {
        ({ payload: claims } = await jwtVerify(auth.replace(/^Bearer /, ''), jwks, { issuer: opts.issuer, audience: opts.audience, typ: 'at+jwt' }));
      } catch {
        return send(401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      }
      const scopes = String(claims.scope ?? '').split(' ');
      if (req.method === 'GET' && req.url === '/hello') {
        return send(200, { message: `Hello, ${claims.sub}`, tenant: claims.tenant, scope: claims.scope, token_expires_at: new Date(claims.exp! * 1000).toISOString() });
      }
      if (req.method === 'POST' && req.url === '/items') {
        if (!scopes.some((s) => s.endsWith(':write') || s === 'write')) return send(403, { error: 'insufficient_scope' });
        return send(201, { created: JSON.parse(Buffer.concat(chunks).toString() || 'null') as unknown, by: claims.sub });
      }
      return send(404, { error: 'not_found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server };
}
