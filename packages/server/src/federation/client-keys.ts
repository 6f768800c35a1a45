import { createHash, randomUUID, webcrypto } from 'node:crypto';
import { exportJWK, importJWK } from 'jose';
import type { JWK } from 'jose';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { KeyEncryptionKey } from '../oidc/kek.js';
import { x509 } from './x509.js';

// Node's WebCrypto key type by name: the build (tsconfig.build.json, no DOM library) has no global CryptoKey.
type CryptoKey = webcrypto.CryptoKey;


/**
 * The keys Tessera authenticates with at upstream token endpoints when a
 * provider's `client_auth` is `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9;
 * docs/federation.md#private_key_jwt). One key set per provider alias, so an
 * assertion made for one upstream is worthless at another (the upstream
 * trusts only the JWKS URL registered for its alias: no audience-injection
 * across upstreams). Private keys are stored only encrypted with the KEK and
 * never leave this file except as a CryptoKey for signing; the public JWK
 * (with a self-signed certificate in `x5c`, for upstreams such as Entra ID
 * that take a certificate instead of a JWKS URL) is published.
 *
 * Lifecycle: `next` (published, not yet signing: staged for upstreams that
 * pin uploaded keys), `active` (signs; the newest signs if two instances
 * generated at once), `retiring` (published until `retire_at`, for
 * assertions in flight and upstreams that refetch late).
 */

/** The table of migration 020, typed beside the code that owns it. */
interface ClientKeysTable {
  kid: string;
  alias: string;
  alg: string;
  public_jwk: string;
  private_jwk: string;
  status: string;
  created_at: number;
  retire_at: number | null;
}
type KeysDb = Kysely<Database & { federation_client_keys: ClientKeysTable }>;

export type ClientKeyStatus = 'next' | 'active' | 'retiring';

export interface ClientKeySummary {
  kid: string;
  alg: string;
  status: ClientKeyStatus;
  created_at: string;
  retire_at: string | null;
}

export interface SigningKey {
  kid: string;
  alg: string;
  key: CryptoKey;
  /** SHA-1 thumbprint of the key's certificate (the `x5t` header Entra ID looks the certificate up by). */
  x5t: string;
}

/** A failure of Tessera's own key store (not the upstream's): never reported as an upstream error. */
export class ClientKeyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClientKeyError';
  }
}

const ALG = 'RS256';
const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
/** Longest overlap an administrator may ask for: 30 days. */
export const MAX_OVERLAP_SECONDS = 30 * 86_400;
export const DEFAULT_OVERLAP_SECONDS = 86_400;

/** RS256: the one algorithm every upstream accepts for client assertions (Entra ID, Okta, Keycloak, oidc-provider). */
async function generate(alias: string, now: number): Promise<{ publicJwk: JWK; privateJwk: JWK; kid: string }> {
  const { KeyUsageFlags, KeyUsagesExtension, X509CertificateGenerator } = await x509();
  const keys = await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify']);
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: BigInt(now).toString(16).padStart(16, '0'),
    name: `CN=Tessera federation client ${alias.slice(0, 63)}`,
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 10 * 365 * 86_400_000),
    signingAlgorithm: RSA,
    keys: keys as never,
    extensions: [new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true)],
  });
  const der = Buffer.from(cert.rawData);
  const kid = randomUUID();
  const publicJwk: JWK = {
    ...(await exportJWK(keys.publicKey)), kid, alg: ALG, use: 'sig',
    x5c: [der.toString('base64')],
    x5t: createHash('sha1').update(der).digest('base64url'),
    'x5t#S256': createHash('sha256').update(der).digest('base64url'),
  };
  return { kid, publicJwk, privateJwk: await exportJWK(keys.privateKey) };
}

/** The public members of an RSA JWK: a published key never carries d, p, q, dp, dq, qi (checked again here, not trusted from storage). */
const PUBLIC_MEMBERS = ['kty', 'n', 'e', 'kid', 'alg', 'use', 'x5c', 'x5t', 'x5t#S256'] as const;
const publicOnly = (jwk: JWK): JWK => Object.fromEntries(PUBLIC_MEMBERS.filter((k) => (jwk as Record<string, unknown>)[k] !== undefined)
  .map((k) => [k, (jwk as Record<string, unknown>)[k]])) as JWK;

export class ClientKeyStore {
  private readonly db: KeysDb;
  /** Imported signing keys by kid (a kid's key never changes). */
  private readonly imported = new Map<string, CryptoKey>();

  constructor(db: Kysely<Database>, private readonly kek: KeyEncryptionKey) {
    this.db = db as unknown as KeysDb;
  }

