import type { EventContext } from '../../audit/events.js';
import { clientSchema } from '../../config/schema.js';
import type { ClientConfig } from '../../config/schema.js';
import { clientMetadata } from '../../config/apply.js';
import { generateClientSecret, hashClientSecret } from '../../oidc/clients.js';
import type { ClientRecord, ClientRepository } from '../../oidc/repository.js';
import { BUILT_IN_CLIENT_IDS } from '../../oidc/built-in-clients.js';
import { clientKind } from '../../oidc/client-keys.js';
import { ConflictError, NotFoundError } from '../../storage/errors.js';
import { isStorableText } from '../../storage/text.js';
import type { AdminPrincipal } from '../access.js';
import type { AdminEmit } from '../audit.js';
import { AdminConflict, AdminInvalid } from '../errors.js';
import { administers, visible } from '../tenancy.js';
import { zodFields } from '../validation.js';

export interface ClientAdminDeps {
  clients: ClientRepository;
  /** The protocol engine's own metadata checks (Client.validate), as the configuration file gets them. */
  validate(metadata: Record<string, unknown>): Promise<void>;
  emit: AdminEmit;
}

type StepUp = () => void;

/**
 * Changes to these fields decide where codes and tokens go, who may get
 * them, whether users are asked for consent, and what the client may
 * administer: "high-privilege client updates", which need the caller's
 * step-up (docs/admin.md#step-up). Names, lifetimes and
 * `backchannel_logout_session_required` do not.
 */
export const SENSITIVE_CLIENT_FIELDS = [
  'redirect_uris', 'post_logout_redirect_uris', 'grant_types', 'token_endpoint_auth_method', 'scope', 'backchannel_logout_uri',
  'first_party', 'tenant', 'admin_scopes', 'mfa', 'ip_allowlist',
  // Which user data leaves in tokens, and which attributes the client may write.
  'attribute_claims', 'attribute_source',
  // Which keys may authenticate the client (private_key_jwt).
  'jwks', 'jwks_uri', 'token_endpoint_auth_signing_alg',
  // Which users may use the client (app assignment).
  'allowed_users', 'allowed_roles',
  // Who may read other clients' tokens (introspection-policy.ts).
  'resource_server',
  // Whose users' tokens the client may exchange, for which APIs and scopes (token exchange, oidc/token-exchange.ts).
  'token_exchange',
] as const;

/** Only used to validate a confidential client's metadata; the stored digest never changes through an edit. */
const PLACEHOLDER_SECRET = 'x'.repeat(43);

/**
 * Client administration: RFC 7591 metadata plus Tessera's fields, validated
 * exactly as the configuration file's (its zod schema, then the engine's
 * Client.validate). Secrets are generated here and returned once; only a
 * digest is stored.
 */
export class ClientAdminService {
  constructor(private readonly deps: ClientAdminDeps) {}

  async list(principal: AdminPrincipal): Promise<ClientRecord[]> {
    return (await this.deps.clients.list()).filter((c) => administers(principal, c.tenantId));
  }

  /** @throws NotFoundError for an unknown client or one of another tenant. */
  async get(principal: AdminPrincipal, clientId: string): Promise<ClientRecord> {
    const client = isStorableText(clientId) ? await this.deps.clients.find(clientId) : undefined;
    return visible(principal, client, 'client', clientId);
  }

  /**
   * @throws AdminInvalid (fields), AdminConflict (id taken); the step-up
   * answer for a first-party client or one granted admin scopes.
   */
  async create(principal: AdminPrincipal, input: Record<string, unknown>, ctx: EventContext, stepUp: StepUp,
    auditData: Record<string, unknown> = {}): Promise<{ client: ClientRecord; secret?: string }> {
    const tenant = (input.tenant as string | undefined) ?? principal.tenantId;
    if (!administers(principal, tenant)) throw new AdminInvalid({ tenant: 'unknown_tenant' });
    // A secret only for client_secret_basic/_post; a private_key_jwt client authenticates with its keys.
    const secret = clientKind(input.token_endpoint_auth_method ?? 'client_secret_basic') === 'secret' ? generateClientSecret() : undefined;
    const config = await this.validated({ ...input, tenant, ...(secret ? { client_secret: secret } : {}) }, input);
    if (config.first_party || config.admin_scopes?.length) stepUp();
    const client = await this.deps.clients.create({
      clientId: config.client_id, tenantId: config.tenant, metadata: clientMetadata(config), firstParty: config.first_party,
      secretHash: secret ? hashClientSecret(secret) : null, previousSecret: null,
    }).catch((err: unknown) => {
      if (err instanceof ConflictError) throw new AdminConflict('A client with this id exists.', { client_id: 'taken' });
      throw err;
    });
    await this.deps.emit('client.created', principal, { tenantId: client.tenantId, subjectId: client.clientId }, ctx,
      { target: 'client', first_party: client.firstParty, grant_types: client.metadata.grant_types, ...auditData });
    return { client, ...(secret ? { secret } : {}) };
  }

