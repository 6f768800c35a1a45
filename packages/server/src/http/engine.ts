import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { PROTOCOL_PREFIX, ROUTES } from '../oidc/provider.js';
import type { FailureThrottle } from './throttle.js';
import { INVALID_ENCODING, engineBodyIsUtf8, queryIsUtf8 } from './utf8.js';

/** The engine's own body limit (oidc-provider's selective_body). */
const ENGINE_BODY_LIMIT = 56 * 1024;

/** Set on the raw request by `mountEngine` when its address has used up its failed-authentication allowance. */
const IP_THROTTLED = Symbol('tessera.engine.ip_throttled');

/** True when the request's address is throttled (the password grant then refuses before looking at the password). */
export function ipThrottled(req: IncomingMessage): boolean {
  return (req as IncomingMessage & { [IP_THROTTLED]?: boolean })[IP_THROTTLED] === true;
}

/**
 * Engine middleware (`provider.use`) for requests from a throttled address
 * (http/throttle.ts): a failed client authentication (`invalid_client`) and
 * a password grant (a sign-in by another name, refused before the password
 * is checked) are answered `429`; valid client authentication goes through
 * (client credentials, code and refresh redemption, introspection,
 * revocation). Guessing client secrets stays throttled, machine clients
 * beside the failing ones keep working.
 */
export function throttledCredentials(
  ctx: { req: IncomingMessage; status: number; body: unknown; oidc?: { params?: Record<string, unknown> }; set(name: string, value: string): void; remove(name: string): void },
  next: () => Promise<unknown>,
): Promise<unknown> {
  // Marked before the engine runs (mountEngine): other requests are handed on without an async frame.
  return ipThrottled(ctx.req) ? answerThrottled(ctx, next) : next();
}

async function answerThrottled(ctx: Parameters<typeof throttledCredentials>[0], next: () => Promise<unknown>): Promise<void> {
  await next();
  if (ctx.status < 400) return;
  const error = (ctx.body as { error?: unknown } | null)?.error;
  if (error !== 'invalid_client' && ctx.oidc?.params?.grant_type !== 'password') return;
  ctx.status = 429;
  ctx.body = { error: 'invalid_request', error_description: 'too many failed authentication attempts; retry later' };
  ctx.remove('www-authenticate');
  ctx.set('retry-after', '60');
  ctx.set('cache-control', 'no-store');
}

/** Set on the raw request by `passUnmatched` when no engine route took it. */
const UNMATCHED = Symbol('tessera.engine.unmatched');

/**
 * Engine middleware, installed with `provider.use(passUnmatched)`. A request
 * under the prefix that no engine route matches (an unknown path, or a
 * method the endpoint does not take, e.g. GET /oidc/token) would otherwise
 * get Koa's bare `text/plain` "Not Found". It leaves such a response unsent
 * and marks the request, so `mountEngine` hands it back to Fastify's
 * not-found handling: the same `not_found` JSON or page as every other
 * unknown path.
 */
export async function passUnmatched(ctx: { _matchedRoute?: unknown; body: unknown; status: number; respond?: boolean; req: IncomingMessage }, next: () => Promise<unknown>): Promise<void> {
  await next();
  if (ctx._matchedRoute === undefined && ctx.body == null && ctx.status === 404) {
    ctx.respond = false;
    (ctx.req as IncomingMessage & { [UNMATCHED]?: boolean })[UNMATCHED] = true;
  }
}

/**
 * Mounts the protocol engine. Its routes get the raw request stream (no
 * Fastify body parsing), so the engine applies its own parsing and limits
 * and answers in RFC 6749 form. The engine is looked up per request because
 * it is rebuilt when signing keys rotate.
 */
export async function mountEngine(app: FastifyInstance, engine: () => RequestListener, throttle: FailureThrottle, opts: { draining(): boolean } = { draining: () => false }): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    const handle = async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
      if (request.method === 'POST' && isCredentialEndpoint(request.url)) markIfThrottled(request.raw, throttle, request.ip);
      // Invalid UTF-8 in a form or JSON body: refused here, as the engine would decode it to U+FFFD (http/utf8.ts).
      if (!(await engineBodyIsUtf8(request.raw, ENGINE_BODY_LIMIT))) {
        return reply.code(400).header('cache-control', 'no-store').send({ error: 'invalid_request', error_description: INVALID_ENCODING });
      }
      // The engine (a Koa app) writes the response itself; its listener resolves once it has.
      await (engine()(request.raw, reply.raw) as unknown as Promise<void> | undefined);
      if ((request.raw as IncomingMessage & { [UNMATCHED]?: boolean })[UNMATCHED]) return reply.callNotFound();
      reply.hijack();
    };
    // `engine: true`: Tessera's body hooks leave these requests' streams to the engine (http/utf8.ts).
    scope.all(`${PROTOCOL_PREFIX}/*`, { config: { engine: true } }, handle);
    scope.get('/.well-known/openid-configuration', { config: { engine: true } }, handle);
    // The device flow's code entry page (RFC 8628 §3.3), short for typing on a phone (oidc/device-flow.ts).
    scope.get('/device', { config: { engine: true } }, handle);
    scope.post('/device', { config: { engine: true } }, handle);
    scope.get('/device/*', { config: { engine: true } }, handle);
    scope.post('/device/*', { config: { engine: true } }, handle);
  });
  installFastPath(app, engine, throttle, opts.draining);
}

