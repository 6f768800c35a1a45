import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import type { TokenContext } from './token.js';

/**
 * Forwarding: one keep-alive undici Pool per upstream origin, request and
 * response bodies streamed (never buffered), hop-by-hop headers removed in
 * both directions (RFC 9110 §7.6.1), and the trusted context added.
 */

/** Hop-by-hop (RFC 9110 §7.6.1) and headers the gateway sets itself; never copied from the client. */
const DROP_REQUEST = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'http2-settings', 'host',
  // undici refuses `expect`; Node has already answered any 100-continue.
  'expect',
  // Set by the gateway from what it saw; a client must not choose what the backend believes.
  'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'forwarded', 'x-request-id',
]);
const DROP_RESPONSE = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

export interface ForwardContext {
  path: string;
  requestId: string;
  token: TokenContext | undefined;
  forwardToken: boolean;
  upstreamSecret: string | undefined;
  trustProxy: boolean;
  timeoutMs: number;
  /** Response headers the gateway adds to the upstream's answer (CORS); undefined when none. */
  responseHeaders: Record<string, string> | undefined;
}

/**
 * The headers sent upstream: the client's end-to-end headers minus every
 * `x-tessera-*` (whatever the client claims about itself is discarded, in any
 * letter case: Node lower-cases names), minus Authorization unless the route
 * forwards it, plus the context derived from the validated token.
 */
export function upstreamHeaders(req: IncomingMessage, ctx: ForwardContext): Record<string, string | string[]> {
  const incoming: IncomingHttpHeaders = req.headers;
  const connectionTokens = connectionListed(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    if (DROP_REQUEST.has(name) || name.startsWith('x-tessera-')) continue;
    if (name === 'authorization' && !ctx.forwardToken) continue;
    if (connectionTokens !== undefined && connectionTokens.has(name)) continue;
    const value = incoming[name];
    if (value !== undefined) out[name] = value;
  }
  const peer = req.socket.remoteAddress ?? '';
  const priorFor = incoming['x-forwarded-for'];
  out['x-forwarded-for'] = ctx.trustProxy && typeof priorFor === 'string' ? `${priorFor}, ${peer}` : peer;
  // Scheme and public host are known only to a trusted proxy in front (the gateway itself
  // speaks plain HTTP): relayed from it, never invented. Each header costs on the hot path.
  if (ctx.trustProxy) {
    const proto = incoming['x-forwarded-proto'];
    const host = incoming['x-forwarded-host'] ?? incoming.host;
    if (typeof proto === 'string') out['x-forwarded-proto'] = proto;
    if (typeof host === 'string') out['x-forwarded-host'] = host;
  }
  out['x-request-id'] = ctx.requestId;
  if (ctx.token) for (const [k, v] of ctx.token.headers) out[k] = v;
  if (ctx.upstreamSecret !== undefined) out['x-tessera-gateway-secret'] = ctx.upstreamSecret;
  return out;
}

/** Extra hop-by-hop headers named in Connection (e.g. `Connection: keep-alive, x-secret`). */
function connectionListed(connection: string | undefined): Set<string> | undefined {
  if (connection === undefined || connection === 'keep-alive' || connection === 'close') return undefined;
  return new Set(connection.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean));
}

/** True when the request has a body to stream (RFC 9112 §6.3: Content-Length or Transfer-Encoding). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export type ForwardOutcome =
  | { ok: true; status: number }
  /** Nothing was sent to the client yet: the caller answers 502/504. */
  | { ok: false; kind: 'unreachable' | 'timeout' }
  /** The upstream failed after the response started: the connection was cut. */
  | { ok: false; kind: 'aborted'; status: number }
  /** The client went away before the answer was written (nginx's 499). */
  | { ok: false; kind: 'client_closed'; status: number };

/** Errors that mean the client's side of the connection closed, not the upstream's. */
const CLIENT_GONE = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'ECONNRESET', 'EPIPE']);

/** Keep-alive pools, one per upstream origin, closed together at shutdown. */
export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly opts: { connections: number; keepAliveTimeoutMs: number }) {}

  pool(origin: string): Pool {
    let p = this.pools.get(origin);
    if (!p) {
      p = new Pool(origin, {
        connections: this.opts.connections,
        keepAliveTimeout: this.opts.keepAliveTimeoutMs,
        keepAliveMaxTimeout: this.opts.keepAliveTimeoutMs,
        pipelining: 1,
      });
      this.pools.set(origin, p);
    }
    return p;
  }

  /** Waits for in-flight upstream requests, then closes every connection. */
  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => undefined)));
    this.pools.clear();
  }

  /**
   * Streams the request to the upstream and the answer back, then calls
   * `done` once with the outcome (a callback, not a promise: this runs for
   * every request). The response
   * is written straight into the client's socket as it arrives (undici's
   * `stream` API: no intermediate buffering or object per chunk).
   */
  forward(origin: string, req: IncomingMessage, res: ServerResponse, ctx: ForwardContext, done: (outcome: ForwardOutcome) => void): void {
    const options: Dispatcher.RequestOptions = {
      path: ctx.path,
      method: req.method as Dispatcher.HttpMethod,
      headers: upstreamHeaders(req, ctx),
      body: hasBody(req) ? req : null,
      headersTimeout: ctx.timeoutMs,
      bodyTimeout: ctx.timeoutMs,
    };
    let status = 0;
    this.pool(origin).stream(options, ({ statusCode, headers }) => {
      status = statusCode;
      for (const h of DROP_RESPONSE) delete headers[h];
      if (ctx.responseHeaders) Object.assign(headers, ctx.responseHeaders);
      res.writeHead(statusCode, headers as Record<string, string | string[]>);
      return res;
    }, (err) => {
      if (!err) return done({ ok: true, status });
      const code = (err as { code?: string }).code;
      if (req.socket.destroyed && (status === 0 || (code !== undefined && CLIENT_GONE.has(code)))) {
        res.destroy();
        return done({ ok: false, kind: 'client_closed', status: 499 });
      }
      if (status !== 0 || res.headersSent) {
        res.destroy();
        return done({ ok: false, kind: 'aborted', status: status || 502 });
      }
      done({ ok: false, kind: code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' ? 'timeout' : 'unreachable' });
    });
  }
}
