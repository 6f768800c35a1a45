import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import { createRoleRepository, createTenantRepository, createUserRepository } from '../identity/repository.js';
import type { UpsertOutcome } from '../identity/repository.js';
import type { User } from '../identity/model.js';
import { hashPassword, verifyPassword } from '../identity/password.js';
import { createApiRepository, createClientRepository } from '../oidc/repository.js';
import type { ClientRecord } from '../oidc/repository.js';
import { hashClientSecret, verifyClientSecret } from '../oidc/clients.js';
import { protocolClientMetadata } from '../oidc/protocol-metadata.js';
import { clientKeyMetadata } from '../oidc/client-keys.js';
import { assignmentMetadata } from '../oidc/app-assignment.js';
import { ConfigError } from './errors.js';
import { DEFAULT_POLICY } from '../identity/policy.js';
import { ConflictError } from '../storage/errors.js';
import { applyDeclaredBranding } from '../branding/config.js';
import type { ClientConfig, DeclarativeConfig, UserConfig } from './schema.js';
import { applyAttributeConfig, applyUserAttributes } from '../userdata/config.js';
import { DeclaredPasswords } from './declared-passwords.js';

export interface ApplySummary {
  created: number;
  updated: number;
  unchanged: number;
}

export interface ApplyDeps {
  db: Kysely<Database>;
  /** Lets the protocol engine vet each client's metadata; throws with a message on a bad client. */
  validateClient?: (metadata: Record<string, unknown>) => Promise<void>;
  /**
   * Key for the tags of declared passwords already applied (kek.derive('declared passwords'),
   * config/declared-passwords.ts): with it, an unchanged declared password costs no argon2.
   * Without it every start verifies each declared password, as before.
   */
  declaredPasswordKey?: string;
  /** The password functions (identity/password.ts); a parameter so tests can count the argon2 calls. */
  passwords?: { hash: (password: string) => Promise<string>; verify: (phc: string, password: string) => Promise<boolean> };
}

/**
 * Applies the declarative file idempotently, in one transaction: entries are
 * created or brought in line with the file, and applying the same file twice
 * changes nothing. Entries absent from the file are left alone (removal is an
 * explicit CLI/admin action, never a side effect of an edit).
 * @throws ConfigError when the engine rejects a client; nothing is written then.
 */
export async function applyDeclarativeConfig(cfg: DeclarativeConfig, deps: ApplyDeps, source = 'configuration'): Promise<ApplySummary> {
  if (deps.validateClient) {
    const problems: string[] = [];
    for (const [i, c] of cfg.clients.entries()) {
      try {
        await deps.validateClient({ ...clientMetadata(c), client_id: c.client_id, ...(c.client_secret ? { client_secret: c.client_secret } : {}) });
      } catch (err) {
        problems.push(`clients[${i}]: ${(err as { error_description?: string }).error_description ?? (err as Error).message}`);
      }
    }
    if (problems.length) throw new ConfigError(problems, source);
  }

  const summary: ApplySummary = { created: 0, updated: 0, unchanged: 0 };
  const count = (o: UpsertOutcome) => {
    summary[o] += 1;
  };

  await deps.db.transaction().execute(async (trx) => {
    const tenants = createTenantRepository(trx);
    const roles = createRoleRepository(trx);
    const users = createUserRepository(trx);
    const clients = createClientRepository(trx);
    const apis = createApiRepository(trx);
    const passwords: UserPasswords = {
      ...(deps.passwords ?? { hash: hashPassword, verify: verifyPassword }),
      declared: deps.declaredPasswordKey ? new DeclaredPasswords(trx, deps.declaredPasswordKey) : undefined,
    };

    if (!(await tenants.findById('default'))) count(await tenants.upsert('default', 'Default'));
    for (const t of cfg.tenants) {
      count(await tenants.upsert(t.id, t.name, t.policy ?? DEFAULT_POLICY));
      // Every tenant has the built-in admin role, as the default tenant does.
      if (!(await roles.list(t.id)).some((r) => r.name === 'admin')) await roles.upsert(t.id, 'admin', 'Tenant administrators');
      if (t.branding) {
        const outcome = await applyDeclaredBranding(trx, t.id, cfg.tenants.indexOf(t), t.branding);
        if (Array.isArray(outcome)) throw new ConfigError(outcome, source); // the transaction rolls back
        count(outcome);
      }
    }
    for (const a of cfg.apis) {
      count(await apis.upsert({ identifier: a.identifier, name: a.name, scopes: a.scopes, signingAlg: a.signing_alg, accessTokenTtl: a.access_token_ttl, accessTokenFormat: a.access_token_format }));
    }
    for (const r of cfg.roles) count(await roles.upsert(r.tenant, r.name, r.description ?? null));
    // Attribute schemas before users, whose attributes they type.
    const attributes = await applyAttributeConfig(trx, cfg.attributes ?? []);
    if (attributes.problems.length) throw new ConfigError(attributes.problems, source);
    attributes.outcomes.forEach(count);
    for (const c of cfg.clients) {
      const existing = await clients.find(c.client_id);
      count(await clients.upsert(await clientRecord(c, existing)));
    }
    for (const [i, u] of cfg.users.entries()) {
      try {
        let outcome = await applyUser(u, users, passwords);
        if (u.attributes && Object.keys(u.attributes).length) {
          const user = (u.username ? await users.findByUsername(u.tenant, u.username) : await users.findByEmail(u.tenant, u.email!))!;
          const applied = await applyUserAttributes(trx, i, user, u.attributes);
          if (applied.problems.length) throw new ConfigError(applied.problems, source);
          if (applied.changed && outcome === 'unchanged') outcome = 'updated';
        }
        count(outcome);
      } catch (err) {
        // The transaction rolls back: nothing from the file is kept.
        if (err instanceof ConflictError) throw new ConfigError([`users[${i}]: ${err.detail} in tenant "${u.tenant}"`], source);
        throw err;
      }
    }
  });
  return summary;
}

