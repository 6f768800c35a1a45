import { z } from 'zod';
import type { AdminEmit } from '../admin/audit.js';
import type { AdminRouter } from '../admin/routing.js';
import { idSchema, iso, isoTime, listOf, pathId } from '../admin/schemas.js';
import { visible, visibleTenant } from '../admin/tenancy.js';
import { AdminInvalid } from '../admin/errors.js';
import type { TenantRepository } from '../identity/repository.js';
import { DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS, PROVISIONING_SCOPES } from './tokens.js';
import type { ApiToken, ApiTokenStore } from './tokens.js';

const scope = 'identity.admin' as const;

const tokenView = z.object({
  id: z.string(),
  tenant: z.string(),
  name: z.string(),
  hint: z.string().describe('The token\'s first characters, to tell tokens apart.'),
  scopes: z.array(z.enum(PROVISIONING_SCOPES)),
  created_by: z.string().nullable(),
  created_at: isoTime,
  expires_at: isoTime,
  revoked_at: isoTime.nullable(),
  last_used_at: isoTime.nullable().describe('Updated at most once a minute.'),
  status: z.enum(['active', 'expired', 'revoked']),
});

function toView(t: ApiToken, now = Date.now()): z.infer<typeof tokenView> {
  return {
    id: t.id, tenant: t.tenantId, name: t.name, hint: t.hint, scopes: t.scopes, created_by: t.createdBy,
    created_at: iso(t.createdAt)!, expires_at: iso(t.expiresAt)!, revoked_at: iso(t.revokedAt), last_used_at: iso(t.lastUsedAt),
    status: t.revokedAt !== null ? 'revoked' : t.expiresAt <= now ? 'expired' : 'active',
  };
}

export interface ApiTokenRouteDeps {
  tokens: ApiTokenStore;
  tenants: TenantRepository;
  emit: AdminEmit;
}

/**
 * API tokens for the provisioning APIs (docs/provisioning.md#api-tokens):
 * list, create (the token is in this answer only), revoke. Creating one
 * hands out a credential, so it needs a recent multi-factor sign-in.
 */
export function registerApiTokenRoutes(route: AdminRouter, deps: ApiTokenRouteDeps): void {
  const tag = 'API tokens';
  route({
    method: 'GET', path: '/api-tokens', tag, scope, summary: 'List API tokens of a tenant',
    query: z.object({ tenant: idSchema.optional() }),
    response: listOf(tokenView),
    async handler({ principal, query }) {
      const tenantId = visibleTenant(principal, query.tenant);
      return { items: (await deps.tokens.list(tenantId)).map((t) => toView(t)) };
    },
  });

  route({
    method: 'POST', path: '/api-tokens', tag, scope, stepUp: 'always', summary: 'Create an API token (shown once)',
    description: 'The answer\'s `token` is the only time the token is shown: only a keyed digest is stored.',
    body: z.strictObject({
      name: z.string().trim().min(1).max(128),
      tenant: idSchema.optional(),
      scopes: z.array(z.enum(PROVISIONING_SCOPES)).min(1).max(PROVISIONING_SCOPES.length),
      expires_in_days: z.number().int().min(1).max(MAX_TOKEN_DAYS).default(DEFAULT_TOKEN_DAYS),
    }),
    status: 201, response: tokenView.extend({ token: z.string().describe('Shown only in this answer.') }), errors: [400, 415],
    async handler({ principal, body, event, stepUp, reply }) {
      const tenantId = visibleTenant(principal, body.tenant);
      if (!(await deps.tenants.findById(tenantId))) throw new AdminInvalid({ tenant: 'unknown_tenant' });
      stepUp();
      const { token, record } = await deps.tokens.create({ tenantId, name: body.name, scopes: body.scopes, days: body.expires_in_days, createdBy: principal.id });
      await deps.emit('api_token.created', principal, { tenantId, subjectId: null }, event,
        { target: 'api_token', api_token: record.id, name: record.name, scopes: record.scopes, expires_at: iso(record.expiresAt) });
      reply.header('location', `/api/admin/v1/api-tokens/${record.id}`);
      return { ...toView(record), token };
    },
  });

  route({
    method: 'GET', path: '/api-tokens/:id', tag, scope, summary: 'Read an API token (never the token itself)',
    params: z.object({ id: pathId }), response: tokenView, errors: [404],
    async handler({ principal, params }) {
      return toView(visible(principal, await deps.tokens.find(params.id), 'api_token', params.id));
    },
  });

  route({
    method: 'DELETE', path: '/api-tokens/:id', tag, scope, summary: 'Revoke an API token',
    description: 'Takes effect at once, on every instance (each call looks the token up). Revoking twice is fine.',
    params: z.object({ id: pathId }), errors: [404],
    async handler({ principal, params, event }) {
      const token = visible(principal, await deps.tokens.find(params.id), 'api_token', params.id);
      if (await deps.tokens.revoke(token.id)) {
        await deps.emit('api_token.revoked', principal, { tenantId: token.tenantId, subjectId: null }, event,
          { target: 'api_token', api_token: token.id, name: token.name });
      }
    },
  });
}
