import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { createApp } from '../../packages/server/src/app.js';
import type { TesseraApp } from '../../packages/server/src/app.js';
import { loadSettings, parseDeclarative } from '../../packages/server/src/config/load.js';
import { createGateway } from '../../packages/gateway/src/server.js';
import type { Gateway } from '../../packages/gateway/src/server.js';
import { loadGatewaySettings } from '../../packages/gateway/src/config.js';
import { createBff, loadBffConfig } from '../../packages/bff/src/index.js';
import { createBackend } from '../backend/src/server.js';
import { buildSdk } from '../../packages/browser-sdk/scripts/build.mjs';
import { freePort } from './ports.js';

/**
 * The shell demo: Tessera, the example backend (orders and payouts), the
 * gateway in front of it, and the BFF serving a portal shell with two
 * micro-frontends (`orders`, `profile`) that share one browser-SDK session.
 * Everything runs in this process, each part on its own port, as they would
 * run as separate services.
 */

export const ORDERS_API = 'https://orders.shell.example';
export const DEMO_USERS = {
  /** May read orders and pay out (after a second factor). */
  ada: { username: 'ada', password: 'ada-demo-password-1', email: 'ada@shell.example', given_name: 'Ada', family_name: 'Lovelace' },
  /** Signs in, but holds no role: the orders micro-frontend says so. */
  bob: { username: 'bob', password: 'bob-demo-password-1', email: 'bob@shell.example', given_name: 'Bob', family_name: 'Example' },
};
const CLIENT_ID = 'portal';
// A demo secret: the platform and the BFF are configured from the same file here.
const CLIENT_SECRET = 'portal-demo-secret-0123456789-abcdefghij';
const UPSTREAM_SECRET = 'shell-demo-gateway-to-backend-secret';

export interface ShellDemoOptions {
  /** 0 picks free ports (tests). */
  ports?: { platform?: number; bff?: number; gateway?: number; backend?: number };
  /** Host name the browser uses for the shell (a different site from the platform's 127.0.0.1). */
  shellHost?: string;
  dataDir: string;
  /** Use an existing database (e.g. PostgreSQL in tests); SQLite under dataDir otherwise. */
  databaseUrl?: string;
  logStream?: Writable;
  logLevel?: string;
}

export interface ShellDemo {
  platform: TesseraApp;
  issuer: string;
  shellUrl: string;
  gateway: Gateway;
  close(): Promise<void>;
}

/** The platform's declarative configuration for the demo (what tessera.yaml would hold). */
export function demoConfig(shellOrigin: string) {
  return {
    // Second factors only when asked for: the payout step-up is then visible.
    tenants: [{ id: 'default', name: 'Shell demo', policy: { registration: 'open', require_email_verification: false, mfa: { mode: 'off' } } }],
    apis: [{ identifier: ORDERS_API, name: 'Orders API', scopes: ['orders:read', 'payouts:write'], access_token_ttl: 300 }],
    roles: [{ name: 'orders' }, { name: 'payouts' }],
    clients: [{
      client_id: CLIENT_ID, client_name: 'Portal', client_secret: CLIENT_SECRET, first_party: true,
      grant_types: ['authorization_code', 'refresh_token'],
      // Client grants: the API scopes the BFF asks for (BFF_SCOPE) must be listed.
      scope: 'openid profile email roles offline_access orders:read payouts:write',
      redirect_uris: [`${shellOrigin}/bff/callback`], post_logout_redirect_uris: [`${shellOrigin}/`],
      backchannel_logout_uri: `${shellOrigin}/bff/backchannel-logout`, backchannel_logout_session_required: true,
    }],
    users: [
      { ...DEMO_USERS.ada, email_verified: true, roles: ['orders', 'payouts'] },
      { ...DEMO_USERS.bob, email_verified: true },
    ],
  };
}

/** The gateway's routes for the demo (what a gateway.yaml would hold). */
export function gatewayRoutes(backend: string) {
  return {
    audience: ORDERS_API,
    routes: [
      { prefix: '/orders', methods: ['GET', 'HEAD'], upstream: backend, scopes: ['orders:read'], roles: ['orders'] },
      // The gateway answers the step-up itself (RFC 9470), before the backend checks it again.
      { prefix: '/payouts', methods: ['POST'], upstream: backend, scopes: ['payouts:write'], roles: ['payouts'], acr: 'urn:tessera:acr:mfa', max_age: 600 },
      { prefix: '/whoami', upstream: backend },
    ],
  };
}

const PUBLIC = new URL('./public/', import.meta.url);
const CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self'",
  "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