/** RFC 7591 metadata (plus Tessera's TTLs) as stored; keys in a fixed order so comparisons are stable. */
export function clientMetadata(c: ClientConfig): Record<string, unknown> {
  return JSON.parse(JSON.stringify({
    client_name: c.client_name,
    redirect_uris: c.redirect_uris,
    post_logout_redirect_uris: c.post_logout_redirect_uris,
    grant_types: c.grant_types,
    response_types: c.grant_types.includes('authorization_code') ? c.response_types : [],
    token_endpoint_auth_method: c.token_endpoint_auth_method,
    scope: c.scope,
    backchannel_logout_uri: c.backchannel_logout_uri,
    backchannel_logout_session_required: c.backchannel_logout_session_required,
    access_token_ttl: c.access_token_ttl,
    id_token_ttl: c.id_token_ttl,
    refresh_token_ttl: c.refresh_token_ttl,
    mfa: c.mfa,
    ip_allowlist: c.ip_allowlist,
    admin_scopes: c.admin_scopes,
    provisioning_scopes: c.provisioning_scopes,
    attribute_claims: c.attribute_claims,
    attribute_source: c.attribute_source,
    token_exchange: c.token_exchange,
    logout_confirmation: c.logout_confirmation,
    default_resource: c.default_resource,
    require_pkce: c.require_pkce,
    id_token_claims: c.id_token_claims,
    ...protocolClientMetadata(c),
    ...clientKeyMetadata(c),
    ...assignmentMetadata(c),
    resource_server: c.resource_server,
  })) as Record<string, unknown>;
}

async function clientRecord(c: ClientConfig, existing: ClientRecord | undefined): Promise<ClientRecord> {
  let secretHash: string | null = null;
  if (c.client_secret) {
    // Keep the stored digest when the secret is unchanged, so a re-apply writes nothing.
    secretHash = existing?.secretHash && verifyClientSecret(existing.secretHash, c.client_secret)
      ? existing.secretHash
      : hashClientSecret(c.client_secret);
  }
  return { clientId: c.client_id, tenantId: c.tenant, metadata: clientMetadata(c), secretHash, firstParty: c.first_party };
}

type UserPasswords = NonNullable<ApplyDeps['passwords']> & { declared: DeclaredPasswords | undefined };

async function applyUser(u: UserConfig, users: ReturnType<typeof createUserRepository>, passwords: UserPasswords): Promise<UpsertOutcome> {
  // An entry is identified by its username, or by its email when it has no username.
  const user: User | undefined = u.username
    ? await users.findByUsername(u.tenant, u.username)
    : await users.findByEmail(u.tenant, u.email!);
  const profile = {
    username: u.username ?? null,
    email: u.email ?? null,
    emailVerified: u.email_verified,
    givenName: u.given_name ?? null,
    familyName: u.family_name ?? null,
    phoneNumber: u.phone_number ?? null,
  };
  if (!user) {
    const passwordHash = u.password ? await passwords.hash(u.password) : null;
    const created = await users.create({ tenantId: u.tenant, ...profile, passwordHash });
    if (u.password && passwordHash) await passwords.declared?.remember(created.id, passwordHash, u.password);
    if (u.roles.length) await users.setRoles(created.id, u.tenant, u.roles);
    return 'created';
  }
  let changed = false;
  const differs = (Object.keys(profile) as (keyof typeof profile)[]).some((k) => user[k] !== profile[k]);
  if (differs) {
    await users.updateProfile(user.id, profile);
    changed = true;
  }
  // The file's password wins over one set since (as it always has); argon2 only when the tag does not say it is already in place.
  if (u.password && !(await passwords.declared?.unchanged(user.id, user.passwordHash, u.password))) {
    let passwordHash = user.passwordHash;
    if (!(passwordHash && (await passwords.verify(passwordHash, u.password)))) {
      passwordHash = await passwords.hash(u.password);
      await users.setPasswordHash(user.id, passwordHash);
      changed = true;
    }
    await passwords.declared?.remember(user.id, passwordHash, u.password);
  }
  const wanted = [...new Set(u.roles)].sort();
  if (wanted.join(',') !== user.roles.join(',')) {
    await users.setRoles(user.id, u.tenant, wanted);
    changed = true;
  }
  return changed ? 'updated' : 'unchanged';
}
