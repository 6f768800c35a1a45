import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { KeyEncryptionKey } from '../oidc/kek.js';
import type { InboundSource, InboundSourceFileEntry } from './model.js';
import { createInboundSourceRepository } from './repository.js';
import type { InboundSourceRepository } from './repository.js';

export const newSourceId = () => `src_${randomBytes(12).toString('base64url')}`;

/**
 * Inbound sources with their secrets: sealed with the KEK at rest (the
 * secret must be recoverable to verify signatures), opened to verify.
 * Declared in the configuration file (`inbound_sources:`, applied at every
 * start; the file owns them) or through the admin API.
 */
export class InboundSources {
  readonly repo: InboundSourceRepository;

  constructor(private readonly deps: { db: Kysely<Database>; kek: KeyEncryptionKey }) {
    this.repo = createInboundSourceRepository(deps.db);
  }

  seal(secret: string): string {
    return this.deps.kek.encrypt(secret);
  }

  /** The enabled source of a tenant with its secret, for the inbound endpoint. */
  async forVerification(tenantId: string, name: string): Promise<{ source: InboundSource; secret: string } | undefined> {
    const found = await this.repo.findByName(tenantId, name);
    if (!found || !found.source.enabled) return undefined;
    return { source: found.source, secret: this.deps.kek.decrypt(found.sealedSecret) };
  }

  /**
   * Applies the file's sources idempotently: created, or brought in line with
   * the file (secret included); one the admin API created under the same
   * tenant and name comes under the file's control. Sources no longer in the
   * file stay (removal is an explicit admin action).
   */
  async applyDeclared(entries: readonly InboundSourceFileEntry[]): Promise<{ created: number; updated: number; unchanged: number }> {
    const out = { created: 0, updated: 0, unchanged: 0 };
    for (const e of entries) {
      const found = await this.repo.findByName(e.tenant, e.name);
      const ipAllowlist = e.ip_allowlist ?? null;
      if (!found) {
        await this.repo.create({ id: newSourceId(), tenantId: e.tenant, name: e.name, sealedSecret: this.seal(e.secret), ipAllowlist, mapping: e.mapping, enabled: e.enabled, origin: 'file' });
        out.created++;
        continue;
      }
      const s = found.source;
      const same = s.origin === 'file' && s.enabled === e.enabled && JSON.stringify(s.ipAllowlist) === JSON.stringify(ipAllowlist)
        && JSON.stringify(s.mapping) === JSON.stringify(e.mapping) && this.deps.kek.decrypt(found.sealedSecret) === e.secret;
      if (same) {
        out.unchanged++;
        continue;
      }
      await this.repo.update(s.id, { sealedSecret: this.seal(e.secret), ipAllowlist, mapping: e.mapping, enabled: e.enabled, origin: 'file' });
      out.updated++;
    }
    return out;
  }
}
