import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import { RESERVED_PATHS } from './config.js';
import type { GatewaySettings } from './config.js';
import { sendAnswer } from './answers.js';
import { Authenticator } from './authenticate.js';
import { UpstreamPools } from './forward.js';
import { createHandler } from './handler.js';
import { MemoryReplayCache, RedisReplayCache } from './dpop.js';
import { Introspector } from './introspection.js';
import { discover, issuerAgent, IssuerUnavailableError, KeySet } from './issuer.js';
import { GatewayMetrics } from './metrics.js';
import { RateLimiter } from './rate-limit.js';
import { compileRoutes } from './routes.js';

/** The Fastify compilers the gateway never uses (no route declares a Fastify schema). */
function noFastifySchemas(): never {
  throw new Error('Fastify route schemas are not used in the gateway');
}

export interface GatewayDeps {
  /** Extra pino destination (tests capture logs through it). */
  logStream?: NodeJS.WritableStream;
}

export interface Gateway {
  http: FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;
  log: Logger;
  metrics: GatewayMetrics;
  /** True once the issuer's discovery document and keys are loaded. */
  readonly ready: boolean;
  /** Resolves when the issuer is loaded (or rejects after `timeoutMs`). */
  waitUntilReady(timeoutMs?: number): Promise<void>;
  listen(): Promise<string>;
  /** Graceful stop: refuse new requests, finish in-flight ones, then close upstream pools. */
  close(): Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/**
 * Request ids need to be unique, not secret: a random per-process prefix and
 * a counter are (a UUID per request is measurably slower on the hot path).
 */
const ID_PREFIX = randomBytes(6).toString('hex');
let idCounter = 0;
const nextRequestId = () => `${ID_PREFIX}-${++idCounter}`;
/** Paths Fastify answers; every other request goes to the proxy pipeline. */
const OWN_PATHS: ReadonlySet<string> = new Set(RESERVED_PATHS);

/**
 * Composition root of the gateway: configuration → issuer (discovery, keys,
 * introspection) → authenticator → route table → Fastify host. Discovery
 * failing at boot does not stop the gateway: it answers 503 (and /readyz
 * says not ready) while it retries, so it can start before the platform.
 */
export function createGateway(settings: Readonly<GatewaySettings>, deps: GatewayDeps = {}): Gateway {
  const metrics = new GatewayMetrics();
  const log = pino({
    level: settings.logLevel,
    base: { service: 'tessera-gateway' },
    // Tokens never reach a log line; these paths are belt and braces for ad-hoc logging.
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', '*.token', '*.client_secret'], remove: true },
  }, deps.logStream ?? process.stdout);

  const issuerDispatcher: Agent = issuerAgent();
  const timeoutMs = settings.introspection.timeout * 1000;
  let keys: KeySet | undefined;
  let introspector: Introspector | undefined;
  let retry: NodeJS.Timeout | undefined;
  let closed = false;
  const readyWaiters: Array<() => void> = [];

  const authenticator = new Authenticator({
    issuer: settings.issuer,
    algorithms: settings.algorithms,
    clockTolerance: settings.clock_tolerance,
    tokenType: settings.token_type,
    maxTokenBytes: settings.limits.max_token_bytes,
    cache: { maxAgeMs: settings.token_cache.max_age * 1000, maxEntries: settings.token_cache.max_entries },
    getKey: (header, token) => {
      if (!keys) throw new IssuerUnavailableError('the issuer has not been discovered yet');
      return keys.getKey(header, token);
    },
    introspector: () => introspector,
    onIntrospection: (outcome) => metrics.introspections.labels(outcome).inc(),
  });

  /** Discovery then keys; on failure, retried with backoff until it works or the gateway closes. */
  async function loadIssuer(attempt = 0): Promise<void> {
    try {
      const md = await discover(issuerDispatcher, settings.issuer, timeoutMs);
      const set = new KeySet({
        jwksUri: md.jwks_uri,
        dispatcher: issuerDispatcher,
        cooldownMs: settings.jwks.cooldown * 1000,
        maxAgeMs: settings.jwks.max_age * 1000,
        timeoutMs,
        onChange: (kids) => {
          // A key may have been unpublished: tokens it signed must be verified again.
          authenticator.clearCaches();
          log.info({ kids }, 'issuer signing keys loaded');
        },
        onFetch: (reason, ok) => metrics.jwksFetches.labels(reason, ok ? 'ok' : 'error').inc(),
      });
      await set.refresh('initial');
      set.startBackgroundRefresh();
      if (settings.introspectionClient && md.introspection_endpoint) {
        introspector = new Introspector({
          endpoint: md.introspection_endpoint,
          clientId: settings.introspectionClient.id,
          clientSecret: settings.introspectionClient.secret,
          dispatcher: issuerDispatcher,
          cacheTtlMs: settings.introspection.cache_ttl * 1000,
          timeoutMs,
        });
      } else if (settings.routes.some((r) => r.introspect)) {
        log.error('a route has introspect: true but the issuer publishes no introspection_endpoint; those routes answer 503');
      }
      keys = set;
      if (closed) set.stop();
      log.info({ issuer: settings.issuer, jwks_uri: md.jwks_uri }, 'issuer discovered');
      for (const w of readyWaiters.splice(0)) w();
    } catch (err) {
      if (closed) return;
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5));
      log.warn({ err: (err as Error).message, retryInMs: delay }, 'issuer not reachable yet');
      retry = setTimeout(() => void loadIssuer(attempt + 1), delay);
      retry.unref();
    }
  }

  const routes = compileRoutes(settings);
  const pools = new UpstreamPools({
    connections: settings.upstream.connections,
    keepAliveTimeoutMs: settings.upstream.keep_alive_timeout * 1000,
    upstreamSecret: settings.upstreamSecret,
    trustProxy: settings.trustProxy,
    proxyTrust: settings.proxyTrust,
  });
  const limiter = new RateLimiter();
  limiter.startSweeping((key) => routes.routes[Number(key.slice(0, key.indexOf(' ')))]?.config.rate_limit?.per_client_per_minute ?? 1);

  // DPoP proof jtis: shared through Redis by every instance when configured (dpop.ts).
  const replay = settings.redisUrl ? new RedisReplayCache(settings.redisUrl) : new MemoryReplayCache();
  const handle = createHandler({ settings, routes, authenticator, pools, limiter, replay, metrics, log });
  /**
   * The hot path bypasses Fastify: every proxied request goes from Node's
   * HTTP server straight to the gateway's pipeline (handler.ts), which needs
   * no routing tree, request/reply objects, hooks or body parsing — Fastify's
   * per-request work measurably lowered throughput (bench/README.md). Fastify
   * hosts the gateway's own paths (health, readiness, metrics) and the
   * server lifecycle (listen, graceful close, client errors).
   */
  const proxy = (req: IncomingMessage, res: ServerResponse, path: string): void => {
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : nextRequestId();
    if (closed) {
      // Shutting down: refuse new work and ask the client to reconnect elsewhere.
      res.shouldKeepAlive = false;
      sendAnswer(res, { status: 503, error: 'temporarily_unavailable', description: 'The gateway is shutting down.' }, { 'x-request-id': requestId });
      return;
    }
    // No closure is created unless the request has to wait (see handler.ts): under tsx, a
    // named closure per request also costs a defineProperty (esbuild's keepNames).
    try {
      handle(req, res, requestId, path)?.catch((err: unknown) => unexpected(err, res, requestId));
    } catch (err) {
      unexpected(err, res, requestId);
    }
  };

  /** A failure in the pipeline is a bug: answer 500 without details (they go to the log only). */
  function unexpected(err: unknown, res: ServerResponse, requestId: string): void {
    log.error({ err, requestId }, 'unexpected error');
    if (!res.headersSent) sendAnswer(res, { status: 500, error: 'server_error', description: 'Unexpected error.' }, { 'x-request-id': requestId });
    else res.destroy();
  }

  const http = Fastify({
    loggerInstance: log,
    serverFactory: (fastifyHandler) => {
      const server = createServer({ maxHeaderSize: settings.limits.max_header_bytes }, (req, res) => {
        const url = req.url ?? '/';
        const q = url.indexOf('?');
        const path = q === -1 ? url : url.slice(0, q);
        if (OWN_PATHS.has(path)) fastifyHandler(req, res);
        else proxy(req, res, path);
      });
      // Longer than the usual load balancer idle timeout (60 s), so the balancer closes first.
      server.keepAliveTimeout = 65_000;
      return server;
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : nextRequestId();
    },
    // Per-request lines are written by the handler, at debug level (the hot path logs nothing at info).
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // No route here declares a Fastify schema. Tessera's bundle leaves Fastify's Ajv and serializer
    // compilers out (packages/server/scripts/build.mjs), so Fastify must not build its defaults.
    schemaController: { compilersFactory: { buildValidator: noFastifySchemas, buildSerializer: noFastifySchemas } },
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Socket) => {
      // Oversized headers (431) and unparsable requests (400) never reach a handler; answer in the gateway's shape.
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      const error = status === 431 ? 'request_header_fields_too_large' : status === 408 ? 'request_timeout' : 'invalid_request';
      const body = JSON.stringify({ error, error_description: status === 431 ? 'The request headers are too large.' : 'The request could not be parsed.' });
      metrics.request('unmatched', status);
      if (socket.writable) {
        socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\n`
          + `Connection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      }
      socket.destroy();
    },
  });
  http.get('/healthz', async (_req, reply) => {
    metrics.request('gateway', 200);
    return reply.header('cache-control', 'no-store').send({ status: 'ok' });
  });
  http.get('/readyz', async (_req, reply) => {
    const ok = Boolean(keys?.loaded) && !closed;
    metrics.request('gateway', ok ? 200 : 503);
    return reply.code(ok ? 200 : 503).header('cache-control', 'no-store').send({ status: ok ? 'ready' : 'not ready', issuer: keys?.loaded ? 'loaded' : 'not loaded' });
  });
  http.get('/metrics', async (_req, reply) => {
    metrics.tokenCacheSize.set(authenticator.cachedTokens);
    metrics.request('gateway', 200);
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  return {
    http,
    log,
    metrics,
    get ready() {
      return Boolean(keys?.loaded);
    },
    waitUntilReady(waitMs = 10_000) {
      if (keys?.loaded) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`issuer ${settings.issuer} not loaded after ${waitMs} ms`)), waitMs);
        readyWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    },
    async listen() {
      void loadIssuer();
      return http.listen({ port: settings.port, host: settings.host });
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      keys?.stop();
      limiter.stop();
      // In-flight requests finish; their keep-alive connections are closed as soon as they
      // go idle (Node closes only the connections idle at the moment close() is called).
      const sweep = setInterval(() => http.server.closeIdleConnections(), 50);
      try {
        await http.close();
      } finally {
        clearInterval(sweep);
      }
      await pools.close();
      await replay.close();
      await issuerDispatcher.close().catch(() => undefined);
    },
  };
}
