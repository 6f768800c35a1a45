import { z } from 'zod';
import type { AdminScope } from './access.js';

/** What the OpenAPI document needs to know of one admin route; routing.ts records it as the route is registered. */
export interface RouteDoc {
  method: string;
  /** Relative to the base path, Fastify style (`/users/:id`). */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  scope: AdminScope;
  stepUp?: 'always' | 'conditional';
  ifMatch?: 'required' | 'optional';
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  status: number;
  response?: z.ZodType;
  /** Whether the success response carries an ETag. */
  etag?: boolean;
  errors: number[];
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input: `validation_failed` with `fields` (field → stable code), or `invalid_request`.',
  401: '`invalid_token` (missing, expired, not for this API), or `insufficient_user_authentication` (RFC 9470 step-up; see WWW-Authenticate).',
  403: '`insufficient_scope`, or `access_denied` (not an administrator of this tenant, or a platform-only operation).',
  404: '`not_found`: unknown id, or one in a tenant the caller does not administer.',
  409: '`conflict`: the write conflicts with existing data (a taken email, username or id; a built-in entry).',
  412: '`precondition_failed`: If-Match does not match the current ETag.',
  415: '`unsupported_media_type`: bodies are application/json.',
  428: '`precondition_required`: this write needs If-Match.',
};

const errorSchema = {
  type: 'object',
  required: ['error', 'error_description'],
  properties: {
    error: { type: 'string', description: 'Stable code (docs/errors.md).' },
    error_description: { type: 'string' },
    fields: { type: 'object', additionalProperties: { type: 'string' }, description: 'Field path → stable code (validation_failed).' },
  },
};

/** JSON Schema (2020-12, which OpenAPI 3.1 uses) of a zod schema, as a request (input) or a response (output) sees it. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}

const openApiPath = (path: string) => path.replace(/:([A-Za-z_]+)/g, '{$1}');
const operationId = (method: string, path: string) => method.toLowerCase() + path.split('/').filter(Boolean)
  .map((seg) => seg.replace(/^:/, 'by_')).map((seg) => seg.replace(/(^|[_-])([a-z])/g, (_, _s, c: string) => c.toUpperCase())).join('');

/**
 * The routes of the admin APIs, and the OpenAPI 3.1 document generated from
 * their zod schemas: the same schemas validate requests and responses, so
 * the document cannot drift from what the API does.
 */
export class OpenApiRegistry {
  private readonly routes: RouteDoc[] = [];
  private cached?: Record<string, unknown>;

  add(doc: RouteDoc): void {
    this.routes.push(doc);
    this.cached = undefined;
  }

  /** `METHOD /path` of every documented route (Fastify-style paths, relative to the base). */
  list(): string[] {
    return this.routes.map((r) => `${r.method} ${r.path}`);
  }

  document(issuer: string, basePath: string): Record<string, unknown> {
    this.cached ??= this.build(issuer, basePath);
    return this.cached;
  }

  private build(issuer: string, basePath: string): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.routes) {
      const path = openApiPath(r.path);
      paths[path] ??= {};
      paths[path][r.method.toLowerCase()] = this.operation(r);
    }
    const scopes = {
      'identity.admin': 'Identity administration: users, tenants, memberships, roles, sessions, audit log.',
      'auth.admin': 'Authorization-server administration: clients, APIs and scopes, token lifetimes, signing keys.',
    };
    return {
      openapi: '3.1.0',
      info: {
        title: 'Tessera admin API',
        version: '1',
        description: 'Identity and authorization-server administration. Bearer JWT access tokens issued by this Tessera for '
          + `the audience ${issuer}/api/admin. Sensitive operations (x-tessera-step-up) need a recent multi-factor sign-in (RFC 9470). See docs/admin.md.`,
      },
      servers: [{ url: `${issuer}${basePath}` }],
      security: [{ oauth2: [] }],
      tags: [...new Set(this.routes.map((r) => r.tag))].map((name) => ({ name })),
      components: {
        securitySchemes: {
          oauth2: {
            type: 'oauth2',
            description: `Send resource=${issuer}/api/admin in the token (or authorization) request.`,
            flows: {
              authorizationCode: { authorizationUrl: `${issuer}/oidc/auth`, tokenUrl: `${issuer}/oidc/token`, scopes },
              clientCredentials: { tokenUrl: `${issuer}/oidc/token`, scopes },
            },
          },
        },
        schemas: { Error: errorSchema },
      },
      paths,
    };
  }

  private operation(r: RouteDoc): Record<string, unknown> {
    const parameters: Record<string, unknown>[] = [];
    const addParams = (schema: z.ZodObject | undefined, location: 'path' | 'query') => {
      for (const [name, field] of Object.entries(schema?.shape ?? {})) {
        const f = field as z.ZodType;
        parameters.push({
          name, in: location, required: location === 'path' || !f.safeParse(undefined).success,
          ...(f.description ? { description: f.description } : {}), schema: jsonSchema(f, 'input'),
        });
      }
    };
    addParams(r.params, 'path');
    addParams(r.query, 'query');
    if (r.ifMatch) {
      parameters.push({
        name: 'If-Match', in: 'header', required: r.ifMatch === 'required', schema: { type: 'string' },
        description: 'The ETag of the resource as last read; the write fails with 412 if it changed since.',
      });
    }
    const responses: Record<string, unknown> = {
      [String(r.status)]: {
        description: r.response ? 'Success.' : 'Success, no content.',
        ...(r.etag ? { headers: { ETag: { schema: { type: 'string' }, description: 'Send it back in If-Match to edit.' } } } : {}),
        ...(r.response ? { content: { 'application/json': { schema: jsonSchema(r.response, 'output') } } } : {}),
      },
    };
    for (const status of [...new Set([401, 403, ...r.errors])].sort()) {
      responses[String(status)] = {
        description: ERROR_DESCRIPTIONS[status] ?? 'Error.',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    }
    return {
      operationId: operationId(r.method, r.path),
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: [r.tag],
      security: [{ oauth2: [r.scope] }],
      'x-tessera-scope': r.scope,
      ...(r.stepUp ? { 'x-tessera-step-up': r.stepUp } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } } } : {}),
      responses,
    };
  }
}
