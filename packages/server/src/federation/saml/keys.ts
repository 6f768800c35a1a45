import { webcrypto } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../storage/schema.js';
import type { KeyEncryptionKey } from '../../oidc/kek.js';
import { x509 } from '../x509.js';

/** The table of migration 035, typed beside the code that owns it. */
interface SamlSpKeysTable {
  alias: string;
  signing_key: string;
  signing_certificate: string;
  encryption_key: string;
  encryption_certificate: string;
  created_at: number;
}
type SamlDb = Kysely<Database & { saml_sp_keys: SamlSpKeysTable }>;

export interface KeyPair {
  /** PKCS#8 PEM (decrypted, in memory only). */
  privateKeyPem: string;
  certificatePem: string;
}

export interface SpKeys {
  /** Signs AuthnRequests (HTTP-Redirect `Signature`). */
  signing: KeyPair;
  /** IdPs encrypt assertions to it (EncryptedAssertion). */
  encryption: KeyPair;
}

const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
const pem = (label: string, der: Buffer) => `-----BEGIN ${label}-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;

/** An RSA key and a self-signed certificate for it (SAML trusts the key the metadata pins, not a CA). */
async function generate(commonName: string, use: 'signing' | 'encryption'): Promise<KeyPair> {
  const { KeyUsageFlags, KeyUsagesExtension, X509CertificateGenerator } = await x509();
  const usage = use === 'signing' ? KeyUsageFlags.digitalSignature : KeyUsageFlags.keyEncipherment | KeyUsageFlags.dataEncipherment;
  const keys = await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: BigInt(now).toString(16).padStart(16, '0'),
    name: `CN=${commonName.replace(/[,+"\\<>;=]/g, ' ').slice(0, 60)}`,
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 10 * 365 * 86_400_000),
    signingAlgorithm: RSA,
    keys: keys as never,
    extensions: [new KeyUsagesExtension(usage, true)],
  });
  return {
    privateKeyPem: pem('PRIVATE KEY', Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey))),
    certificatePem: cert.toString('pem'),
  };
}

/**
 * The SP keys of each SAML provider: generated the first time a provider
 * needs them (its metadata or its first sign-in), then stable, so the IdP's
 * copy of the SP metadata stays valid. Two instances generating at once:
 * the first insert wins and both use its keys.
 */
export class SamlKeyStore {
  private readonly db: SamlDb;
  private readonly cache = new Map<string, SpKeys>();

  constructor(db: Kysely<Database>, private readonly kek: KeyEncryptionKey) {
    this.db = db as unknown as SamlDb;
  }

  async get(alias: string, now = Date.now()): Promise<SpKeys> {
    const cached = this.cache.get(alias);
    if (cached) return cached;
    let row = await this.db.selectFrom('saml_sp_keys').selectAll().where('alias', '=', alias).executeTakeFirst();
    if (!row) {
      const [signing, encryption] = await Promise.all([
        generate(`Tessera SAML SP ${alias} signing`, 'signing'),
        generate(`Tessera SAML SP ${alias} encryption`, 'encryption'),
      ]);
      await this.db.insertInto('saml_sp_keys').values({
        alias, signing_key: this.kek.encrypt(signing.privateKeyPem), signing_certificate: signing.certificatePem,
        encryption_key: this.kek.encrypt(encryption.privateKeyPem), encryption_certificate: encryption.certificatePem, created_at: now,
      }).onConflict((oc) => oc.column('alias').doNothing()).execute();
      row = await this.db.selectFrom('saml_sp_keys').selectAll().where('alias', '=', alias).executeTakeFirstOrThrow();
    }
    const keys: SpKeys = {
      signing: { privateKeyPem: this.kek.decrypt(row.signing_key), certificatePem: row.signing_certificate },
      encryption: { privateKeyPem: this.kek.decrypt(row.encryption_key), certificatePem: row.encryption_certificate },
    };
    this.cache.set(alias, keys);
    return keys;
  }
}
