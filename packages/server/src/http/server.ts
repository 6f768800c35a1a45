import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController } from 'fastify';
import proxyAddr from '@fastify/proxy-addr';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import type { Metrics } from './metrics.js';
import { AppError, clientErrorHandler, frameworkErrorHandler, installErrorHandling } from './errors.js';
import type { HtmlErrorRenderer } from './errors.js';
import { BASE_HEADERS } from './security.js';
import { installUtf8Checks } from './utf8.js';
import { withoutSecretFields } from './log-secrets.js';
import { BatchedLogDestination } from './log-destination.js';
import type { SiteCheck } from './origin.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Which origins may post forms and call page-only JSON endpoints (http/origin.ts). */
    tesseraSites: SiteCheck;
    /** Every request's bookkeeping, for requests served outside Fastify's routing (http/engine.ts). */
    tesseraRequests: RequestBookkeeping;
  }
}

/** The logger of a request and what its line shows. */
export interface RequestLine { log: { info(obj: object, msg: string): void }; req: object }

/**
 * What every response gets, whether Fastify routes the request or the engine's
 * fast path (http/engine.ts) serves it: the request id and base headers at
 * once, the metrics and the one log line when it finishes.
 */
export interface RequestBookkeeping {
  /** The request's id: the client's `X-Request-Id` when it is URL-safe, else a new one. */
  id(req: IncomingMessage): string;
  /** The client's address, believing `trustProxy` proxies as Fastify's `request.ip` does. */
  ip(req: IncomingMessage): string | undefined;
  /**
   * Sets the id and base headers on the response and, when it finishes, counts it and writes the
   * request's log line. `route`: the metrics label; `log`: the request's logger and what its line shows.
   */
  observe(res: ServerResponse, id: string, method: string, route: () => string, line: () => RequestLine): void;
}

export interface HttpOptions {
  logLevel: string;
  /** Proxies in front to believe (0: none): X-Forwarded-For is read that many hops from the right, never further. */
  trustProxy: number;
  /** The issuer's origin and TESSERA_FORM_ORIGINS: compared with `Origin` on form POSTs. */
  sites: SiteCheck;
  metrics: Metrics;
  renderHtmlError: HtmlErrorRenderer;
  /** Extra pino destination (tests capture logs through it). */
  logStream?: NodeJS.WritableStream;
}

/** The Fastify compilers Tessera never uses: a route declaring a Fastify `schema` is a programming error. */
function noFastifySchemas(): never {
  throw new Error('Fastify route schemas are not used in Tessera: validate with a zod schema in the handler');
}

/** Only URL-safe request ids are accepted from clients; anything else gets a fresh one. */
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * The Fastify host: request ids, JSON logs without secrets, security headers,
 * metrics, form bodies and the single error handler.
 */
