import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../http/errors.js';
import type { ClientKeyStore } from './client-keys.js';
import type { ProviderRegistry, StoredProvider } from './providers.js';

/** Where a provider's public client keys are published: the JWKS URL to register at the upstream. */
export const clientJwksPath = (alias: string) => `/federation/${alias}/jwks`;

/** Round-trip providers (oidc, oauth2, mock) that authenticate at the upstream with a key Tessera holds. */
export const usesClientKeys = (p: Pick<StoredProvider, 'type' | 'settings'>) =>
  (p.type === 'oidc' || p.type === 'oauth2' || p.type === 'mock') && p.settings.client_auth === 'private_key_jwt';

const aliasParams = z.object({ alias: z.string().min(1).max(63) });

/**
 * GET /federation/{alias}/jwks (docs/federation.md#private_key_jwt): the
 * public keys the upstream verifies Tessera's client assertions with. Served
 * for disabled providers too (registered upstream before being switched on);
 * 404 for a provider that does not use private_key_jwt. Public parts only.
 */
export function registerClientKeyRoutes(app: FastifyInstance, deps: { registry: ProviderRegistry; keys: ClientKeyStore }): void {
  app.get('/federation/:alias/jwks', async (request, reply) => {
    const params = aliasParams.safeParse(request.params);
    const p = params.success ? await deps.registry.get(params.data.alias) : undefined;
    if (!p || !usesClientKeys(p)) throw new AppError('not_found', 404, 'No such key set.');
    // Short caching: an upstream sees a rotation within minutes even without refetching on an unknown kid.
    return reply.type('application/jwk-set+json').header('cache-control', 'public, max-age=300').send(await deps.keys.publicJwks(p.alias));
  });
}
