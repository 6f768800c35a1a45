import type { Logger } from 'pino';
import type { User } from '../../identity/model.js';
import type { ExternalLinkRepository } from '../../federation/links.js';
import type { ProviderRegistry } from '../../federation/providers.js';
import { LdapConnector } from './client.js';
import { ldapProviderOf } from './config.js';
import type { LdapSettings } from './config.js';

/** A configured directory with its connection pool. */
export interface LdapProvider {
  settings: LdapSettings;
  connector: LdapConnector;
}

/** Where a login goes: this directory, and the local account already tied to it (if any). */
export interface LdapRoute {
  provider: LdapProvider;
  user?: User;
}

/** How long an instance trusts its copy of the registry's LDAP providers (admin API changes on this instance apply at once). */
export const CACHE_MS = 5_000;

/**
 * The registry's `type: ldap` providers (federation/providers.ts), each with
 * one connection pool. Read through a short cache: every password sign-in
 * asks which directory answers for it.
 */
export class LdapProviders {
  private providers = new Map<string, LdapProvider & { version: string }>();
  private loadedAt = 0;
  private loading?: Promise<void>;

  constructor(private readonly deps: { registry: Pick<ProviderRegistry, 'list'>; log: Logger }) {}

  /** Forgets the cached copy (a provider was changed through the admin API). */
  invalidate(): void {
    this.loadedAt = 0;
  }

  /** Re-reads the providers; a changed one gets a new pool (the old one closes). */
  async refresh(): Promise<void> {
    const stored = (await this.deps.registry.list()).filter((p) => p.type === 'ldap');
    const next = new Map<string, LdapProvider & { version: string }>();
    for (const p of stored) {
      const current = this.providers.get(p.alias);
      const version = String(p.updatedAt);
      if (current && current.version === version) {
        next.set(p.alias, current);
        continue;
      }
      try {
        const { settings, password } = ldapProviderOf(p);
        next.set(p.alias, { settings, connector: new LdapConnector(settings, password), version });
      } catch (err) {
        this.deps.log.error({ err, provider: p.alias }, 'LDAP provider settings unreadable; provider skipped');
      }
    }
    for (const [alias, p] of this.providers) {
      if (next.get(alias) !== p) await p.connector.close();
    }
    this.providers = next;
    this.loadedAt = Date.now();
  }

  private async fresh(): Promise<void> {
    if (Date.now() - this.loadedAt < CACHE_MS) return;
    this.loading ??= this.refresh().finally(() => { this.loading = undefined; });
    await this.loading;
  }

  async get(alias: string): Promise<LdapProvider | undefined> {
    await this.fresh();
    return this.providers.get(alias);
  }

  /** Enabled providers. */
  async list(): Promise<LdapProvider[]> {
    await this.fresh();
    return [...this.providers.values()].filter((p) => p.settings.enabled);
  }

  /**
   * Which directory answers for this login, if any: the one an existing
   * account is linked to; for a login no local account holds, the directory
   * of the tenant whose `email_domains` match the login's domain (or one
   * without `email_domains`). A local account without a link stays local.
   */
  async route(tenantId: string, login: string, find: {
    findByLogin(tenantId: string, login: string): Promise<User | undefined>;
    links: Pick<ExternalLinkRepository, 'listForUser'>;
  }): Promise<LdapRoute | undefined> {
    const candidates = (await this.list()).filter((p) => p.settings.tenants[0] === tenantId);
    if (!candidates.length) return undefined;
    const user = await find.findByLogin(tenantId, login);
    if (user) {
      const links = await find.links.listForUser(user.id);
      const provider = candidates.find((p) => links.some((l) => l.provider === p.settings.alias && l.tenantId === tenantId));
      return provider ? { provider, user } : undefined;
    }
    const at = login.lastIndexOf('@');
    const domain = at > 0 ? login.slice(at + 1).trim().toLowerCase() : undefined;
    const byDomain = domain ? candidates.find((p) => p.settings.email_domains.includes(domain)) : undefined;
    const provider = byDomain ?? candidates.find((p) => p.settings.email_domains.length === 0);
    return provider ? { provider } : undefined;
  }

  async close(): Promise<void> {
    await Promise.all([...this.providers.values()].map((p) => p.connector.close()));
    this.providers.clear();
  }
}
