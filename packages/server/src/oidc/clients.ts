import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ClientRecord } from './repository.js';
import { engineScopeMetadata } from './client-grants.js';

/**
 * Client secrets are stored as salted HMAC-SHA256 digests, never in the clear.
 * A fast hash is right here (unlike passwords) because Tessera requires client
 * secrets to be long and random (≥ 32 characters), so there is no dictionary to
 * try, and the token endpoint must stay fast. Consequence: HMAC-based client
 * authentication (`client_secret_jwt`) and HS* signing are not offered, as they
 * need the secret itself.
 */
const PREFIX = 'hs256';

export function hashClientSecret(secret: string): string {
  const salt = randomBytes(16).toString('base64url');
  return `${PREFIX}$${salt}$${digest(salt, secret)}`;
}

/** Constant-time check of a presented secret against a stored digest. */
export function verifyClientSecret(stored: string | undefined | null, presented: unknown): boolean {
  if (typeof stored !== 'string' || typeof presented !== 'string') return false;
  const [prefix, salt, expected] = stored.split('$');
  if (prefix !== PREFIX || !salt || !expected) return false;
  const a = Buffer.from(digest(salt, presented));
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

function digest(salt: string, secret: string): string {
  return createHmac('sha256', salt).update(secret, 'utf8').digest('base64url');
}

/** Tessera's own client metadata, beside RFC 7591's. */
export const TESSERA_CLIENT_PROPERTIES = ['first_party', 'tenant', 'access_token_ttl', 'id_token_ttl', 'refresh_token_ttl', 'mfa', 'ip_allowlist', 'previous_secret', 'provisioning_scopes',
  'attribute_claims', 'attribute_source', 'token_exchange'] as const;

/** The per-client MFA setting (`mfa` metadata; docs/mfa.md). Unset: the tenant's policy decides. */
export const CLIENT_MFA_MODES = ['off', 'optional', 'required'] as const;

/**
 * The metadata handed to the protocol engine. The engine sees the stored
 * digest as `client_secret`; `Client.prototype.compareClientSecret` is replaced
 * (provider.ts) so that it is compared as a digest, never as the secret.
 */
export function toEngineClientMetadata(record: ClientRecord): Record<string, unknown> {
  const md: Record<string, unknown> = {
    ...record.metadata,
    client_id: record.clientId,
    tenant: record.tenantId,
    first_party: record.firstParty,
  };
  if (record.secretHash) md.client_secret = record.secretHash;
  // Only while the rotation's overlap window lasts (checked again at each comparison).
  if (record.previousSecret && record.previousSecret.expiresAt > Date.now()) {
    md.previous_secret = { digest: record.previousSecret.hash, expires_at: record.previousSecret.expiresAt };
  }
  // The engine knows only its OpenID scopes; API scopes in `scope` are Tessera's (client-grants.ts).
  return engineScopeMetadata(md);
}

/**
 * The engine's client-secret check (provider.ts): the current secret, or,
 * after a rotation (admin API), the previous one until its overlap window
 * ends, so deployments can switch to the new secret without downtime. Both
 * digests are always computed (no timing difference between the two).
 */
export function verifyClientSecrets(client: { clientSecret?: string; previous_secret?: unknown }, presented: unknown, now = Date.now()): boolean {
  const current = verifyClientSecret(client.clientSecret, presented);
  const prev = client.previous_secret as { digest?: unknown; expires_at?: unknown } | undefined;
  const previous = typeof prev?.digest === 'string' && verifyClientSecret(prev.digest, presented);
  return current || (previous && typeof prev?.expires_at === 'number' && prev.expires_at > now);
}
