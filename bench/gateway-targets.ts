import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { loadGatewaySettings } from '../packages/gateway/src/config.js';
import { createGateway } from '../packages/gateway/src/server.js';
import { API_IDENTIFIER, CLIENT_ID, CLIENT_SECRET } from './targets.js';

/** A server of the gateway benchmark, listening on a loopback port. */
export interface HttpTarget {
  name: string;
  origin: string;
  close(): Promise<void>;
}

export interface UpstreamTarget extends HttpTarget {
  /** The exact body the upstream answers with. */
  body: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface IssuerTarget extends HttpTarget {
  tokenPath: string;
}

/**
 * The Tessera platform that issues the benchmark's tokens, in its own
 * process (`tessera serve`, SQLite under the OS temp directory), with the
 * same API and client as the platform benchmark (targets.ts). Not in this
 * process: the engine uses AsyncLocalStorage, which on Node 20 slows every
 * promise in the process it runs in — the gateway is its own deployable and
 * must be measured without that.
 */
export async function startTesseraProcess(): Promise<IssuerTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-gw-bench-'));
  const config = join(dir, 'tessera.json');
  writeFileSync(config, JSON.stringify({
    apis: [{ identifier: API_IDENTIFIER, name: 'Bench API', scopes: ['read'], signing_alg: 'ES256' }],
    clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'read' }],
  }));
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const bin = fileURLToPath(new URL('../packages/server/bin/tessera.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'serve'], {
    env: {
      ...process.env, PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: origin, TESSERA_DATA_DIR: dir, DATABASE_URL: `sqlite:${join(dir, 'tessera.db')}`,
      TESSERA_SECRET: 'bench-secret-bench-secret-bench-secret', TESSERA_CONFIG: config, LOG_LEVEL: 'info',
      TESSERA_BOOTSTRAP_ADMIN_PASSWORD: randomBytes(12).toString('base64url'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d;
      if (output.includes('Tessera is listening')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`tessera serve exited (${code}): ${output.slice(-500)}`)));
  });
  // Keep draining its output so the pipe never fills.
  child.stdout!.resume();
  child.stderr!.resume();
  return {
    name: 'Tessera (tessera serve)',
    origin,
    tokenPath: '/oidc/token',
    async close() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The trivial upstream, on its own worker thread (see upstream-worker.mjs). */
export async function startUpstream(): Promise<UpstreamTarget> {
  const worker = new Worker(new URL('./upstream-worker.mjs', import.meta.url));
  const { port, body } = await new Promise<{ port: number; body: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    name: 'direct (upstream)',
    origin: `http://127.0.0.1:${port}`,
    body,
    async close() {
      const exited = new Promise((r) => worker.once('exit', r));
      worker.postMessage('close');
      await exited;
    },
  };
}

/** Keep-alive connections to the upstream, the same for the bare proxy and the gateway. */
export const UPSTREAM_CONNECTIONS = 128;

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection', 'host']);

/**
 * The baseline: the least a correct reverse proxy does. Receive, forward
 * with an undici Pool (keep-alive, same size as the gateway's), stream the
 * answer back with undici's `stream` API (as the gateway does). No token
 * check, no routing, no metrics, no logging.
 */
export async function startBareProxy(upstream: string): Promise<HttpTarget> {
  const pool = new Pool(upstream, { connections: UPSTREAM_CONNECTIONS, pipelining: 1 });
  const server: Server = createServer((req, res) => {
    const headers: IncomingHttpHeaders = {};
    for (const name in req.headers) if (!HOP_BY_HOP.has(name)) headers[name] = req.headers[name];
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool.stream({
      path: req.url!, method: req.method as Dispatcher.HttpMethod, headers: headers as Record<string, string>, body: hasBody ? req : null,
    }, ({ statusCode, headers: h }) => {
      for (const name of HOP_BY_HOP) delete h[name];
      res.writeHead(statusCode, h as Record<string, string>);
      return res;
    }, (err) => {
      if (!err) return;
      if (res.headersSent) res.destroy();
      else {
        res.writeHead(502);
        res.end();
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    name: 'bare undici proxy',
    origin: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await pool.close();
    },
  };
}

export interface GatewayTarget extends HttpTarget {
  /** Warning/error log lines the gateway wrote. */
  logs: string[];
}

/**
 * The Tessera gateway, built as `npm run gateway` builds it (loadGatewaySettings
 * + createGateway), with one route to the upstream that requires a valid
 * Tessera JWT for the bench API with scope `read`.
 */
export async function startGatewayTarget(opts: { issuer: string; upstream: string; tokenCache: boolean; name: string; public?: boolean }): Promise<GatewayTarget> {
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const settings = loadGatewaySettings({
    GATEWAY_PORT: '0', GATEWAY_HOST: '127.0.0.1', TESSERA_ISSUER: opts.issuer, LOG_LEVEL: process.env.BENCH_LOG_LEVEL || 'warn',
  }, {
    audience: API_IDENTIFIER,
    token_cache: opts.tokenCache ? { max_age: 30, max_entries: 10_000 } : { max_age: 0, max_entries: 0 },
    upstream: { connections: UPSTREAM_CONNECTIONS, keep_alive_timeout: 30 },
    routes: [opts.public ? { prefix: '/', upstream: opts.upstream, public: true } : { prefix: '/', upstream: opts.upstream, scopes: ['read'] }],
  });
  const gateway = createGateway(settings, { logStream });
  const origin = await gateway.listen();
  await gateway.waitUntilReady(10_000);
  return { name: opts.name, origin, logs, close: () => gateway.close() };
}
