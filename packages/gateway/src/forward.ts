import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import type { TokenContext } from './token.js';
import { peerTrusted } from './ip-policy.js';
import type { ProxyTrust } from './ip-policy.js';

/**
 * Forwarding: one keep-alive undici Pool per upstream origin, request and
 * response bodies streamed (never buffered), hop-by-hop headers removed in
 * both directions (RFC 9110 §7.6.1), and the trusted context added.
 */

/** Hop-by-hop (RFC 9110 §7.6.1) and headers the gateway sets itself; never copied from the client. */
const DROP_REQUEST: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'http2-settings', 'host',
  // undici refuses `expect`; Node has already answered any 100-continue.
  'expect',
  // Set by the gateway from what it saw; a client must not choose what the backend believes.
  'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'forwarded', 'x-request-id',
]);
const DROP_RESPONSE: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** What the gateway adds to every forwarded request, the same for all routes. */
export interface ForwardSettings {
  upstreamSecret: string | undefined;
  trustProxy: boolean;
  /** With a list of proxy blocks, only those peers' forwarding headers are relayed (ip-policy.ts). */
  proxyTrust?: ProxyTrust;
}

/** A route's way upstream, prepared once at boot (no lookup per request). */
export interface Upstream {
  readonly pool: Pool;
  readonly forwardToken: boolean;
  readonly timeoutMs: number;
  readonly settings: Readonly<ForwardSettings>;
}

/** How a forwarded request failed (see `Forwarding.finished`). */
export type ForwardFailure =
  /** Nothing was sent to the client yet: the caller answers 502/504. */
  | 'unreachable' | 'timeout'
  /** The upstream failed after the response started: the connection was cut. */
  | 'aborted'
  /** The client went away before the answer was written (nginx's 499). */
  | 'client_closed';

/**
 * One request on its way upstream. It travels through undici as the
 * request's `opaque`, so the callbacks are plain functions and nothing is
 * allocated per request beyond this object, the header list and undici's own.
 */
export interface Forwarding {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  /** The validated caller; undefined on public routes. */
  readonly token: TokenContext | undefined;
  /** Response headers the gateway adds to the upstream's answer (CORS); undefined when none. */
  readonly responseHeaders: Record<string, string> | undefined;
  /** The upstream's status once its answer started (0 before); 499 when the client went away, 502 for an aborted answer without one. */
  status: number;
  /** Called once: `undefined` when the answer was relayed completely, else how it failed. */
  finished(failure: ForwardFailure | undefined): void;
}

/**
 * The headers sent upstream, as the flat `[name, value, …]` list undici
 * takes without converting: the client's end-to-end headers minus every
 * `x-tessera-*` (whatever the client claims about itself is discarded, in any
 * letter case: Node lower-cases names), minus Authorization unless the route
 * forwards it, plus the context derived from the validated token. One pass
 * over the client's headers.
 */
export function upstreamHeaders(req: IncomingMessage, requestId: string, token: TokenContext | undefined, up: Upstream): string[] {
  const incoming: IncomingHttpHeaders = req.headers;
  const { trustProxy, upstreamSecret, proxyTrust } = up.settings;
  const connection = incoming.connection;
  // `Connection: keep-alive` / `close` name no other header: the common case needs no parsing.
  const connectionTokens = connection === undefined || connection === 'keep-alive' || connection === 'close' ? undefined : connectionListed(connection);
  const out: Array<string | string[]> = [];
  for (const name in incoming) {
    if (DROP_REQUEST.has(name)) continue;
    // x-tessera-* (10 characters: "x-tessera-"): compared without slicing.
    if (name.length >= 10 && name.charCodeAt(0) === 120 /* x */ && name.startsWith('x-tessera-')) continue;
    // The DPoP proof travels with the token it proves: both or neither (forward_token).
    if ((name === 'authorization' || name === 'dpop') && !up.forwardToken) continue;
    if (connectionTokens !== undefined && connectionTokens.has(name)) continue;
    const value = incoming[name];
    if (value !== undefined) out.push(name, value);
  }
  const peer = req.socket.remoteAddress ?? '';
  if (trustProxy && (proxyTrust?.proxies === undefined || peerTrusted(req, proxyTrust))) {
    const priorFor = incoming['x-forwarded-for'];
    out.push('x-forwarded-for', typeof priorFor === 'string' ? `${priorFor}, ${peer}` : peer);
    // Scheme and public host are known only to a trusted proxy in front (the gateway itself
    // speaks plain HTTP): relayed from it, never invented. Each header costs on the hot path.
    const proto = incoming['x-forwarded-proto'];
    const host = incoming['x-forwarded-host'] ?? incoming.host;
    if (typeof proto === 'string') out.push('x-forwarded-proto', proto);
    if (typeof host === 'string') out.push('x-forwarded-host', host);
  } else {
    out.push('x-forwarded-for', peer);
  }
  out.push('x-request-id', requestId);
  if (token) {
    const context = token.headerList;
    for (let i = 0; i < context.length; i++) out.push(context[i]!);
  }
  if (upstreamSecret !== undefined) out.push('x-tessera-gateway-secret', upstreamSecret);
  // undici takes a value list for a repeated header; its types only admit strings in the flat form.
  return out as string[];
}