/** The shell's static files and the SDK bundle, with a strict CSP (no inline code). */
async function registerShell(app: FastifyInstance): Promise<void> {
  const sdk = await buildSdk({ write: false });
  const files: Record<string, { body: string | Buffer; type: string }> = {
    '/': { body: readFileSync(new URL('index.html', PUBLIC)), type: 'text/html; charset=utf-8' },
    '/shell.js': { body: readFileSync(new URL('shell.js', PUBLIC)), type: 'text/javascript; charset=utf-8' },
    '/style.css': { body: readFileSync(new URL('style.css', PUBLIC)), type: 'text/css; charset=utf-8' },
    '/mfe/orders.js': { body: readFileSync(new URL('mfe/orders.js', PUBLIC)), type: 'text/javascript; charset=utf-8' },
    '/mfe/profile.js': { body: readFileSync(new URL('mfe/profile.js', PUBLIC)), type: 'text/javascript; charset=utf-8' },
    '/sdk/tessera.js': { body: sdk!, type: 'text/javascript; charset=utf-8' },
  };
  for (const [path, { body, type }] of Object.entries(files)) {
    app.get(path, async (_req, reply) => reply
      .header('content-type', type).header('content-security-policy', CSP).header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'same-origin').header('cache-control', 'no-cache').send(body));
  }
}

export async function startShellDemo(opts: ShellDemoOptions): Promise<ShellDemo> {
  const ports = {
    platform: opts.ports?.platform || await freePort(),
    bff: opts.ports?.bff || await freePort(),
    gateway: opts.ports?.gateway || await freePort(),
    backend: opts.ports?.backend || await freePort(),
  };
  const shellOrigin = `http://${opts.shellHost ?? 'localhost'}:${ports.bff}`;
  const issuer = `http://127.0.0.1:${ports.platform}`;
  mkdirSync(opts.dataDir, { recursive: true });
  const logLevel = opts.logLevel ?? 'warn';

  const settings = loadSettings({
    PORT: String(ports.platform), HOST: '127.0.0.1', TESSERA_ISSUER: issuer, TESSERA_DATA_DIR: opts.dataDir,
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
    // The BFF's back-channel logout receiver is on this machine.
    TESSERA_OUTBOUND_PRIVATE_HOSTS: opts.shellHost ?? 'localhost',
    LOG_LEVEL: logLevel,
  }, { declarative: parseDeclarative(JSON.stringify(demoConfig(shellOrigin)), 'shell demo') });
  const platform = await createApp(settings, opts.logStream ? { logStream: opts.logStream } : {});
  await platform.listen();

  const { app: backendApp } = createBackend({ gatewaySecret: UPSTREAM_SECRET, logLevel, ...(opts.logStream ? { logStream: opts.logStream } : {}) });
  const backend = await backendApp.listen({ port: ports.backend, host: '127.0.0.1' });

  const gateway = createGateway(loadGatewaySettings({
    GATEWAY_PORT: String(ports.gateway), GATEWAY_HOST: '127.0.0.1', TESSERA_ISSUER: issuer,
    GATEWAY_UPSTREAM_SECRET: UPSTREAM_SECRET, LOG_LEVEL: logLevel,
  }, gatewayRoutes(backend)), opts.logStream ? { logStream: opts.logStream } : {});
  const gatewayUrl = await gateway.listen();
  await gateway.waitUntilReady(10_000);

  const bffConfig = loadBffConfig({
    BFF_ISSUER: issuer, BFF_CLIENT_ID: CLIENT_ID, BFF_CLIENT_SECRET: CLIENT_SECRET,
    BFF_REDIRECT_URI: `${shellOrigin}/bff/callback`, BFF_POST_LOGOUT_REDIRECT_URI: `${shellOrigin}/`,
    BFF_API_BASE: gatewayUrl, BFF_RESOURCE: ORDERS_API,
    BFF_SCOPE: 'openid profile email roles orders:read payouts:write',
    BFF_PUBLIC_ROUTES: `register=${issuer}/api/self-service/registration`,
    BFF_HOST: '127.0.0.1', BFF_PORT: String(ports.bff), LOG_LEVEL: logLevel,
  });
  const bff = createBff(bffConfig, opts.logStream ? { logStream: opts.logStream } : {});
  await registerShell(bff);
  await bff.listen({ host: '127.0.0.1', port: ports.bff });

  return {
    platform, issuer, gateway, shellUrl: shellOrigin,
    async close() {
      await bff.close();
      await gateway.close();
      await backendApp.close();
      await platform.close();
    },
  };
}

/** Where the demo keeps its data when run from the command line. */
export const DEFAULT_DATA_DIR = join('data', 'shell-demo');
