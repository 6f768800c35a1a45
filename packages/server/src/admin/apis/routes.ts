import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { apiSchema } from '../../config/schema.js';
import type { ApiRecord } from '../../oidc/repository.js';
import { checkIfMatch, etagOf } from '../routing.js';
import type { AdminRouter } from '../routing.js';
import { iso, isoTime, listOf, pathId } from '../schemas.js';
import type { ApiAdminService, KeyView } from './service.js';

const scope = 'auth.admin' as const;

const apiView = z.object({
  identifier: z.string(),
  name: z.string(),
  scopes: z.array(z.string()),
  signing_alg: z.string(),
  access_token_ttl: z.number().int(),
  access_token_format: z.enum(['jwt', 'opaque']),
  created_at: isoTime.nullable(),
  updated_at: isoTime.nullable(),
});
const toApiView = (a: ApiRecord): z.infer<typeof apiView> => ({
  identifier: a.identifier, name: a.name, scopes: a.scopes, signing_alg: a.signingAlg, access_token_ttl: a.accessTokenTtl,
  access_token_format: a.accessTokenFormat ?? 'jwt', created_at: iso(a.createdAt), updated_at: iso(a.updatedAt),
});
function sendApi(reply: FastifyReply, api: ApiRecord) {
  const view = toApiView(api);
  reply.header('etag', etagOf(view));
  return view;
}

const apiParams = z.object({ identifier: pathId.describe('The API identifier (a URL), percent-encoded as one path segment.') });
const { identifier: _identifier, ...apiFields } = apiSchema.shape;
const apiPatch = z.strictObject({
  name: apiFields.name.optional(),
  scopes: apiFields.scopes.unwrap().optional(),
  signing_alg: apiFields.signing_alg.unwrap().optional(),
  access_token_ttl: apiFields.access_token_ttl.unwrap().optional(),
  access_token_format: apiFields.access_token_format.unwrap().optional(),
});

const keyView = z.object({
  kid: z.string(),
  alg: z.string(),
  status: z.enum(['active', 'retiring', 'retired']),
  created_at: isoTime,
  retire_at: isoTime.nullable().describe('When a retiring key stops being published.'),
  public_jwk: z.object({ kty: z.string(), kid: z.string().optional(), alg: z.string().optional(), use: z.string().optional(),
    crv: z.string().optional(), x: z.string().optional(), y: z.string().optional(), n: z.string().optional(), e: z.string().optional() })
    .nullable().describe('Public parts only (null once retired).'),
});
/** Only public members are copied: the response schema has no place for a private one (`d`, `p`, `q`…). */
const toKeyView = (k: KeyView): z.input<typeof keyView> => ({
  kid: k.kid, alg: k.alg, status: k.status, created_at: k.createdAt, retire_at: k.retireAt,
  public_jwk: k.publicJwk as z.input<typeof keyView>['public_jwk'],
});

/** APIs and scopes, token lifetimes of APIs, and signing keys (docs/admin.md#apis-and-scopes). */
export function registerApiRoutes(route: AdminRouter, apis: ApiAdminService): void {
  const tag = 'APIs';
  route({
    method: 'GET', path: '/apis', tag, scope, summary: 'List APIs (resource servers)', response: listOf(apiView),
    async handler() {
      return { items: (await apis.list()).map(toApiView) };
    },
  });

  route({
    method: 'POST', path: '/apis', tag, scope, summary: 'Declare an API (platform administrators)',
    body: apiSchema, status: 201, response: apiView, etag: true, errors: [400, 409, 415],
    async handler({ principal, body, event, reply }) {
      const api = await apis.create(principal, body, event);
      reply.header('location', `/api/admin/v1/apis/${encodeURIComponent(api.identifier)}`);
      return sendApi(reply, api);
    },
  });

  route({
    method: 'GET', path: '/apis/:identifier', tag, scope, summary: 'Read an API',
    params: apiParams, response: apiView, etag: true, errors: [404],
    async handler({ params, reply }) {
      return sendApi(reply, await apis.get(params.identifier));
    },
  });

  route({
    method: 'PATCH', path: '/apis/:identifier', tag, scope, summary: 'Change an API\'s name, scopes, signing algorithm or token lifetime (platform administrators)',
    params: apiParams, body: apiPatch, ifMatch: 'required', response: apiView, etag: true, errors: [400, 404, 409, 412, 415, 428],
    async handler({ principal, params, body, ifMatch, event, reply }) {
      const current = await apis.get(params.identifier);
      checkIfMatch(ifMatch, etagOf(toApiView(current)));
      return sendApi(reply, await apis.update(principal, current, body, event));
    },
  });

  route({
    method: 'DELETE', path: '/apis/:identifier', tag, scope, summary: 'Delete an API (platform administrators)',
    description: 'New tokens for it are refused (invalid_target); issued ones stay valid until they expire.',
    params: apiParams, ifMatch: 'optional', errors: [404, 409, 412],
    async handler({ principal, params, ifMatch, event }) {
      const current = await apis.get(params.identifier);
      checkIfMatch(ifMatch, etagOf(toApiView(current)));
      await apis.delete(principal, current, event);
    },
  });

  const keys = 'Signing keys';
  route({
    method: 'GET', path: '/keys', tag: keys, scope, summary: 'List signing keys (platform administrators)',
    description: 'Public parts only: private keys never leave the server.', response: listOf(keyView),
    async handler({ principal }) {
      return { items: (await apis.keys(principal)).map(toKeyView) };
    },
  });

  route({
    method: 'POST', path: '/keys/rotate', tag: keys, scope, summary: 'Rotate the signing keys (platform administrators)', stepUp: 'always',
    description: 'New keys sign from now on; the old ones stay published until every token they signed has expired.',
    response: listOf(keyView),
    async handler({ principal, event, stepUp }) {
      stepUp();
      return { items: (await apis.rotateKeys(principal, event)).map(toKeyView) };
    },
  });
}
