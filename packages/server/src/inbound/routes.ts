import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AppError } from '../http/errors.js';
import { ipAllowed } from '../oidc/cidr.js';
import { ID_PATTERN } from '../identity/model.js';
import { SOURCE_NAME } from '../userdata/model.js';
import { verify } from '../webhooks/signature.js';
import { zodFields } from '../admin/validation.js';
import { batchSchema, MAX_BODY_BYTES } from './model.js';
import type { InboundSources } from './sources.js';
import type { ContactSync } from './sync.js';

export interface InboundRouteDeps {
  sources: InboundSources;
  sync: ContactSync;
  log: Logger;
}

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
/** One answer for an unknown source, a disabled one and a bad signature: nothing tells an outsider which sources exist. */
const badSignature = () => new AppError('invalid_signature', 401, 'The webhook signature, timestamp or source is not valid; nothing was applied.');

/**
 * `POST /api/inbound/{source}/contacts` (docs/webhooks.md#inbound-contact-sync),
 * a pipeline of named steps: find the source → verify the Standard Webhooks
 * signature over the raw body (five-minute tolerance) → check the IP
 * allowlist → validate the batch → apply it in one transaction → 202 with
 * per-change results. Nothing is applied unless every step before passes.
 */
export function registerInboundRoutes(app: FastifyInstance, deps: InboundRouteDeps): void {
  void app.register(async (scope) => {
    // The signature covers the exact bytes sent: keep the body as text and parse it only once it is verified.
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, (_req, body, done) => done(null, body));

    scope.post<{ Params: { source: string }; Querystring: { tenant?: unknown } }>('/api/inbound/:source/contacts', { bodyLimit: MAX_BODY_BYTES }, async (request, reply) => {
      reply.header('cache-control', 'no-store');
      const tenant = typeof request.query.tenant === 'string' ? request.query.tenant : request.query.tenant === undefined ? 'default' : '';
      const name = request.params.source;
      const raw = typeof request.body === 'string' ? request.body : '';
      const log = (reason: string) => request.log.warn({ source: name.slice(0, 64), tenant: tenant.slice(0, 128), reason }, 'inbound batch refused');

      const found = ID_PATTERN.test(tenant) && SOURCE_NAME.test(name) ? await deps.sources.forVerification(tenant, name) : undefined;
      if (!found) {
        log('unknown_source');
        throw badSignature();
      }
      const problem = verify(found.secret, {
        id: header(request.headers['webhook-id']), timestamp: header(request.headers['webhook-timestamp']), signature: header(request.headers['webhook-signature']),
      }, raw);
      if (problem) {
        log(problem);
        throw badSignature();
      }
      if (found.source.ipAllowlist && !ipAllowed(found.source.ipAllowlist, request.ip)) {
        log('ip_not_allowed');
        throw new AppError('access_denied', 403, 'The source does not send from this address (its ip_allowlist).');
      }
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        throw new AppError('invalid_request', 400, 'The body is not JSON.');
      }
      const parsed = batchSchema.safeParse(json);
      if (!parsed.success) throw new AppError('validation_failed', 400, 'The batch is malformed; nothing was applied.', zodFields(parsed.error, json));
      const messageId = header(request.headers['webhook-id'])!;
      const outcome = await deps.sync.apply(found.source, parsed.data, messageId, { ip: request.ip, userAgent: header(request.headers['user-agent']) ?? null });
      return reply.code(202).send({ message: messageId, source: found.source.name, tenant: found.source.tenantId, results: outcome.results });
    });
  });
}
