import { z } from 'zod';
import { AppError } from '../http/errors.js';
import { ConflictError } from '../storage/errors.js';
import type { AdminEmit } from '../admin/audit.js';
import type { AdminPrincipal } from '../admin/access.js';
import { AdminConflict, AdminForbidden, AdminInvalid } from '../admin/errors.js';
import type { AdminRouter } from '../admin/routing.js';
import { checkIfMatch, etagOf } from '../admin/routing.js';
import { iso, isoTime, listOf, pathId } from '../admin/schemas.js';
import type { TenantRepository } from '../identity/repository.js';
import { PROVIDER_TYPES } from './provider-config.js';
import { acsPath, metadataPath, spEntityId } from './saml/sp.js';
import { declarationOf, ProviderInvalid } from './providers.js';
import type { ProviderRegistry, StoredProvider } from './providers.js';
import { DEFAULT_OVERLAP_SECONDS, MAX_OVERLAP_SECONDS } from './client-keys.js';
import type { ClientKeyStore } from './client-keys.js';
import { clientJwksPath, usesClientKeys } from './client-key-routes.js';

/** The path of a provider's callback at Tessera: the redirect URI to register at the upstream. */
export const callbackPath = (alias: string) => `/federation/${alias}/callback`;

const providerView = z.looseObject({
  alias: z.string(),
  type: z.string().describe('oidc, oauth2, mock, ldap or saml.'),
  display_name: z.string(),
  enabled: z.boolean(),
  tenants: z.array(z.string()),
  secrets_set: z.array(z.string()).describe('The secret fields that have a value (secrets are write-only: never returned).'),
  redirect_uri: z.string().describe('The redirect URI to register at the upstream: {issuer}/federation/{alias}/callback; for saml the ACS, {issuer}/federation/{alias}/saml/acs.'),
  client_jwks_uri: z.string().optional().describe('client_auth private_key_jwt only: the JWKS URL to register at the upstream, {issuer}/federation/{alias}/jwks (public keys of the key Tessera holds; the private key is never returned).'),
  saml_metadata_url: z.string().optional().describe('saml only: the SP metadata to give the IdP, {issuer}/federation/{alias}/saml/metadata.'),
  saml_sp_entity_id: z.string().optional().describe('saml only: Tessera\'s entity id at the IdP (sp_entity_id, or the metadata URL).'),
  source: z.enum(['file', 'api']).describe('file: declared in the configuration file (re-applied at every start, not editable here).'),
  created_at: isoTime,
  updated_at: isoTime,
}).describe('Every field of the provider\'s declaration (docs/federation.md#fields) except its secrets.');

const declaration = z.record(z.string(), z.unknown())
  .describe('A provider declaration, as under identity_providers in the configuration file (docs/federation.md#fields).');
const aliasParams = z.object({ alias: pathId });
const clientKey = z.object({
  kid: z.string(),
  alg: z.string(),
  status: z.enum(['next', 'active', 'retiring']).describe('next: published, not yet signing (staged); active: signs client assertions; retiring: still published until retire_at.'),
  created_at: isoTime,
  retire_at: isoTime.nullable(),
});
const clientKeys = z.object({ jwks_uri: z.string(), items: z.array(clientKey) });
const rotateBody = z.strictObject({
  stage: z.boolean().default(false).describe('true: add a next key (published, not signing) to register first at an upstream that pins keys; the next rotation activates it.'),
  overlap_seconds: z.number().int().min(0).max(MAX_OVERLAP_SECONDS).default(DEFAULT_OVERLAP_SECONDS)
    .describe('How long the previous active key stays published (default one day, at most 30 days).'),
}).default({ stage: false, overlap_seconds: DEFAULT_OVERLAP_SECONDS });
/** Fields whose change alters how Tessera authenticates at the upstream: step-up, like a secret. */
const CLIENT_AUTH_FIELDS = ['client_auth', 'client_assertion_audience'];

/**
 * Identity providers in the admin API (scope auth.admin; docs/federation.md#admin-api).
 * Secrets are write-only. Creating a provider, changing or setting a
 * secret, and deleting one need step-up (they change who can sign in as
 * whom). A tenant administrator manages providers that serve only their
 * tenant; platform administrators manage all.
 */
