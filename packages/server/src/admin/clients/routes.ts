import type { FastifyReply } from 'fastify';
import type { ClientRecord } from '../../oidc/repository.js';
import { iso, listOf } from '../schemas.js';
import { checkIfMatch, etagOf } from '../routing.js';
import type { AdminRouter } from '../routing.js';
import type { ClientAdminService } from './service.js';
import type { ApiRepository } from '../../oidc/repository.js';
import { onboardPartner, onboardPartnerBody, partnerOnboarded } from './onboarding.js';
import {
  clientParams, clientView, clientWithSecret, createClientBody, patchClientBody, rotateBody, rotateResponse, toClientView,
} from './schemas.js';

const tag = 'Clients';
const scope = 'auth.admin' as const;

function sendClient(reply: FastifyReply, client: ClientRecord, secret?: string) {
  const view = toClientView(client);
  reply.header('etag', etagOf(view));
  return secret ? { ...view, client_secret: secret } : view;
}

/** Clients: metadata, consent policy (`first_party`), token lifetimes, secrets (docs/admin.md#clients). */
export function registerClientRoutes(route: AdminRouter, clients: ClientAdminService, onboarding: { apis: ApiRepository; issuer: string }): void {
  route({
    method: 'GET', path: '/clients', tag, scope, summary: 'List clients', description: 'A tenant administrator sees their tenant\'s clients only.',
    response: listOf(clientView),
    async handler({ principal }) {
      return { items: (await clients.list(principal)).map((c) => toClientView(c)) };
    },
  });

  route({
    method: 'POST', path: '/clients', tag, scope, summary: 'Register a client', stepUp: 'conditional',
    description: 'The configuration file\'s client fields. A confidential client\'s secret is generated and returned in this answer only. '
      + 'A first-party client, or one granted admin_scopes, needs step-up.',
    body: createClientBody, status: 201, response: clientWithSecret, etag: true, errors: [400, 409, 415],
    async handler({ principal, body, event, stepUp, reply }) {
      const { client, secret } = await clients.create(principal, body, event, stepUp);
      reply.header('location', `/api/admin/v1/clients/${encodeURIComponent(client.clientId)}`);
      return sendClient(reply, client, secret);
    },
  });

  route({
    method: 'POST', path: '/partners', tag, scope, summary: 'Onboard a partner in one step',
    description: 'Creates the partner\'s machine client with its API grants (scope), IP allowlist and authentication method, '
      + 'and answers with everything the partner needs: client_id, the secret (once) or how its keys are registered, issuer, '
      + 'token endpoint, scopes per API, allowed addresses (docs/b2b.md#onboarding-a-partner). Audited as client.created with onboarding: true.',
    body: onboardPartnerBody, status: 201, response: partnerOnboarded, errors: [400, 409, 415],
    async handler({ principal, body, event, reply }) {
      const { client, answer } = await onboardPartner({ clients, ...onboarding }, principal, body, event);
      reply.header('location', `/api/admin/v1/clients/${encodeURIComponent(client.clientId)}`);
      reply.header('cache-control', 'no-store');
      return answer;
    },
  });

  route({
    method: 'GET', path: '/clients/:id', tag, scope, summary: 'Read a client',
    params: clientParams, response: clientView, etag: true, errors: [404],
    async handler({ principal, params, reply }) {
      return sendClient(reply, await clients.get(principal, params.id));
    },
  });

  route({
    method: 'PATCH', path: '/clients/:id', tag, scope, summary: 'Change a client', stepUp: 'conditional',
    description: 'Absent fields stay; null clears. Changing redirect URIs, grants, authentication, scope, consent policy (first_party), '
      + 'tenant, admin_scopes, mfa, ip_allowlist, attribute_claims, attribute_source, keys (jwks, jwks_uri), app assignment (allowed_users, allowed_roles), resource_server or token_exchange needs step-up. Lifetimes (access_token_ttl, id_token_ttl, refresh_token_ttl) and the name do not.',
    params: clientParams, body: patchClientBody, ifMatch: 'required', response: clientView, etag: true, errors: [400, 404, 409, 412, 415, 428],
    async handler({ principal, params, body, ifMatch, event, stepUp, reply }) {
      const current = await clients.get(principal, params.id);
      checkIfMatch(ifMatch, etagOf(toClientView(current)));
      return sendClient(reply, await clients.update(principal, current, body, event, stepUp));
    },
  });

  route({
    method: 'DELETE', path: '/clients/:id', tag, scope, summary: 'Delete a client',
    description: 'Its tokens stop working at once (the engine no longer finds the client).',
    params: clientParams, ifMatch: 'optional', errors: [404, 409, 412],
    async handler({ principal, params, ifMatch, event }) {
      const current = await clients.get(principal, params.id);
      checkIfMatch(ifMatch, etagOf(toClientView(current)));
      await clients.delete(principal, current, event);
    },
  });

  route({
    method: 'POST', path: '/clients/:id/secret', tag, scope, summary: 'Rotate a client\'s secret', stepUp: 'always',
    description: 'Returns the new secret once. The previous one keeps working for overlap_seconds (default one day).',
    params: clientParams, body: rotateBody.optional(), ifMatch: 'optional', response: rotateResponse, errors: [404, 409, 412, 415],
    async handler({ principal, params, body, ifMatch, event, stepUp, reply }) {
      stepUp();
      const current = await clients.get(principal, params.id);
      checkIfMatch(ifMatch, etagOf(toClientView(current)));
      const { client, secret } = await clients.rotateSecret(principal, current, body?.overlap_seconds ?? 86_400, event);
      reply.header('etag', etagOf(toClientView(client)));
      return { client_id: client.clientId, client_secret: secret, previous_secret_expires_at: iso(client.previousSecret?.expiresAt) };
    },
  });
}
