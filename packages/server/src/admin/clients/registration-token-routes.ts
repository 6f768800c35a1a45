import { z } from 'zod';
import type { AdminEmit } from '../audit.js';
import type { AdminRouter } from '../routing.js';
import { idSchema, iso, isoTime, listOf, pathId } from '../schemas.js';
import { visible, visibleTenant } from '../tenancy.js';
import { AdminInvalid } from '../errors.js';
import type { TenantRepository } from '../../identity/repository.js';
import type { ApiRepository } from '../../oidc/repository.js';
import type { RegistrationToken, RegistrationTokenStore } from '../../oidc/dynamic-registration/tokens.js';

/**
 * Initial access tokens for dynamic client registration (RFC 7591 §3;
 * docs/b2b.md#initial-access-tokens): per tenant, shown once, stored as a
 * digest, revocable. A client registered with one belongs to its tenant and
 * may obtain the API scopes it lists.
 */

const scope = 'auth.admin' as const;
const tag = 'Clients';

const tokenView = z.object({
  id: z.string(),
  tenant: z.string(),
  description: z.string().nullable(),
  scope: z.string().nullable().describe('API scopes the clients registered with this token may obtain.'),
  max_uses: z.number().int().nullable().describe('null: any number of registrations.'),
  uses: z.number().int(),
  created_by: z.string().nullable(),
  created_at: isoTime,
  expires_at: isoTime.nullable(),
  revoked_at: isoTime.nullable(),
  status: z.enum(['active', 'expired', 'used_up', 'revoked']),
});

function toView(t: RegistrationToken, now = Date.now()): z.infer<typeof tokenView> {
  const status = t.revokedAt !== null ? 'revoked' : t.expiresAt !== null && t.expiresAt <= now ? 'expired'
    : t.maxUses !== null && t.uses >= t.maxUses ? 'used_up' : 'active';
  return {
    id: t.id, tenant: t.tenantId, description: t.description, scope: t.scope, max_uses: t.maxUses, uses: t.uses, created_by: t.createdBy,
    created_at: iso(t.createdAt)!, expires_at: iso(t.expiresAt), revoked_at: iso(t.revokedAt), status,
  };
}

export interface RegistrationTokenRouteDeps {
  tokens: RegistrationTokenStore;
  tenants: TenantRepository;
  apis: ApiRepository;
  emit: AdminEmit;
}

export function registerRegistrationTokenRoutes(route: AdminRouter, deps: RegistrationTokenRouteDeps): void {
  route({
    method: 'GET', path: '/registration-tokens', tag, scope, summary: 'List initial access tokens for dynamic registration',
    query: z.object({ tenant: idSchema.optional() }),
    response: listOf(tokenView),
    async handler({ principal, query }) {
      return { items: (await deps.tokens.list([visibleTenant(principal, query.tenant)])).map((t) => toView(t)) };
    },
  });

  route({
    method: 'POST', path: '/registration-tokens', tag, scope, stepUp: 'always', summary: 'Create an initial access token (shown once)',
    description: 'The answer\'s `token` is the only time it is shown: only its SHA-256 digest is stored. Clients registered with it '
      + 'belong to its tenant and may obtain the API scopes in `scope`.',
    body: z.strictObject({
      tenant: idSchema.optional(),
      description: z.string().trim().min(1).max(256).optional(),
      scope: z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, 'must be scope tokens separated by single spaces').optional()
        .describe('API scopes (declared by APIs) granted to the clients registered with this token.'),
      max_uses: z.number().int().min(1).max(1_000_000).optional().describe('Registrations allowed with it; absent: unlimited.'),
      expires_in_days: z.number().int().min(1).max(365).default(30),
    }),
    status: 201, response: tokenView.extend({ token: z.string().describe('Shown only in this answer.') }), errors: [400, 415],
    async handler({ principal, body, event, stepUp, reply }) {
      const tenantId = visibleTenant(principal, body.tenant);
      if (!(await deps.tenants.findById(tenantId))) throw new AdminInvalid({ tenant: 'unknown_tenant' });
      if (body.scope) {
        const declared = new Set((await deps.apis.list()).flatMap((a) => a.scopes));
        const unknown = body.scope.split(' ').filter((x) => !declared.has(x));
        if (unknown.length) throw new AdminInvalid({ scope: 'invalid' }, `scope names ${unknown.join(' ')}, which no API declares`);
      }
      stepUp();
      const { token, value } = await deps.tokens.create({
        tenantId, description: body.description, scope: body.scope, maxUses: body.max_uses,
        expiresAt: Date.now() + body.expires_in_days * 86_400_000, createdBy: principal.id,
      });
      await deps.emit('registration_token.created', principal, { tenantId, subjectId: null }, event,
        { target: 'registration_token', registration_token: token.id, scope: token.scope, max_uses: token.maxUses, expires_at: iso(token.expiresAt) });
      reply.header('location', `/api/admin/v1/registration-tokens/${token.id}`);
      reply.header('cache-control', 'no-store');
      return { ...toView(token), token: value };
    },
  });

  route({
    method: 'GET', path: '/registration-tokens/:id', tag, scope, summary: 'Read an initial access token (never the token itself)',
    params: z.object({ id: pathId }), response: tokenView, errors: [404],
    async handler({ principal, params }) {
      return toView(visible(principal, await deps.tokens.find(params.id), 'registration_token', params.id));
    },
  });

  route({
    method: 'DELETE', path: '/registration-tokens/:id', tag, scope, summary: 'Revoke an initial access token',
    description: 'No further registrations with it, on every instance. Clients already registered stay. Revoking twice is fine.',
    params: z.object({ id: pathId }), errors: [404],
    async handler({ principal, params, event }) {
      const token = visible(principal, await deps.tokens.find(params.id), 'registration_token', params.id);
      if (await deps.tokens.revoke(token.id)) {
        await deps.emit('registration_token.revoked', principal, { tenantId: token.tenantId, subjectId: null }, event,
          { target: 'registration_token', registration_token: token.id });
      }
    },
  });
}