/**
 * The engine endpoints machine clients call on every token, with the methods
 * the engine answers there. A request for exactly one of these skips
 * Fastify's routing and hooks (issue 20: about 20–30 µs of CPU a request,
 * 6 % of a client-credentials grant, docs/performance.md): it gets what Fastify's path gives
 * an engine route (request id, base headers, metrics, the log line, the
 * throttle mark, the UTF-8 checks) and the engine. Anything else (another
 * path or method, HEAD or a CORS preflight, a query that is not UTF-8,
 * a draining or closing server) takes Fastify's path, which answers as before.
 */
let FAST_PATHS: ReadonlyMap<string, ReadonlySet<string>> | undefined;
// Built on first use: oidc/provider.js and this module import each other, so ROUTES is not there yet at load.
const fastPaths = () => FAST_PATHS ??= new Map([
  [ROUTES.token, new Set(['POST'])],
  [ROUTES.introspection, new Set(['POST'])],
  [ROUTES.revocation, new Set(['POST'])],
  [ROUTES.userinfo, new Set(['GET', 'POST'])],
  [ROUTES.jwks, new Set(['GET'])],
]);

/** The path of a request the fast path takes, or undefined. */
export function fastPathOf(req: IncomingMessage): string | undefined {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return fastPaths().get(path)?.has(req.method ?? '') && (q === -1 || queryIsUtf8(url)) ? path : undefined;
}

function installFastPath(app: FastifyInstance, engine: () => RequestListener, throttle: FailureThrottle, draining: () => boolean): void {
  const server = app.server;
  const listeners = server.listeners('request') as RequestListener[];
  // Fastify's own listener, the only one: otherwise someone else serves requests too, and all go through Fastify.
  if (listeners.length !== 1) return;
  const viaFastify = listeners[0]!;
  let open = true;
  // Closing: Fastify answers 503 (`return503OnClosing`).
  app.addHook('preClose', (done) => {
    open = false;
    done();
  });
  const book = app.tesseraRequests;
  const serve = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    const id = book.id(req);
    (req as IncomingMessage & { tesseraRequestId?: string }).tesseraRequestId = id;
    let ip: string | undefined;
    const ipOf = () => (ip ??= book.ip(req));
    // The same line as Fastify's request logger writes (its child logger's one binding, `requestId`, comes
    // first there too), without building a child logger per request.
    const log = { info: (obj: object, msg: string) => app.log.info({ requestId: id, ...obj }, msg) };
    book.observe(res, id, req.method!, () => path, () => ({ log, req: { method: req.method, ip: ipOf(), url: req.url } }));
    if (req.method === 'POST' && isCredentialEndpoint(path)) markIfThrottled(req, throttle, ipOf());
    if (!(await engineBodyIsUtf8(req, ENGINE_BODY_LIMIT))) return answer(res, 400, 'invalid_request', INVALID_ENCODING);
    await (engine()(req, res) as unknown as Promise<void> | undefined);
    // Cannot happen while the engine serves these endpoints (provider.ts enables each); Fastify's not-found shape if it did.
    if ((req as IncomingMessage & { [UNMATCHED]?: boolean })[UNMATCHED] && !res.headersSent) answer(res, 404, 'not_found', 'Not found.');
  };
  server.removeListener('request', viaFastify);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = open && !draining() ? fastPathOf(req) : undefined;
    if (path === undefined) return viaFastify(req, res);
    serve(req, res, path).catch((err: unknown) => {
      app.log.error({ err, requestId: (req as { tesseraRequestId?: string }).tesseraRequestId }, 'unhandled error');
      if (!res.headersSent) answer(res, 500, 'server_error', 'Something went wrong. Quote the request id when reporting it.');
      else res.destroy();
    });
  });
}

/**
 * Marks a request to a credential endpoint from an address that used up its
 * failed-authentication allowance. Not refused here: a machine client that
 * authenticates must not be held back by others' failures from its address
 * (a NAT, a shared egress). The engine runs; `throttledCredentials` turns a
 * failed client authentication, and any password grant, into 429.
 */
function markIfThrottled(req: IncomingMessage, throttle: FailureThrottle, ip: string | undefined): void {
  if (throttle.isBlocked(ip ?? '')) (req as IncomingMessage & { [IP_THROTTLED]?: boolean })[IP_THROTTLED] = true;
}

/** A JSON error answer written on the raw response (the fast path has no Fastify reply), never cached. */
function answer(res: ServerResponse, status: number, error: string, description: string): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('cache-control', 'no-store');
  res.end(JSON.stringify({ error, error_description: description }));
}

function isCredentialEndpoint(url: string): boolean {
  return url.startsWith(`${PROTOCOL_PREFIX}/token`);
}
