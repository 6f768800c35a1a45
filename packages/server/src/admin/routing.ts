import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { AppError } from '../http/errors.js';
import type { EventContext } from '../audit/events.js';
import { AdminAccessError } from './access.js';
import { AdminConflict, AdminForbidden, AdminInvalid } from './errors.js';
import { zodFields } from './validation.js';
import type { AdminAccess, AdminPrincipal, AdminScope } from './access.js';
import type { OpenApiRegistry } from './openapi.js';

/** Every admin route lives under this versioned base; the OpenAPI document is at `${ADMIN_BASE}/openapi.json`. */
export const ADMIN_BASE = '/api/admin/v1';

/** What a handler gets: the verified caller and the validated request. */
export interface AdminContext<P, Q, B> {
  principal: AdminPrincipal;
  params: P;
  query: Q;
  body: B;
  /** Who acted and from where, for the audit log. */
  event: EventContext;
  /** The raw `If-Match` header (presence already enforced when the route requires it). */
  ifMatch: string | undefined;
  /** Demands a recent multi-factor sign-in. @throws the RFC 9470 answer. */
  stepUp(): void;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface AdminRouteSpec<P extends z.ZodObject, Q extends z.ZodObject, B extends z.ZodType, R extends z.ZodType> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Relative to ADMIN_BASE, Fastify style: `/users/:id`. */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  scope: AdminScope;
  /** Documented only; the handler calls `ctx.stepUp()` (always, or when the change is sensitive). */
  stepUp?: 'always' | 'conditional';
  ifMatch?: 'required' | 'optional';
  params?: P;
  query?: Q;
  body?: B;
  /** Success status: 200 by default, 204 when there is no `response`. */
  status?: number;
  response?: R;
  /** The success response carries an ETag (set by the handler through `setEtag`). */
  etag?: boolean;
  /** Error statuses besides 401/403 (documented in OpenAPI). */
  errors?: number[];
  /** A larger request body than the server's 64 KiB default (e.g. images as data: URIs). */
  bodyLimit?: number;
  handler(ctx: AdminContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<z.input<R> | void>;
}

export type AdminRouter = <P extends z.ZodObject, Q extends z.ZodObject, B extends z.ZodType, R extends z.ZodType>(
  spec: AdminRouteSpec<P, Q, B, R>) => void;

/**
 * Registers admin routes as pipelines of named steps, Logto koa-guard style:
 * authenticate → authorize scope → validate params/query/body (field-level
 * 400s) → check If-Match presence → handler → validate and serialise the
 * response (a field that is not in the response schema never leaves the
 * server) → record the route in the OpenAPI registry.
 */
export function adminRouter(app: FastifyInstance, access: AdminAccess, registry: OpenApiRegistry): AdminRouter {
  return (spec) => {
    const status = spec.status ?? (spec.response ? 200 : 204);
    registry.add({ ...spec, status, errors: spec.errors ?? [] });
    app.route({
      method: spec.method,
      url: `${ADMIN_BASE}${spec.path}`,
      ...(spec.bodyLimit ? { bodyLimit: spec.bodyLimit } : {}),
      handler: async (request, reply) => {
        // Admin answers name users, clients and keys: never cached by browsers or proxies.
        reply.header('cache-control', 'no-store');
        try {
          const principal = await access.authenticate(request.headers.authorization, spec.scope);
          const params = parse('path', spec.params, request.params ?? {});
          const query = parse('query', spec.query, request.query ?? {});
          if (spec.body && request.body !== undefined && !/^application\/json\b/i.test(request.headers['content-type'] ?? '')) {
            throw new AppError('unsupported_media_type', 415, 'Send the body as application/json.');
          }
          const body = spec.body ? parse('body', spec.body, request.body) : undefined;
          const ifMatch = typeof request.headers['if-match'] === 'string' ? request.headers['if-match'] : undefined;
          if (spec.ifMatch === 'required' && !ifMatch) {
            throw new AppError('precondition_required', 428, 'Send If-Match with the ETag of the resource as you last read it.');
          }
          const ua = request.headers['user-agent'];
          const result = await spec.handler({
            principal, params, query, body: body as never, ifMatch, request, reply,
            event: { actorId: principal.id, ip: request.ip, userAgent: typeof ua === 'string' ? ua : null },
            stepUp: () => access.requireStepUp(principal),
          });
          if (!spec.response) return reply.code(status).send();
          return reply.code(status).send(spec.response.parse(result));
        } catch (err) {
          if (err instanceof AdminAccessError) {
            const challenge = err.wwwAuthenticate();
            if (challenge) reply.header('www-authenticate', challenge);
            throw new AppError(err.code, err.status, err.description);
          }
          if (err instanceof AdminInvalid) throw new AppError('validation_failed', 400, err.message, err.fields);
          if (err instanceof AdminConflict) throw new AppError('conflict', 409, err.message, err.fields);
          if (err instanceof AdminForbidden) throw new AppError('access_denied', 403, err.message);
          throw err;
        }
      },
    });
  };
}

/**
 * Validates one part of the request. Failures become `validation_failed`
 * with `fields`: the path of each offending field → a stable code, the same
 * codes the registration API uses (docs/errors.md#admin-api-field-codes).
 */
function parse<T extends z.ZodType>(where: 'path' | 'query' | 'body', schema: T | undefined, input: unknown): z.output<T> {
  if (!schema) return {} as z.output<T>;
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields = zodFields(result.error, input, where === 'body' ? 'body' : where);
  // Path parameters that are malformed name nothing that exists.
  if (where === 'path') throw new AppError('not_found', 404, 'Not found.');
  const first = result.error.issues[0]!;
  const description = `Invalid ${where}: ${first.path.join('.') || where}: ${first.message}`;
  throw new AppError('validation_failed', 400, description, fields);
}

/** A strong ETag over a resource's representation: any visible change changes it. */
export function etagOf(representation: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(representation)).digest('base64url').slice(0, 27)}"`;
}

/**
 * RFC 9110 §13.1.1: If-Match compares strongly; `*` matches any current
 * representation. No header is fine unless the route requires one (checked
 * before the handler).
 * @throws AppError 412 precondition_failed
 */
export function checkIfMatch(ifMatch: string | undefined, current: string): void {
  if (ifMatch === undefined) return;
  const tags = ifMatch.split(',').map((t) => t.trim());
  if (tags.includes('*') || tags.includes(current)) return;
  throw new AppError('precondition_failed', 412, 'The resource changed since you read it (If-Match does not match its ETag). Read it again and retry.');
}
