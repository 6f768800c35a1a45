import type { IncomingMessage, ServerResponse } from 'node:http';
import { readCaller } from '../caller.js';
import type { Caller } from '../caller.js';
import { Denied, answerFor } from '../denied.js';
import { pathOf } from '../options.js';
import type { BackendOptions } from '../options.js';
import { sendAnswer } from './node.js';

/**
 * Express adapter. Express's request and response are Node's, so this needs
 * no Express types: `tessera()` reads the caller into `req.tessera` (or
 * passes a `Denied` to `next`), `tesseraErrors()` answers a `Denied` thrown
 * or passed by any route and hands everything else on.
 *
 * ```ts
 * app.use(tessera({ gatewaySecret: process.env.GATEWAY_SECRET! }));
 * app.get('/things', (req, res) => res.json(list(callerOf(req))));
 * app.use(tesseraErrors());
 * ```
 */
type Next = (err?: unknown) => void;
type WithCaller = IncomingMessage & { tessera?: Caller; originalUrl?: string };

export function tessera(options: BackendOptions): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  return (req, _res, next) => {
    const r = req as WithCaller;
    const path = pathOf(r.originalUrl ?? r.url);
    if (options.skip?.(path, r.method ?? 'GET')) return next();
    try {
      r.tessera = readCaller(r.headers, options);
    } catch (err) {
      if (err instanceof Denied && (err.code === 'not_from_gateway' || err.code === 'no_context')) options.onRefused?.(err.code, path);
      return next(err);
    }
    next();
  };
}

/** The error middleware (four parameters, as Express requires): a `Denied` becomes its answer. */
export function tesseraErrors(options: { realm?: string } = {}): (err: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void {
  return (err, _req, res, next) => {
    if (!(err instanceof Denied) || res.headersSent) return next(err);
    sendAnswer(res, answerFor(err, options.realm));
  };
}

/**
 * The caller `tessera()` read for this request.
 * @throws Denied 401 `no_context` on a skipped path (a programming error answered safely).
 */
export function callerOf(req: IncomingMessage): Caller {
  const caller = (req as WithCaller).tessera;
  if (!caller) throw Denied.noContext();
  return caller;
}
