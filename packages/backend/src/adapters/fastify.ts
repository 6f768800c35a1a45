import type {
  FastifyBaseLogger, FastifyInstance, FastifyRequest, FastifyTypeProvider, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerBase,
} from 'fastify';
import { readCaller } from '../caller.js';
import type { Caller } from '../caller.js';
import { Denied, answerFor } from '../denied.js';
import { pathOf } from '../options.js';
import type { BackendOptions } from '../options.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller the gateway vouched for (@tessera/backend); undefined on skipped paths. */
    tessera: Caller | undefined;
  }
}

/** The part of a Fastify reply `replyDenied` uses (any server type, logger or type provider). */
interface ReplyLike<R> {
  code(status: number): R;
  headers(values: Record<string, string>): R;
  send(payload?: unknown): R;
}

/** Sends the answer for a refusal (for services with their own error handler). */
export function replyDenied<R extends ReplyLike<R>>(reply: R, denied: Denied, realm?: string): R {
  const answer = answerFor(denied, realm);
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}

/**
 * Fastify adapter: reads the caller in an `onRequest` hook (before the body
 * is even parsed, so a request that did not come through the gateway costs
 * nothing more) into `request.tessera`, and answers every `Denied` thrown by
 * a hook or route through an error handler that hands every other error to
 * Fastify's default one. A service with its own error handler passes
 * `errorHandler: false` and calls `replyDenied` in its handler (Fastify
 * keeps one handler per scope, and warns when one replaces another).
 */
export function registerTessera<S extends RawServerBase, L extends FastifyBaseLogger, T extends FastifyTypeProvider>(
  app: FastifyInstance<S, RawRequestDefaultExpression<S>, RawReplyDefaultExpression<S>, L, T>,
  options: BackendOptions & { errorHandler?: boolean },
): void {
  app.decorateRequest('tessera', undefined);
  app.addHook('onRequest', async (request) => {
    const path = pathOf(request.url);
    if (options.skip?.(path, request.method)) return;
    try {
      request.tessera = readCaller(request.headers, options);
    } catch (err) {
      if (err instanceof Denied && (err.code === 'not_from_gateway' || err.code === 'no_context')) options.onRefused?.(err.code, path);
      throw err;
    }
  });
  if (options.errorHandler === false) return;
  const previous = app.errorHandler;
  app.setErrorHandler(function tesseraErrorHandler(err, request, reply) {
    if (err instanceof Denied) return replyDenied(reply, err, options.realm);
    // The default handler takes the same arguments; its declared types only admit the default server type.
    return (previous as unknown as (this: unknown, e: unknown, q: unknown, r: unknown) => unknown).call(this, err, request, reply);
  });
}

/**
 * The caller of this request.
 * @throws Denied 401 `no_context` on a skipped path (a programming error answered safely).
 */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.tessera) throw Denied.noContext();
  return request.tessera;
}
