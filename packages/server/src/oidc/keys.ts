import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import type { KeyEncryptionKey } from './kek.js';
import type { SigningKeyRecord, SigningKeyRepository } from './repository.js';

/** RS256 is always published (OIDC Core §15.1 requires it); ES256 signs JWT access tokens by default. */
export const SIGNING_ALGS = ['RS256', 'ES256'] as const;

export interface KeySummary {
  kid: string;
  alg: string;
  status: SigningKeyRecord['status'];
  createdAt: string;
  retireAt: string | null;
}

/**
 * Signing-key lifecycle: generate on first start, rotate (new keys sign at
 * once; old keys stay published until every token they signed has expired),
 * retire. Private keys are only ever stored encrypted.
 */
export class KeyService {
  constructor(private readonly repo: SigningKeyRepository, private readonly kek: KeyEncryptionKey) {}

  /** Generates the first key set if the store has no active key. Returns true when it did. */
  async ensureKeys(): Promise<boolean> {
    const published = await this.repo.listPublished();
    if (published.some((k) => k.status === 'active')) return false;
    await this.generateActiveSet();
    return true;
  }

  /**
   * Adds a new active key per algorithm and demotes the previous ones to
   * 'retiring' for `overlapSeconds` (the longest lifetime of a signed token).
   */
  async rotate(overlapSeconds: number): Promise<KeySummary[]> {
    const fresh = await this.generateActiveSet();
    await this.repo.demoteActive(Date.now() + overlapSeconds * 1000, fresh.map((k) => k.kid));
    return (await this.repo.listPublished()).map(summary);
  }

  /** Retires keys whose overlap window has passed. */
  retireDue(now = Date.now()): Promise<number> {
    return this.repo.retireDue(now);
  }

  async list(): Promise<KeySummary[]> {
    return (await this.repo.listAll()).map(summary);
  }

  /** Private JWKs for the protocol engine: active keys first, so they are the ones that sign. */
  async engineJwks(): Promise<{ keys: JWK[] }> {
    const published = await this.repo.listPublished();
    const ordered = [...published.filter((k) => k.status === 'active'), ...published.filter((k) => k.status !== 'active')];
    return { keys: ordered.map((k) => ({ ...(JSON.parse(this.kek.decrypt(k.privateJwk)) as JWK), kid: k.kid, alg: k.alg, use: 'sig' })) };
  }

  /** The published public keys (what /oidc/jwks serves): for verifying Tessera's own tokens in-process (admin API). */
  async publicJwks(): Promise<{ keys: JWK[] }> {
    return { keys: (await this.repo.listPublished()).map((k) => ({ ...(k.publicJwk as JWK), kid: k.kid, alg: k.alg, use: 'sig' })) };
  }

  /** A value that changes whenever the published key set changes (for hot reload across instances). */
  async fingerprint(): Promise<string> {
    return (await this.repo.listPublished()).map((k) => `${k.kid}:${k.status}`).join(',');
  }

  private async generateActiveSet(): Promise<SigningKeyRecord[]> {
    const created: SigningKeyRecord[] = [];
    for (const alg of SIGNING_ALGS) {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
      const kid = randomUUID();
      const record: SigningKeyRecord = {
        kid,
        alg,
        publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' },
        privateJwk: this.kek.encrypt(JSON.stringify(await exportJWK(privateKey))),
        status: 'active',
        createdAt: Date.now(),
        retireAt: null,
      };
      await this.repo.insert(record);
      created.push(record);
    }
    return created;
  }
}

function summary(k: SigningKeyRecord): KeySummary {
  return {
    kid: k.kid,
    alg: k.alg,
    status: k.status,
    createdAt: new Date(k.createdAt).toISOString(),
    retireAt: k.retireAt ? new Date(k.retireAt).toISOString() : null,
  };
}
