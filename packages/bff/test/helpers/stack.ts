import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { createBff } from '../../src/app.js';
import type { BffDeps } from '../../src/app.js';
import { loadBffConfig } from '../../src/config.js';
import type { BffConfig } from '../../src/config.js';
import { MemorySessionStore } from '../../src/store.js';
import { freePort, startTestApp } from '../../../server/test/helpers/app.js';
import type { TestApp } from '../../../server/test/helpers/app.js';
import { UserAgent } from '../../../server/test/helpers/agent.js';
import { signInThrough } from '../../../server/test/helpers/flows.js';
import { startTestApi } from './api.js';
import type { TestApi } from './api.js';

export const API = 'https://api.bff.test';
export const BFF_CLIENT = 'bff';
export const BFF_SECRET = 'bff-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
export const USER = { username: 'alice', password: 'correct horse battery staple' };

export interface StackOptions {
  /** Lifetime of the API's JWT access tokens (seconds). */
  apiTtl?: number;
  /** The BFF client's refresh token lifetime (seconds). */
  refreshTtl?: number;
  /** Register and configure the BFF with an https redirect URI (cookies Secure, `__Host-`). */
  https?: boolean;
  /** The BFF's public host name (the browser test uses `localhost`, a different site from the issuer). */
  host?: string;
  env?: Record<string, string> | ((issuer: string) => Record<string, string>);
  /** Environment of the platform (e.g. TESSERA_OUTBOUND_PRIVATE_HOSTS for back-channel logout). */
  platformEnv?: Record<string, string>;
  /** More metadata for the BFF's client at the platform (`{publicOrigin}` is replaced in strings). */
  client?: (publicOrigin: string) => Record<string, unknown>;
  /** More declarative configuration of the platform (tenants…). */
  platformConfig?: Record<string, unknown>;
  deps?: BffDeps;
  /** Serve more routes on the BFF (the example's pages) before it listens. */
  extend?: (app: FastifyInstance, config: BffConfig) => void | Promise<void>;
}

export interface Stack {
  platform: TestApp;
  api: TestApi;
  bff: FastifyInstance;
  /** Where the BFF listens. */
  bffUrl: string;
  /** Its public origin (differs from `bffUrl` in the https variant, which nothing serves). */
  publicOrigin: string;
  config: BffConfig;
  store: MemorySessionStore;
  bffLogs: string[];
  /** Signs `agent` in through the BFF and the hosted page; returns the callback's response. */
  signIn(agent: UserAgent, returnTo?: string, extraQuery?: string): Promise<Response>;
  close(): Promise<void>;
}

/** The platform (real, on a loopback port), a test API and the BFF between them. */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const port = await freePort();
  const host = opts.host ?? '127.0.0.1';
  const publicOrigin = `${opts.https ? 'https' : 'http'}://${host}:${port}`;
  const platform = await startTestApp({
    ...(opts.platformEnv ? { env: opts.platformEnv } : {}),
    config: {
      ...opts.platformConfig,
      apis: [{ identifier: API, name: 'BFF test API', scopes: ['read', 'write'], access_token_ttl: opts.apiTtl ?? 600 }],
      clients: [{
        client_id: BFF_CLIENT, client_name: 'BFF example', client_secret: BFF_SECRET,
        redirect_uris: [`${publicOrigin}/bff/callback`], post_logout_redirect_uris: [`${publicOrigin}/`],
        grant_types: ['authorization_code', 'refresh_token'], first_party: true, scope: 'openid profile email roles offline_access read write',
        ...(opts.refreshTtl ? { refresh_token_ttl: opts.refreshTtl } : {}),
        ...opts.client?.(publicOrigin),
      }],
      users: [{ ...USER, email: 'alice@example.test', email_verified: true, given_name: 'Alice', family_name: 'Liddell' }],
    },
  });
  const api = await startTestApi(platform.issuer, API);
  const config = loadBffConfig({
    BFF_ISSUER: platform.issuer,
    BFF_CLIENT_ID: BFF_CLIENT,
    BFF_CLIENT_SECRET: BFF_SECRET,
    BFF_REDIRECT_URI: `${publicOrigin}/bff/callback`,
    BFF_POST_LOGOUT_REDIRECT_URI: `${publicOrigin}/`,
    BFF_API_BASE: `${api.url}/v1`,
    BFF_SCOPE: 'openid profile email read write',
    BFF_RESOURCE: API,
    BFF_HOST: '127.0.0.1',
    BFF_PORT: String(port),
    LOG_LEVEL: 'debug',
    ...(typeof opts.env === 'function' ? opts.env(platform.issuer) : opts.env),
  });
  const bffLogs: string[] = [];
  const store = opts.deps?.store instanceof MemorySessionStore ? opts.deps.store : new MemorySessionStore();
  const bff = createBff(config, {
    store,
    logStream: new Writable({
      write(chunk, _enc, cb) {
        bffLogs.push(...String(chunk).split('\n').filter(Boolean));
        cb();
      },
    }),
    ...opts.deps,
  });
  await opts.extend?.(bff, config);
  await bff.listen({ host: '127.0.0.1', port });
  const bffUrl = `http://127.0.0.1:${port}`;

  return {
    platform, api, bff, bffUrl, publicOrigin, config, store, bffLogs,
    async signIn(agent, returnTo = '/home', extra = '') {
      const start = await agent.get(`${bffUrl}/bff/login?returnTo=${encodeURIComponent(returnTo)}${extra}`);
      if (start.status !== 302) throw new Error(`login: ${start.status} ${await start.text()}`);
      const callback = await signInThrough(agent, start.headers.get('location')!, platform.issuer, USER);
      // The https variant's public origin is not served: deliver the callback to where the BFF listens.
      return agent.get(`${bffUrl}${callback.pathname}${callback.search}`);
    },
    async close() {
      await bff.close();
      await store.close();
      await api.close();
      await platform.close();
    },
  };
}

/** A UserAgent that asks for JSON, as the app's scripts do. */
export function scriptAgent(): UserAgent {
  return new UserAgent({ accept: 'application/json' });
}

/** The cookie header value the agent would send for `name` (from a Set-Cookie line). */
export function setCookieLine(res: Response, name: string): string | undefined {
  return res.headers.getSetCookie().find((line) => line.startsWith(`${name}=`));
}

/** Signed-in sessions in a store (its other entries are the back-channel logout index). */
export function sessionCount(store: MemorySessionStore): number {
  return store.keys().filter((k) => k.startsWith('s:')).length;
}