  /**
   * Applies a patch (absent stays, null clears) and re-validates the whole
   * client. Switching between public and confidential is refused: that needs
   * a new client (a secret cannot appear through an edit). The one change of
   * kind allowed is from a secret to keys (`private_key_jwt`): the stored
   * secret digest (and any previous one) is dropped in the same write.
   * @throws AdminInvalid, AdminConflict (built-in client), StaleWriteError; the step-up answer for sensitive fields.
   */
  async update(principal: AdminPrincipal, current: ClientRecord, patch: Record<string, unknown>, ctx: EventContext, stepUp: StepUp): Promise<ClientRecord> {
    this.refuseBuiltIn(current);
    const before = configOf(current);
    const merged: Record<string, unknown> = { ...before };
    // Derived from grant_types when stored (config/apply.ts clientMetadata): recomputed unless the patch names it.
    delete merged.response_types;
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete merged[k];
      else if (v !== undefined) merged[k] = v;
    }
    const kindBefore = current.secretHash ? 'secret' : clientKind(current.metadata.token_endpoint_auth_method);
    const kindAfter = clientKind(merged.token_endpoint_auth_method ?? 'client_secret_basic');
    if (kindBefore !== kindAfter && !(kindBefore === 'secret' && kindAfter === 'key')) {
      throw new AdminInvalid({ token_endpoint_auth_method: 'cannot_change_client_type' },
        kindAfter === 'secret' && kindBefore === 'key'
          ? 'A private_key_jwt client cannot switch back to a secret; create a new client.'
          : 'A client cannot switch between public and confidential; create a new one.');
    }
    if (typeof merged.tenant === 'string' && !administers(principal, merged.tenant)) throw new AdminInvalid({ tenant: 'unknown_tenant' });
    const config = await this.validated({ ...merged, ...(kindAfter === 'secret' ? { client_secret: PLACEHOLDER_SECRET } : {}) }, patch);
    const after = { ...configOf({ ...current, metadata: clientMetadata(config), tenantId: config.tenant, firstParty: config.first_party }) };
    const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
    if (!changed.length) return current;
    if (changed.some((k) => (SENSITIVE_CLIENT_FIELDS as readonly string[]).includes(k))) stepUp();
    const updated = await this.deps.clients.replaceIfVersion({
      ...current, tenantId: config.tenant, firstParty: config.first_party, metadata: clientMetadata(config),
      // Moving to keys: the secret stops working in the same write.
      ...(kindAfter === 'key' ? { secretHash: null, previousSecret: null } : {}),
    }, current.version ?? 1);
    await this.deps.emit('client.updated', principal, { tenantId: updated.tenantId, subjectId: updated.clientId }, ctx, { target: 'client', fields: changed });
    return updated;
  }

  /** @throws AdminConflict for the built-in client. */
  async delete(principal: AdminPrincipal, current: ClientRecord, ctx: EventContext): Promise<void> {
    this.refuseBuiltIn(current);
    if (!(await this.deps.clients.delete(current.clientId))) throw new NotFoundError('client', current.clientId);
    await this.deps.emit('client.deleted', principal, { tenantId: current.tenantId, subjectId: current.clientId }, ctx, { target: 'client' });
  }

  /**
   * A new secret, returned once. The old one keeps working for
   * `overlapSeconds` (so deployments can switch without downtime), then
   * stops; a secret from an earlier rotation that is still in its overlap
   * stops at once (one previous secret at a time).
   * @throws AdminConflict for a public client; StaleWriteError.
   */
  async rotateSecret(principal: AdminPrincipal, current: ClientRecord, overlapSeconds: number, ctx: EventContext): Promise<{ client: ClientRecord; secret: string }> {
    this.refuseBuiltIn(current);
    if (!current.secretHash) {
      throw new AdminConflict(clientKind(current.metadata.token_endpoint_auth_method) === 'key'
        ? 'A private_key_jwt client has no secret to rotate: it rotates its keys (jwks or jwks_uri).'
        : 'A public client has no secret to rotate.');
    }
    const secret = generateClientSecret();
    const previousSecret = overlapSeconds > 0 ? { hash: current.secretHash, expiresAt: Date.now() + overlapSeconds * 1000 } : null;
    const client = await this.deps.clients.replaceIfVersion({ ...current, secretHash: hashClientSecret(secret), previousSecret }, current.version ?? 1);
    await this.deps.emit('client.secret_rotated', principal, { tenantId: current.tenantId, subjectId: current.clientId }, ctx,
      { target: 'client', overlap_seconds: overlapSeconds });
    return { client, secret };
  }

  /** The configuration schema (field codes), then the engine's checks. */
  private async validated(candidate: Record<string, unknown>, input: Record<string, unknown>): Promise<ClientConfig> {
    const parsed = clientSchema.safeParse(candidate);
    if (!parsed.success) {
      const first = parsed.error.issues[0]!;
      throw new AdminInvalid(zodFields(parsed.error, input), `${first.path.join('.') || 'client'}: ${first.message}`);
    }
    const config = parsed.data;
    try {
      await this.deps.validate({ ...clientMetadata(config), client_id: config.client_id, ...(config.client_secret ? { client_secret: config.client_secret } : {}) });
    } catch (err) {
      const description = (err as { error_description?: string }).error_description ?? (err as Error).message;
      const field = /^([a-z_]+)/.exec(description)?.[1];
      throw new AdminInvalid({ [field && field in clientSchema.shape ? field : 'client']: 'invalid' }, description);
    }
    return config;
  }

  private refuseBuiltIn(client: ClientRecord): void {
    // Registered by Tessera at every start (bootstrap.ts): an edit would be undone at the next one.
    if (BUILT_IN_CLIENT_IDS.includes(client.clientId)) throw new AdminConflict(`The built-in client ${client.clientId} is managed by Tessera.`);
  }
}

/** A stored client in the configuration file's shape (what the schemas validate). */
function configOf(c: ClientRecord): Record<string, unknown> {
  return { ...c.metadata, client_id: c.clientId, tenant: c.tenantId, first_party: c.firstParty };
}