export function registerProviderAdminRoutes(route: AdminRouter, deps: {
  registry: ProviderRegistry; tenants: Pick<TenantRepository, 'findById'>; issuer: string; emit: AdminEmit; keys: ClientKeyStore;
}): void {
  const { registry, issuer, emit, keys } = deps;
  const tag = 'Identity providers';
  const scope = 'auth.admin' as const;
  const view = (p: StoredProvider) => {
    const { settings, secrets, source, createdAt, updatedAt, ...common } = p;
    return {
      ...common, ...settings, secrets_set: Object.keys(secrets).sort(),
      redirect_uri: p.type === 'saml' ? `${issuer}${acsPath(p.alias)}` : `${issuer}${callbackPath(p.alias)}`,
      ...(usesClientKeys(p) ? { client_jwks_uri: `${issuer}${clientJwksPath(p.alias)}` } : {}),
      ...(p.type === 'saml' ? { saml_metadata_url: `${issuer}${metadataPath(p.alias)}`, saml_sp_entity_id: spEntityId({ alias: p.alias, issuer, settings: p.settings }) } : {}),
      source, created_at: iso(createdAt)!, updated_at: iso(updatedAt)!,
    };
  };
  const mayManage = (principal: AdminPrincipal, tenants: readonly string[]) => principal.platform || tenants.every((t) => t === principal.tenantId);
  const find = async (principal: AdminPrincipal, alias: string) => {
    const p = await registry.get(alias);
    if (!p || !(principal.platform || p.tenants.includes(principal.tenantId))) throw new AppError('not_found', 404, 'No such identity provider.');
    return p;
  };
  const invalid = (err: ProviderInvalid) => new AdminInvalid(
    Object.fromEntries(err.issues.map((i) => [i.path.join('.') || 'body', i.code])), err.message.replace(/^invalid identity provider: /, ''));
  const checkTenants = async (principal: AdminPrincipal, tenants: readonly string[]) => {
    if (!mayManage(principal, tenants)) throw new AdminForbidden('A tenant administrator manages providers that serve only their own tenant.');
    for (const [i, t] of tenants.entries()) {
      if (!(await deps.tenants.findById(t))) throw new AdminInvalid({ [`tenants.${i}`]: 'unknown_tenant' }, `Unknown tenant "${t}".`);
    }
  };
  const secretFields = (type: string) => PROVIDER_TYPES[type]?.secrets ?? [];

  route({
    method: 'GET', path: '/identity-providers', tag, scope, summary: 'List identity providers',
    description: 'A tenant administrator sees the providers that serve their tenant.',
    response: listOf(providerView),
    async handler({ principal }) {
      return { items: (await registry.list()).filter((p) => principal.platform || p.tenants.includes(principal.tenantId)).map(view) };
    },
  });

  route({
    method: 'POST', path: '/identity-providers', tag, scope, summary: 'Add an identity provider', stepUp: 'always',
    description: 'The body is a declaration as in the configuration file. Secrets are stored encrypted and never returned. Needs step-up.',
    body: declaration, status: 201, response: providerView, etag: true, errors: [400, 409, 415],
    async handler({ principal, body, event, stepUp, reply }) {
      stepUp();
      const tenants = Array.isArray(body.tenants) ? body.tenants.map(String) : ['default'];
      await checkTenants(principal, tenants);
      let created: StoredProvider;
      try {
        created = await registry.create(body, 'api');
      } catch (err) {
        if (err instanceof ProviderInvalid) throw invalid(err);
        if (err instanceof ConflictError) throw new AdminConflict('An identity provider with this alias exists.', { alias: 'taken' });
        throw err;
      }
      await emit('identity_provider.created', principal, { tenantId: created.tenants[0] ?? null, subjectId: created.alias }, event,
        { target: 'identity_provider', type: created.type, secrets_set: Object.keys(created.secrets).sort() });
      reply.header('location', `/api/admin/v1/identity-providers/${created.alias}`);
      const v = view(created);
      reply.header('etag', etagOf(v));
      return v;
    },
  });

  route({
    method: 'GET', path: '/identity-providers/:alias', tag, scope, summary: 'Read an identity provider',
    params: aliasParams, response: providerView, etag: true, errors: [404],
    async handler({ principal, params, reply }) {
      const v = view(await find(principal, params.alias));
      reply.header('etag', etagOf(v));
      return v;
    },
  });

  route({
    method: 'PATCH', path: '/identity-providers/:alias', tag, scope, summary: 'Change an identity provider', stepUp: 'conditional',
    description: 'Absent fields stay; null removes an optional field (back to its default). A secret field sets a new secret (needs step-up); '
      + 'absent, the stored secret stays. Providers declared in the configuration file are changed there (409).',
    params: aliasParams, body: declaration, ifMatch: 'optional', response: providerView, etag: true, errors: [400, 404, 409, 412, 415],
    async handler({ principal, params, body, ifMatch, event, stepUp, reply }) {
      const current = await find(principal, params.alias);
      checkIfMatch(ifMatch, etagOf(view(current)));
      if (current.source === 'file') throw new AdminConflict('This provider is declared in the configuration file: change it there.', { alias: 'declared_in_file' });
      if ('alias' in body && body.alias !== current.alias) throw new AdminInvalid({ alias: 'immutable' }, 'The alias cannot change (it is part of the redirect URI).');
      if ('type' in body && body.type !== current.type) throw new AdminInvalid({ type: 'immutable' }, 'The type cannot change; add a new provider.');
      const secretsChanged = secretFields(current.type).filter((k) => k in body);
      const authChanged = CLIENT_AUTH_FIELDS.filter((k) => k in body && body[k] !== current.settings[k]);
      if (secretsChanged.length || authChanged.length) stepUp();
      // Stored secrets are kept by the registry unless the body sets new ones.
      const merged: Record<string, unknown> = Object.fromEntries(Object.entries(declarationOf(current)).filter(([k]) => !secretFields(current.type).includes(k)));
      for (const [k, v] of Object.entries(body)) {
        if (v === null) delete merged[k];
        else merged[k] = v;
      }
      await checkTenants(principal, Array.isArray(merged.tenants) ? merged.tenants.map(String) : ['default']);
      let updated: StoredProvider;
      try {
        updated = await registry.replace(current, merged);
      } catch (err) {
        if (err instanceof ProviderInvalid) throw invalid(err);
        throw err;
      }
      await emit('identity_provider.updated', principal, { tenantId: updated.tenants[0] ?? null, subjectId: updated.alias }, event,
        { target: 'identity_provider', fields: Object.keys(body).sort(), ...(secretsChanged.length ? { secrets_changed: secretsChanged } : {}) });
      const v = view(updated);
      reply.header('etag', etagOf(v));
      return v;
    },
  });

  route({
    method: 'DELETE', path: '/identity-providers/:alias', tag, scope, summary: 'Remove an identity provider', stepUp: 'always',
    description: 'Its links stay (a provider added again under the same alias finds them). Providers declared in the configuration file are removed there (409). Needs step-up.',
    params: aliasParams, errors: [404, 409],
    async handler({ principal, params, event, stepUp }) {
      stepUp();
      const current = await find(principal, params.alias);
      if (!mayManage(principal, current.tenants)) throw new AdminForbidden('This provider serves other tenants too.');
      if (current.source === 'file') throw new AdminConflict('This provider is declared in the configuration file: remove it there.', { alias: 'declared_in_file' });
      await registry.delete(current.alias);
      // Its private_key_jwt keys go with it: a provider added again under the alias gets a new key.
      await keys.remove(current.alias);
      await emit('identity_provider.deleted', principal, { tenantId: current.tenants[0] ?? null, subjectId: current.alias }, event, { target: 'identity_provider' });
    },
  });

  const keyed = async (principal: AdminPrincipal, alias: string) => {
    const p = await find(principal, alias);
    if (!usesClientKeys(p)) throw new AppError('not_found', 404, 'This provider does not authenticate with private_key_jwt (client_auth).');
    return p;
  };

  route({
    method: 'GET', path: '/identity-providers/:alias/client-keys', tag, scope, summary: 'List a provider\'s client keys',
    description: 'The keys Tessera signs private_key_jwt client assertions with at this upstream (public facts only; the key is generated on first use). 404 unless client_auth is private_key_jwt.',
    params: aliasParams, response: clientKeys, errors: [404],
    async handler({ principal, params }) {
      const p = await keyed(principal, params.alias);
      return { jwks_uri: `${issuer}${clientJwksPath(p.alias)}`, items: await keys.list(p.alias) };
    },
  });

  route({
    method: 'POST', path: '/identity-providers/:alias/client-keys/rotate', tag, scope, summary: 'Rotate a provider\'s client key', stepUp: 'always',
    description: 'Without stage: the staged next key, or a new one, signs from now on; the previous key stays published for overlap_seconds. '
      + 'With stage: true, a next key is published first (for upstreams that pin uploaded keys or certificates). Also for providers declared in the configuration file. Needs step-up.',
    params: aliasParams, body: rotateBody, response: clientKeys, errors: [400, 404, 415],
    async handler({ principal, params, body, event, stepUp }) {
      stepUp();
      const p = await keyed(principal, params.alias);
      if (!mayManage(principal, p.tenants)) throw new AdminForbidden('This provider serves other tenants too.');
      const items = await keys.rotate(p.alias, { stage: body.stage, overlapSeconds: body.overlap_seconds });
      await emit('identity_provider.key_rotated', principal, { tenantId: p.tenants[0] ?? null, subjectId: p.alias }, event, {
        target: 'identity_provider', stage: body.stage, kid: items.find((k) => k.status === (body.stage ? 'next' : 'active'))?.kid ?? null,
      });
      return { jwks_uri: `${issuer}${clientJwksPath(p.alias)}`, items };
    },
  });
}
