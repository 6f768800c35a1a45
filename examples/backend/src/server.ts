import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { z } from 'zod';
import { callerFrom } from './context.js';
import { RecordService } from './records.js';
import type { Caller } from './records.js';

export interface BackendOptions {
  /** When set, requests must carry it in `x-tessera-gateway-secret` (GATEWAY_UPSTREAM_SECRET at the gateway). */
  gatewaySecret?: string;
  logLevel?: string;
  logStream?: NodeJS.WritableStream;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller;
  }
}

const createBody = z.strictObject({ title: z.string().trim().min(1).max(200) });

/**
 * An example service behind the gateway. It does domain authorization from
 * the forwarded context: tenant isolation (records of other tenants are
 * invisible, not forbidden), ownership, a role check, and an audit line for
 * deletions. It never sees a token: the gateway validated it.
 */
export function createBackend(opts: BackendOptions = {}): { app: FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>; records: RecordService; log: Logger } {
  const log = pino({ level: opts.logLevel ?? 'info', base: { service: 'example-backend' } }, opts.logStream ?? process.stdout);
  const app = Fastify({ loggerInstance: log, requestIdHeader: 'x-request-id',
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
  });
  const records = new RecordService();
  const audit = log.child({ audit: true });

  app.decorateRequest('caller', null as unknown as Caller);
  // The gateway sends its request id upstream; echoing it lets a client quote one id for both hops.
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('preHandler', async (request, reply) => {
    if (request.routeOptions.url === '/healthz') return;
    const result = callerFrom(request.headers, opts.gatewaySecret);
    if (!result.ok) {
      // Not the gateway's request, or no context: this service has no other way to know who calls.
      request.log.warn({ reason: result.reason }, 'request without gateway context refused');
      return reply.code(401).send({ error: 'unauthorized', error_description: 'Requests must come through the Tessera gateway.' });
    }
    request.caller = result.caller;
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  /** What the backend was told about the caller, and which context headers arrived (for demos and tests). */
  app.get('/whoami', async (request) => ({
    caller: { ...request.caller, scopes: [...request.caller.scopes] },
    received: Object.keys(request.headers).filter((h) => h.startsWith('x-tessera-') || h === 'authorization').sort(),
  }));

  app.get('/records', async (request) => ({ records: records.list(request.caller) }));

  app.get('/records/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    const record = records.get(request.caller, id);
    return record ? { record } : notFound(reply);
  });

  app.post('/records', async (request, reply) => {
    const body = createBody.safeParse(request.body);
    if (!body.success) return reply.code(400).send({ error: 'invalid_request', error_description: 'Send {"title": "…"} (1-200 characters).' });
    return reply.code(201).send({ record: records.create(request.caller, body.data) });
  });

  app.delete('/records/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    const result = records.remove(request.caller, id);
    if (result.outcome === 'not_found') return notFound(reply);
    if (result.outcome === 'forbidden') {
      return reply.code(403).send({ error: 'forbidden', error_description: 'Only the owner, an editor or an admin may delete this record.' });
    }
    // A sensitive operation: one structured line with who, what, on whose behalf and why it was allowed.
    const c = request.caller;
    audit.info({
      event: 'record.deleted', requestId: request.id, actor: c.sub, client: c.client, tenant: c.tenant,
      record: result.record.id, owner: result.record.owner, via: result.via, acr: c.acr ?? null,
    }, 'audit');
    return reply.code(204).send();
  });

  return { app, records, log };
}

function notFound(reply: FastifyReply) {
  return reply.code(404).send({ error: 'not_found', error_description: 'No such record.' });
}
