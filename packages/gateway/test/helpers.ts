import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { Writable } from 'node:stream';
import * as oidc from 'openid-client';
import { startTestApp } from '../../server/test/helpers/app.js';
import type { TestApp } from '../../server/test/helpers/app.js';
import { UserAgent } from '../../server/test/helpers/agent.js';
import { codeFlow, discover } from '../../server/test/helpers/flows.js';
import type { Credentials, MfaHandler } from '../../server/test/helpers/flows.js';
import { loadGatewaySettings } from '../src/config.js';
import { createGateway } from '../src/server.js';
import type { Gateway } from '../src/server.js';
import { createBackend } from '../../../examples/backend/src/server.js';

export { freePort } from '../../server/test/helpers/app.js';

/** The platform the gateway tests run against: APIs, clients (incl. the gateway's own) and users in two tenants. */
export const RECORDS_API = 'https://records.example.test';
export const OTHER_API = 'https://other.example.test';
export const SHORT_API = 'https://short-lived.example.test';
export const REDIRECT = 'http://127.0.0.1:9/cb';
export const WORKER_SECRET = 'worker-secret-0123456789-abcdefghijklmnop';
export const GATEWAY_SECRET = 'gateway-client-secret-0123456789-abcdefgh';
export const UPSTREAM_SECRET = 'upstream-shared-secret-0123456789';

export const ALICE: Credentials = { username: 'alice', password: 'alice-password-123' };
export const BOB: Credentials = { username: 'bob', password: 'bob-password-1234' };
export const DAVE: Credentials = { username: 'dave', password: 'dave-password-123' };
export const CAROL: Credentials = { username: 'carol', password: 'carol-password-12' };

const spa = (id: string, tenant: string) => ({
  client_id: id, client_name: id, token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT],
  grant_types: ['authorization_code', 'refresh_token'], first_party: true, tenant,
  scope: 'openid profile email offline_access records:read records:write ledger:read',
});
const worker = (id: string, tenant = 'default') => ({
  client_id: id, client_secret: WORKER_SECRET, grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', tenant,
  scope: 'records:read records:write ledger:read',
});

export const platformConfig = {
  tenants: [{ id: 'acme', name: 'Acme Corp' }],
  apis: [
    { identifier: RECORDS_API, name: 'Records API', scopes: ['records:read', 'records:write'], signing_alg: 'ES256', access_token_ttl: 600 },
    { identifier: OTHER_API, name: 'Other API', scopes: ['records:read'], signing_alg: 'RS256', access_token_ttl: 600 },
    { identifier: SHORT_API, name: 'Short-lived API', scopes: ['records:read'], signing_alg: 'ES256', access_token_ttl: 1 },
  ],
  roles: [
    { name: 'editor', tenant: 'default' }, { name: 'admin', tenant: 'default' }, { name: 'editor', tenant: 'acme' },
  ],
  clients: [
    spa('spa', 'default'), spa('spa-acme', 'acme'),
    worker('worker'), worker('worker-2'), worker('acme-worker', 'acme'),
    // The gateway introspects other clients' tokens: an explicit introspector (docs/b2b.md#introspection).
    { client_id: 'gateway', client_secret: GATEWAY_SECRET, grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', resource_server: true },
  ],
  users: [
    { ...ALICE, email: 'alice@example.test', email_verified: true, roles: ['editor'] },
    { ...BOB, email: 'bob@example.test', email_verified: true },
    { ...DAVE, email: 'dave@example.test', email_verified: true, roles: ['admin'] },
    { ...CAROL, email: 'carol@example.test', email_verified: true, tenant: 'acme' },
  ],
};

export function startPlatform(config: unknown = platformConfig): Promise<TestApp> {
  return startTestApp({ config });
}

/** A client_credentials access token (openid-client), for an API (RFC 8707 resource). */
export async function clientToken(issuer: string, clientId: string, resource: string, scope: string, secret = WORKER_SECRET): Promise<string> {
  const config = await discover(issuer, { clientId, clientSecret: secret, auth: 'basic' });
  const tokens = await oidc.clientCredentialsGrant(config, { scope, resource });
  return tokens.access_token;
}

/** A user's access token through the hosted sign-in (code + PKCE, openid-client); `mfa` answers the second-factor page. */
export async function userToken(issuer: string, clientId: string, creds: Credentials, resource: string, scope: string, params: Record<string, string> = {}, mfa?: MfaHandler): Promise<string> {
  const config = await discover(issuer, { clientId, auth: 'none' });
  const { tokens } = await codeFlow(config, new UserAgent(), issuer, creds, { scope: `openid ${scope}`, resource, ...params }, { mfa });
  return tokens.access_token;
}

export interface Echo {
  url: string;
  /** Every request the upstream received, in order. */
  seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }>;
  close(): Promise<void>;
}

/** A trivial upstream that answers with what it received (method, path, headers, body). `/slow` waits 300 ms, `/slow?ms=N` N ms. */
export async function startEcho(): Promise<Echo> {
  const seen: Echo['seen'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(entry);
      const send = () => {
        const body = JSON.stringify(entry);
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'echo', connection: 'keep-alive' });
        res.end(body);
      };
      if (req.url?.startsWith('/slow')) setTimeout(send, Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? 300));
      else send();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

export interface StartedGateway {
  gateway: Gateway;
  url: string;
  logs: string[];
  close(): Promise<void>;
}

/** The gateway in this process, on a loopback port, with a declarative config object. */
export async function startGateway(file: Record<string, unknown>, env: Record<string, string> = {}, opts: { waitReady?: boolean } = {}): Promise<StartedGateway> {
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const settings = loadGatewaySettings({ GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1', LOG_LEVEL: 'debug', ...env }, file);
  const gateway = createGateway(settings, { logStream });
  const url = await gateway.listen();
  if (opts.waitReady === false) await sleep(300);
  else await gateway.waitUntilReady(10_000);
  return { gateway, url, logs, close: () => gateway.close() };
}

export interface StartedBackend {
  url: string;
  logs: string[];
  close(): Promise<void>;
}

export async function startBackend(gatewaySecret?: string): Promise<StartedBackend> {
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const { app } = createBackend({ gatewaySecret, logStream });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, logs, close: () => app.close() };
}

/** A request through the gateway; the answer's parsed JSON (if any) alongside. */
export async function call(base: string, path: string, opts: { token?: string; method?: string; headers?: Record<string, string>; body?: unknown } = {}) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method: opts.method ?? 'GET',
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? JSON.parse(text) as Record<string, unknown> : {};
  } catch {
    json = {};
  }
  return { status: res.status, headers: res.headers, json, text, challenge: res.headers.get('www-authenticate') };
}

/** The parts of a JWT, for crafting bad tokens. */
export function jwtParts(token: string): { header: Record<string, unknown>; payload: Record<string, unknown>; signature: string } {
  const [h, p, s] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>,
    signature: s ?? '',
  };
}

export const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
