import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ACR_MFA, callerJson, createAuditor, requireAnyRole, requireAuthentication } from '@tessera/backend';
import { callerOf, registerTessera } from '@tessera/backend/fastify';
import { RecordService } from './records.js';
import { OrderService } from './orders.js';

export interface BackendOptions {
  /** When set, requests must carry it in `x-tessera-gateway-secret` (GATEWAY_UPSTREAM_SECRET at the gateway). */
  gatewaySecret?: string;
  logLevel?: string;
  logStream?: NodeJS.WritableStream;
}

const createBody = z.strictObject({ title: z.string().trim().min(1).max(200) });
const payoutBody = z.strictObject({ order: z.string().min(1).max(64), amount: z.number().positive().max(100_000) });

/** Paying out: the `payouts` role, and a second factor within this many seconds (the shell demo's step-up). */
export const PAYOUT_MAX_AGE_S = 600;

/** Purging a tenant's records: an admin, signed in with a second factor within this many seconds. */
export const PURGE_MAX_AGE_S = 600;

/**
 * An example service behind the gateway. It does domain authorization from
 * the forwarded context with @tessera/backend: tenant isolation (records of
 * other tenants are invisible, not forbidden), ownership, a role check, a
 * step-up for the one destructive bulk operation, and audit lines. It never
 * sees a token: the gateway validated it.
 */
export function createBackend(opts: BackendOptions = {}): { app: FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>; records: RecordService; log: Logger } {
  const log = pino({ level: opts.logLevel ?? 'info', base: { service: 'example-backend' } }, opts.logStream ?? process.stdout);
  const app = Fastify({ loggerInstance: log, requestIdHeader: 'x-request-id',
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
  });
  const records = new RecordService();
  const orders = new OrderService();
  const audit = createAuditor(log.child({ audit: true }));

  // The caller from the gateway's headers (and its secret); requests without them get 401 here.
  registerTessera(app, {
    gatewaySecret: opts.gatewaySecret ?? null,
    skip: (path) => path === '/healthz',
    onRefused: (reason) => log.warn({ reason }, 'request without gateway context refused'),
  });
  // The gateway sends its request id upstream; echoing it lets a client quote one id for both hops.
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  /** What the backend was told about the caller, and which context headers arrived (for demos and tests). */
  app.get('/whoami', async (request) => ({
    caller: callerJson(callerOf(request)),
    received: Object.keys(request.headers).filter((h) => h.startsWith('x-tessera-') || h === 'authorization').sort(),
  }));

  app.get('/records', async (request) => ({ records: records.list(callerOf(request)) }));

  app.get('/records/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    const record = records.get(callerOf(request), id);
    return record ? { record } : notFound(reply);
  });

  app.post('/records', async (request, reply) => {
    const body = createBody.safeParse(request.body);
    if (!body.success) return reply.code(400).send({ error: 'invalid_request', error_description: 'Send {"title": "…"} (1-200 characters).' });
    return reply.code(201).send({ record: records.create(callerOf(request), body.data) });
  });

  /**
   * Deletes every record of the caller's tenant: an admin only, and only
   * after a multi-factor sign-in in the last ten minutes. A password-only or
   * older sign-in gets the RFC 9470 answer (401, WWW-Authenticate with
   * acr_values and max_age): the client signs the user in again and retries.
   */
  app.post('/records/purge', async (request) => {
    const caller = callerOf(request);
    const role = requireAnyRole(caller, 'admin');
    requireAuthentication(caller, { acr: ACR_MFA, maxAge: PURGE_MAX_AGE_S });
    const count = records.purge(caller);
    audit(caller, 'records.purged', { count, via: `role:${role}` });
    return { deleted: count };
  });

  // The shell demo's orders (examples/shell): reading needs the `orders` role.
  app.get('/orders', async (request) => {
    requireAnyRole(callerOf(request), 'orders');
    return { orders: orders.list(callerOf(request)) };
  });

  app.get('/orders/:id', async (request, reply) => {
    const caller = callerOf(request);
    requireAnyRole(caller, 'orders');
    const order = orders.get(caller, (request.params as { id: string }).id);
    return order ? { order } : reply.code(404).send({ error: 'not_found', error_description: 'No such order.' });
  });

  /** Money leaves: the `payouts` role and a recent multi-factor sign-in (RFC 9470 step-up answer otherwise). */
  app.post('/payouts', async (request, reply) => {
    const caller = callerOf(request);
    const role = requireAnyRole(caller, 'payouts');
    requireAuthentication(caller, { acr: ACR_MFA, maxAge: PAYOUT_MAX_AGE_S });
    const body = payoutBody.safeParse(request.body);
    if (!body.success) return reply.code(400).send({ error: 'invalid_request', error_description: 'Send {"order": "<id>", "amount": <positive number>}.' });
    const payout = orders.payout(caller, body.data);
    if (!payout) return reply.code(404).send({ error: 'not_found', error_description: 'No such order.' });
    audit(caller, 'payout.created', { payout: payout.id, order: payout.order, amount: payout.amount, via: `role:${role}` });
    return reply.code(201).send({ payout });
  });

  app.delete('/records/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    const caller = callerOf(request);
    const result = records.remove(caller, id);
    if (result.outcome === 'not_found') return notFound(reply);
    if (result.outcome === 'forbidden') {
      return reply.code(403).send({ error: 'forbidden', error_description: 'Only the owner, an editor or an admin may delete this record.' });
    }
    // A sensitive operation: one structured line with who, what, on whose behalf and why it was allowed.
    audit(caller, 'record.deleted', { record: result.record.id, owner: result.record.owner, via: result.via });
    return reply.code(204).send();
  });

  return { app, records, log };
}

function notFound(reply: FastifyReply) {
  return reply.code(404).send({ error: 'not_found', error_description: 'No such record.' });
}