export function createHttpServer(opts: HttpOptions): FastifyInstance {
  const onFrameworkError = frameworkErrorHandler(opts.renderHtmlError);
  // Standard output, with lines gathered while serving (log-destination.ts); tests pass their own stream.
  const stdoutLog = opts.logStream ? undefined : new BatchedLogDestination();
  const trusted = opts.trustProxy > 0 ? (_address: string, hop: number) => hop < opts.trustProxy : undefined;
  const app = Fastify({
    logger: {
      level: opts.logLevel,
      stream: opts.logStream ?? stdoutLog,
      // Never log query strings, bodies, cookies or authorization headers: they carry codes and tokens.
      serializers: {
        // Routes with `config.logRoute` (paths naming people, e.g. by email) log their pattern instead of the path.
        req: (req: FastifyRequest) => ({
          method: req.method, remoteAddress: req.ip,
          path: (req.routeOptions?.config as { logRoute?: boolean } | undefined)?.logRoute ? req.routeOptions.url : pathOf(req.url),
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      // Fields named password, client_secret or token are dropped from every line (http/log-secrets.ts);
      // not with pino's wildcard `redact`, which re-serialized every line and cost most of the request line.
      formatters: { log: withoutSecretFields },
    },
    genReqId: requestId,
    // Per-request lines are written by the finish listener below (it also sees engine routes).
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    // A number of hops, not `true`: `true` would believe the leftmost entry, which the client writes itself.
    // proxy-addr asks per hop from the socket inwards: the first `trustProxy` hops are proxies.
    trustProxy: trusted ?? false,
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 200 },
    // Requests refused before routing (bad URL, oversized headers) answer in Tessera's error shapes too.
    frameworkErrors: (err, request, reply) => {
      reply.headers({ ...BASE_HEADERS, 'x-request-id': request.id });
      return onFrameworkError(err, request, reply);
    },
    clientErrorHandler,
    // Tessera validates with zod at each boundary, never with Fastify route schemas. Without these,
    // Fastify would build an Ajv instance and a serializer compiler at start for nothing, and the
    // bundle leaves both out (~410 KB, scripts/build.mjs, docs/performance.md); a route that
    // declares a Fastify schema fails loudly at start instead.
    schemaController: { compilersFactory: { buildValidator: noFastifySchemas, buildSerializer: noFastifySchemas } },
  });

  if (stdoutLog) {
    app.addHook('onListen', (done) => {
      stdoutLog.batching(true);
      done();
    });
    app.addHook('onClose', (_instance, done) => {
      stdoutLog.batching(false);
      done();
    });
  }

  app.register(formbody, { bodyLimit: 64 * 1024 });
  // Invalid UTF-8 in query strings and bodies: 400 invalid_encoding, never U+FFFD stored (http/utf8.ts).
  installUtf8Checks(app);

  // One finish listener per request covers routes handed to the protocol engine too
  // (those bypass Fastify's reply lifecycle).
  const bookkeeping = createBookkeeping(opts, trusted);
  app.decorate('tesseraRequests', bookkeeping);
  app.addHook('onRequest', (request, reply, done) => {
    (request.raw as { tesseraRequestId?: string }).tesseraRequestId = request.id;
    bookkeeping.observe(reply.raw, request.id, request.method, () => routeLabel(request), () => ({ log: request.log, req: request }));
    done();
  });

  // Cross-site form posts are refused outright (defence in depth beside SameSite cookies and
  // the CSRF token). `Origin` is compared with the issuer's origin, not with `Host`, which a
  // load balancer may rewrite (docs/security.md#cross-site-requests).
  app.decorate('tesseraSites', opts.sites);
  // A route that receives cross-site POSTs by design (SAML's HTTP-POST binding: the IdP's page
  // posts to the ACS) sets `crossSitePost` and proves the request otherwise (signature, RelayState).
  app.addHook('preHandler', async (request) => {
    const config = request.routeOptions.config as { html?: boolean; crossSitePost?: boolean };
    if (request.method !== 'POST' || !config.html || config.crossSitePost) return;
    if (!opts.sites.fromOurSite(request)) throw new AppError('access_denied', 403, 'This form was submitted from another site.');
  });

  installErrorHandling(app, opts.renderHtmlError);
  return app;
}

function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

const BASE_HEADER_LIST = Object.entries(BASE_HEADERS);

/** `trusted`: Fastify's `trustProxy` function, so that `ip` gives what `request.ip` gives. */
function createBookkeeping(opts: HttpOptions, trusted: ((address: string, hop: number) => boolean) | undefined): RequestBookkeeping {
  return {
    id: requestId,
    // As Fastify computes `request.ip` (@fastify/proxy-addr, the last address the trust function accepts).
    ip: (req) => (trusted ? proxyAddr.all(req, trusted).at(-1) : req.socket.remoteAddress),
    observe(res, id, method, route, line) {
      const started = process.hrtime.bigint();
      res.setHeader('x-request-id', id);
      for (const [k, v] of BASE_HEADER_LIST) res.setHeader(k, v);
      res.once('finish', () => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const label = route();
        opts.metrics.requests.inc({ method, route: label, status: String(res.statusCode) });
        opts.metrics.latency.observe({ method, route: label }, seconds);
        const { log, req } = line();
        log.info({ req, res, responseTime: Math.round(seconds * 1e4) / 10 }, 'request completed');
      });
    },
  };
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** Route pattern for metrics; engine routes report their concrete (bounded) path. */
function routeLabel(request: FastifyRequest): string {
  const pattern = request.routeOptions?.url;
  if (!pattern) return 'unmatched';
  if (pattern.endsWith('*')) {
    const path = pathOf(request.url);
    return /^\/oidc\/[a-z/]*$/.test(path) && path.length < 40 ? path : pattern;
  }
  return pattern;
}