  /** Published keys (next, active, retiring not yet due), newest first; an alias without keys gets its first active key. */
  private async published(alias: string, now: number): Promise<ClientKeysTable[]> {
    let rows = await this.rows(alias, now);
    if (!rows.some((r) => r.status === 'active')) {
      await this.insert(alias, 'active', now);
      rows = await this.rows(alias, now);
    }
    return rows;
  }

  private async rows(alias: string, now: number): Promise<ClientKeysTable[]> {
    const rows = await this.db.selectFrom('federation_client_keys').selectAll().where('alias', '=', alias).execute();
    return rows.filter((r) => r.status !== 'retiring' || (r.retire_at !== null && Number(r.retire_at) > now))
      .sort((a, b) => Number(b.created_at) - Number(a.created_at) || (a.kid < b.kid ? 1 : -1));
  }

  private async insert(alias: string, status: ClientKeyStatus, now: number): Promise<string> {
    const k = await generate(alias, now);
    await this.db.insertInto('federation_client_keys').values({
      kid: k.kid, alias, alg: ALG, public_jwk: JSON.stringify(k.publicJwk), private_jwk: this.kek.encrypt(JSON.stringify(k.privateJwk)),
      status, created_at: now, retire_at: null,
    }).execute();
    return k.kid;
  }

  /**
   * The key that signs assertions now (generated on first use).
   * @throws ClientKeyError when the store cannot be read or the key cannot be decrypted (TESSERA_SECRET changed).
   */
  async signingKey(alias: string, now = Date.now()): Promise<SigningKey> {
    try {
      const row = (await this.published(alias, now)).find((r) => r.status === 'active')!;
      let key = this.imported.get(row.kid);
      if (!key) {
        key = await importJWK(JSON.parse(this.kek.decrypt(row.private_jwk)) as JWK, row.alg, { extractable: false }) as CryptoKey;
        this.imported.set(row.kid, key);
      }
      return { kid: row.kid, alg: row.alg, key, x5t: String((JSON.parse(row.public_jwk) as JWK).x5t) };
    } catch (err) {
      throw new ClientKeyError(`federation client key of ${alias}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The public JWK Set to give the upstream (what /federation/{alias}/jwks serves). */
  async publicJwks(alias: string, now = Date.now()): Promise<{ keys: JWK[] }> {
    return { keys: (await this.published(alias, now)).map((r) => publicOnly(JSON.parse(r.public_jwk) as JWK)) };
  }

  async list(alias: string, now = Date.now()): Promise<ClientKeySummary[]> {
    return (await this.published(alias, now)).map(summary);
  }

  /**
   * `stage`: adds a `next` key (published, not signing; replaces an earlier
   * staged one) to register at an upstream that pins keys. Otherwise: the
   * staged key, or a new one, becomes active at once; the previous active
   * key stays published as `retiring` for `overlapSeconds`.
   */
  async rotate(alias: string, opts: { stage?: boolean; overlapSeconds?: number } = {}, now = Date.now()): Promise<ClientKeySummary[]> {
    const rows = await this.published(alias, now);
    // Retired keys leave the table at the next change (they are no longer published already).
    await this.db.deleteFrom('federation_client_keys').where('alias', '=', alias).where('status', '=', 'retiring').where('retire_at', '<=', now).execute();
    if (opts.stage) {
      await this.db.deleteFrom('federation_client_keys').where('alias', '=', alias).where('status', '=', 'next').execute();
      await this.insert(alias, 'next', now);
      return this.list(alias, now);
    }
    const staged = rows.find((r) => r.status === 'next');
    const overlap = Math.min(opts.overlapSeconds ?? DEFAULT_OVERLAP_SECONDS, MAX_OVERLAP_SECONDS);
    await this.db.updateTable('federation_client_keys').set({ status: 'retiring', retire_at: now + overlap * 1000 })
      .where('alias', '=', alias).where('status', '=', 'active').execute();
    if (staged) {
      // Its created_at moves to now so it orders first among active keys.
      await this.db.updateTable('federation_client_keys').set({ status: 'active', created_at: now }).where('kid', '=', staged.kid).execute();
    } else {
      await this.insert(alias, 'active', now);
    }
    return this.list(alias, now);
  }

  /** Removes every key of a provider (the provider was deleted). */
  async remove(alias: string): Promise<void> {
    await this.db.deleteFrom('federation_client_keys').where('alias', '=', alias).execute();
  }
}

function summary(r: ClientKeysTable): ClientKeySummary {
  return {
    kid: r.kid, alg: r.alg, status: r.status as ClientKeyStatus, created_at: new Date(Number(r.created_at)).toISOString(),
    retire_at: r.retire_at === null ? null : new Date(Number(r.retire_at)).toISOString(),
  };
}