/** Extra hop-by-hop headers named in Connection (e.g. `Connection: keep-alive, x-secret`). */
function connectionListed(connection: string): Set<string> {
  return new Set(connection.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean));
}

/** True when the request has a body to stream (RFC 9112 §6.3: Content-Length or Transfer-Encoding). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Errors that mean the client's side of the connection closed, not the upstream's. */
const CLIENT_GONE: ReadonlySet<string> = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'ECONNRESET', 'EPIPE']);

/**
 * The upstream's answer has started: relay its status and end-to-end headers
 * (the route's CORS headers replace any the upstream sent), then stream its
 * body into the client's response.
 */
function relayHead({ statusCode, headers, opaque: f }: Dispatcher.StreamFactoryData<Forwarding>): Writable {
  f.status = statusCode;
  const added = f.responseHeaders;
  // One pass into the flat [name, value, …] list Node writes as is: no property deleted from
  // undici's object (which would turn it into a slow dictionary for every later lookup).
  const list: Array<string | string[]> = [];
  for (const name in headers) {
    if (DROP_RESPONSE.has(name) || (added !== undefined && name in added)) continue;
    const value = headers[name];
    if (value !== undefined) list.push(name, value);
  }
  if (added !== undefined) for (const name in added) list.push(name, added[name]!);
  f.res.writeHead(statusCode, list as string[]);
  return f.res;
}

/** undici is done with the request: relayed, or failed (before or after the answer started). */
function relayEnd(err: Error | null, { opaque: f }: Dispatcher.StreamData<Forwarding>): void {
  if (!err) return f.finished(undefined);
  const { req, res } = f;
  const code = (err as { code?: string }).code;
  if (req.socket.destroyed && (f.status === 0 || (code !== undefined && CLIENT_GONE.has(code)))) {
    res.destroy();
    f.status = 499;
    return f.finished('client_closed');
  }
  if (f.status !== 0 || res.headersSent) {
    res.destroy();
    if (f.status === 0) f.status = 502;
    return f.finished('aborted');
  }
  f.finished(code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' ? 'timeout' : 'unreachable');
}

/** Keep-alive pools, one per upstream origin, closed together at shutdown. */
export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly opts: { connections: number; keepAliveTimeoutMs: number } & ForwardSettings) {}

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

  /** A route's upstream: its origin's pool and how requests go there. */
  upstream(origin: string, route: { forwardToken: boolean; timeoutMs: number }): Upstream {
    const { upstreamSecret, trustProxy, proxyTrust } = this.opts;
    return Object.freeze({ pool: this.pool(origin), forwardToken: route.forwardToken, timeoutMs: route.timeoutMs, settings: Object.freeze({ upstreamSecret, trustProxy, proxyTrust }) });
  }

  /** Waits for in-flight upstream requests, then closes every connection. */
  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => undefined)));
    this.pools.clear();
  }

  /**
   * Streams the request to the upstream and the answer back, then calls
   * `f.finished` once (a callback, not a promise: this runs for every
   * request). The response is written straight into the client's socket as
   * it arrives (undici's `stream` API: no intermediate buffering or object
   * per chunk).
   */
  forward(up: Upstream, path: string, f: Forwarding): void {
    const { req } = f;
    up.pool.stream<Forwarding>({
      path,
      method: req.method as Dispatcher.HttpMethod,
      headers: upstreamHeaders(req, f.requestId, f.token, up),
      body: hasBody(req) ? req : null,
      headersTimeout: up.timeoutMs,
      bodyTimeout: up.timeoutMs,
      opaque: f,
    }, relayHead, relayEnd);
  }
}
