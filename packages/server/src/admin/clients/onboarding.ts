import { z } from 'zod';
import { clientSchema } from '../../config/schema.js';
import type { EventContext } from '../../audit/events.js';
import type { ApiRepository, ClientRecord } from '../../oidc/repository.js';
import { PROTOCOL_PREFIX } from '../../oidc/provider.js';
import type { AdminPrincipal } from '../access.js';
import type { ClientAdminService } from './service.js';

/**
 * Partner onboarding in one step (docs/b2b.md#onboarding-a-partner): one
 * admin call creates the partner's machine client with its API grants
 * (`scope`), IP allowlist and authentication method, and answers with
 * everything the partner needs, once. The client is a single row (grants,
 * allowlist and keys are its metadata), validated in full before it is
 * written, so the call creates all of it or nothing.
 */

const f = clientSchema.shape;
const MACHINE_GRANTS = ['client_credentials', 'password', 'refresh_token'] as const;

export const onboardPartnerBody = z.strictObject({
  client_id: f.client_id,
  client_name: f.client_name.describe('The partner, as administrators and audit entries show it.'),
  tenant: f.tenant.unwrap().optional().describe('Default: the caller\'s tenant.'),
  grant_types: z.array(z.enum(MACHINE_GRANTS, 'must be client_credentials, password or refresh_token')).min(1, 'must name at least one grant type')
    .default(['client_credentials'])
    .describe('client_credentials (default), or password (with refresh_token) for a legacy integration bound to its users.'),
  scope: f.scope.unwrap().describe('The API scopes (and OpenID scopes) the partner may obtain: its API grants.'),
  ip_allowlist: f.ip_allowlist.describe('The partner\'s source addresses (CIDR blocks); enforced at the token endpoint and, through its tokens, at the gateway.'),
  token_endpoint_auth_method: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt'], 'must be client_secret_basic, client_secret_post or private_key_jwt')
    .default('client_secret_basic').describe('A secret returned once, or the partner\'s own keys (private_key_jwt with jwks or jwks_uri).'),
  jwks: f.jwks,
  jwks_uri: f.jwks_uri,
  token_endpoint_auth_signing_alg: f.token_endpoint_auth_signing_alg,
  allowed_users: f.allowed_users,
  allowed_roles: f.allowed_roles,
  access_token_ttl: f.access_token_ttl,
}).superRefine((b, ctx) => {
  if (b.token_endpoint_auth_method === 'private_key_jwt' && !b.jwks && !b.jwks_uri) {
    ctx.addIssue({ code: 'custom', path: ['jwks'], message: 'private_key_jwt needs the partner\'s public keys: jwks or jwks_uri' });
  }
  if (b.grant_types.includes('refresh_token') && !b.grant_types.includes('password')) {
    ctx.addIssue({ code: 'custom', path: ['grant_types'], message: 'refresh_token goes with password (client_credentials needs no refresh token)' });
  }
});
export type OnboardPartnerInput = z.output<typeof onboardPartnerBody>;

export const partnerOnboarded = z.object({
  client_id: z.string(),
  client_name: z.string().optional(),
  tenant: z.string(),
  issuer: z.string().describe('The issuer: the `iss` of tokens, and the `aud` of private_key_jwt assertions.'),
  discovery_url: z.string().describe('OpenID Connect discovery document (`/.well-known/openid-configuration`).'),
  token_endpoint: z.string(),
  token_endpoint_auth_method: z.string(),
  client_secret: z.string().optional().describe('Only with a secret method, and only in this answer: Tessera keeps a digest.'),
  key_registration: z.object({
    jwks_uri: z.string().optional().describe('Where Tessera fetches the partner\'s keys: publish new keys there before using them.'),
    key_ids: z.array(z.string()).describe('The `kid`s of the keys registered inline (jwks); empty with jwks_uri.'),
    assertion_audience: z.string().describe('The `aud` of the partner\'s client assertions.'),
    rotate_with: z.string().describe('How to register another key later.'),
  }).optional().describe('Only for private_key_jwt.'),
  grant_types: z.array(z.string()),
  scope: z.string(),
  apis: z.array(z.object({ resource: z.string(), name: z.string(), scopes: z.array(z.string()) }))
    .describe('Per API: its identifier (send it as `resource`) and the scopes of it the partner may obtain.'),
  ip_allowlist: z.array(z.string()).nullable().describe('null: any address.'),
  allowed_users: z.array(z.string()).optional(),
  allowed_roles: z.array(z.string()).optional(),
});

/**
 * Creates the client through the ordinary client service (same validation:
 * the file's schema, declared API scopes, the engine's own checks) and builds
 * the partner's answer.
 * @throws AdminInvalid, AdminConflict (id taken) from ClientAdminService.create.
 */
export async function onboardPartner(
  deps: { clients: ClientAdminService; apis: ApiRepository; issuer: string },
  principal: AdminPrincipal, input: OnboardPartnerInput, ctx: EventContext,
): Promise<{ client: ClientRecord; answer: z.input<typeof partnerOnboarded> }> {
  const { client, secret } = await deps.clients.create(principal, { ...input }, ctx, () => undefined,
    { onboarding: true, scope: input.scope, ip_allowlist: input.ip_allowlist ?? null, token_endpoint_auth_method: input.token_endpoint_auth_method });
  const granted = new Set(input.scope.split(' '));
  const apis = (await deps.apis.list())
    .map((a) => ({ resource: a.identifier, name: a.name, scopes: a.scopes.filter((s) => granted.has(s)) }))
    .filter((a) => a.scopes.length > 0);
  const issuer = deps.issuer;
  const keys = input.token_endpoint_auth_method === 'private_key_jwt'
    ? {
      ...(input.jwks_uri ? { jwks_uri: input.jwks_uri } : {}),
      key_ids: (input.jwks?.keys ?? []).map((k) => (k as { kid?: unknown }).kid).filter((k): k is string => typeof k === 'string'),
      assertion_audience: issuer,
      rotate_with: input.jwks_uri
        ? 'Publish the new key at jwks_uri a minute before signing with it; remove the old one afterwards.'
        : `Send the new public key to your administrator (PATCH /api/admin/v1/clients/${client.clientId}, field jwks, old and new key together).`,
    }
    : undefined;
  return {
    client,
    answer: {
      client_id: client.clientId,
      ...(input.client_name ? { client_name: input.client_name } : {}),
      tenant: client.tenantId,
      issuer,
      discovery_url: `${issuer}/.well-known/openid-configuration`,
      token_endpoint: `${issuer}${PROTOCOL_PREFIX}/token`,
      token_endpoint_auth_method: input.token_endpoint_auth_method,
      ...(secret ? { client_secret: secret } : {}),
      ...(keys ? { key_registration: keys } : {}),
      grant_types: input.grant_types,
      scope: input.scope,
      apis,
      ip_allowlist: input.ip_allowlist ?? null,
      ...(input.allowed_users ? { allowed_users: input.allowed_users } : {}),
      ...(input.allowed_roles ? { allowed_roles: input.allowed_roles } : {}),
    },
  };
}
