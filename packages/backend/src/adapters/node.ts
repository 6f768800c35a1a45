import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { readCaller } from '../caller.js';
import type { Caller } from '../caller.js';
import { Denied, answerFor } from '../denied.js';
import type { Answer } from '../denied.js';
import { pathOf } from '../options.js';
import type { BackendOptions } from '../options.js';

/** Writes an answer on a raw Node response (nothing sent yet). */
export function sendAnswer(res: ServerResponse, answer: Answer): void {
  const body = JSON.stringify(answer.body);
  res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** A handler for node:http that gets the caller; undefined on skipped paths. */
export type CallerHandler = (req: IncomingMessage, res: ServerResponse, caller: Caller | undefined) => void | Promise<void>;

/**
 * Wraps a node:http handler: reads the caller (or answers 401 itself), and
 * turns a `Denied` thrown by the handler (sync or async) into its answer.
 * Anything else thrown is a 500 with a generic body: details stay in the
 * service's own logs (`onError`).
 */
export function withCaller(options: BackendOptions & { onError?: (err: unknown) => void }, handler: CallerHandler): RequestListener {
  return (req, res) => {
    const fail = (err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof Denied) {
        if (err.code === 'not_from_gateway' || err.code === 'no_context') options.onRefused?.(err.code, pathOf(req.url));
        return sendAnswer(res, answerFor(err, options.realm));
      }
      options.onError?.(err);
      sendAnswer(res, { status: 500, headers: { 'content-type': 'application/json; charset=utf-8' }, body: { error: 'server_error', error_description: 'Something went wrong.' } });
    };
    try {
      const caller = options.skip?.(pathOf(req.url), req.method ?? 'GET') ? undefined : readCaller(req.headers, options);
      Promise.resolve(handler(req, res, caller)).catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}
