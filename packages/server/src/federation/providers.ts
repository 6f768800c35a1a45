import type { Kysely } from 'kysely';
import type { Database } from '../storage/schema.js';
import type { KeyEncryptionKey } from '../oidc/kek.js';
import { mapConflict } from '../storage/errors.js';
import { shape } from '../storage/compiled.js';
import { COMMON_KEYS, parseProviderConfig, PROVIDER_TYPES } from './provider-config.js';
import type { ProviderConfig, ProviderIssue } from './provider-config.js';

/** `list`, compiled once (storage/compiled.ts): the sign-in page lists the providers on every sign-in (issue 20). */
const allProviders = shape((db: Kysely<Database>) => db.selectFrom('identity_providers').selectAll());

/**
 * The identity-provider registry: providers declared in the configuration
 * file (`identity_providers:`, applied at every start) and through the admin
 * API, stored with their secrets encrypted by the KEK. Sign-in reads it on
 * every page (no cache, so every instance sees a change at once).
 */

export type ProviderSource = 'file' | 'api';

export interface StoredProvider extends ProviderConfig {
  source: ProviderSource;
  createdAt: number;
  updatedAt: number;
}

/** A provider's declaration failed its checks (the admin API answers 400 with the fields). */
export class ProviderInvalid extends Error {
  constructor(readonly issues: ProviderIssue[]) {
    super(`invalid identity provider: ${issues.map((i) => `${i.path.join('.') || '(provider)'}: ${i.message}`).join('; ')}`);
    this.name = 'ProviderInvalid';
  }
}

export interface ProviderRegistryDeps {
  db: Kysely<Database>;
  kek: KeyEncryptionKey;
}

/** The declaration as written (common fields, type fields, secrets): what an update merges into. */
export function declarationOf(p: ProviderConfig): Record<string, unknown> {
  const common = Object.fromEntries(Object.entries(p).filter(([k]) => COMMON_KEYS.has(k)));
  return { ...common, ...p.settings, ...p.secrets };
}

/** JSON with object keys sorted: the same declaration gives the same text whatever order it was stored in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : v));
}

export class ProviderRegistry {
  constructor(private readonly deps: ProviderRegistryDeps) {}

  async list(): Promise<StoredProvider[]> {
    const rows = await allProviders.execute(this.deps.db);
    // Sorted here, by code units, so SQLite and PostgreSQL collations agree.
    return rows.map((r) => this.toProvider(r)).sort((a, b) => (a.alias < b.alias ? -1 : a.alias > b.alias ? 1 : 0));
  }

  async get(alias: string): Promise<StoredProvider | undefined> {
    const row = await this.deps.db.selectFrom('identity_providers').selectAll().where('alias', '=', alias).executeTakeFirst();
    return row && this.toProvider(row);
  }

  /** Enabled providers that serve this tenant, in alias order. */
  async forTenant(tenantId: string): Promise<StoredProvider[]> {
    return (await this.list()).filter((p) => p.enabled && p.tenants.includes(tenantId));
  }

  /**
   * Adds a provider.
   * @throws ProviderInvalid; ConflictError when the alias is taken.
   */
  async create(input: unknown, source: ProviderSource, now = Date.now()): Promise<StoredProvider> {
    const config = this.parse(input);
    await mapConflict('identity provider', config.alias, () => this.deps.db.insertInto('identity_providers')
      .values({ ...this.row(config), source, created_at: now, updated_at: now }).execute());
    return { ...config, source, createdAt: now, updatedAt: now };
  }

  /**
   * Replaces a provider's declaration; secrets absent from `input` stay as stored.
   * @throws ProviderInvalid
   */
  async replace(current: StoredProvider, input: Record<string, unknown>, now = Date.now()): Promise<StoredProvider> {
    const def = PROVIDER_TYPES[current.type];
    const keep = Object.fromEntries(Object.entries(current.secrets).filter(([k]) => def?.secrets.includes(k) && !(k in input)));
    const config = this.parse({ ...keep, ...input, alias: current.alias });
    await this.deps.db.updateTable('identity_providers').set({ ...this.row(config), updated_at: now }).where('alias', '=', current.alias).execute();
    return { ...config, source: current.source, createdAt: current.createdAt, updatedAt: now };
  }

  async delete(alias: string): Promise<boolean> {
    const res = await this.deps.db.deleteFrom('identity_providers').where('alias', '=', alias).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  /**
   * Applies the configuration file's providers idempotently: created or
   * brought in line with the file; a provider the admin API created with the
   * same alias comes under the file's control. Providers no longer in the
   * file are left alone (removal is an explicit admin action).
   */
  async applyDeclared(entries: readonly Record<string, unknown>[]): Promise<{ created: number; updated: number; unchanged: number }> {
    const out = { created: 0, updated: 0, unchanged: 0 };
    for (const entry of entries) {
      const config = this.parse(entry);
      const current = await this.get(config.alias);
      if (!current) {
        await this.create(entry, 'file');
        out.created += 1;
      } else if (current.source === 'file' && canonical(declarationOf(current)) === canonical(declarationOf(config))) {
        out.unchanged += 1;
      } else {
        await this.replace(current, entry);
        await this.deps.db.updateTable('identity_providers').set({ source: 'file' }).where('alias', '=', config.alias).execute();
        out.updated += 1;
      }
    }
    return out;
  }

  private parse(input: unknown): ProviderConfig {
    const parsed = parseProviderConfig(input);
    if (!parsed.ok) throw new ProviderInvalid(parsed.issues);
    return parsed.value;
  }

  private row(p: ProviderConfig) {
    const { settings, secrets, ...common } = p;
    const config = { ...Object.fromEntries(Object.entries(common).filter(([k]) => k !== 'alias' && k !== 'type' && k !== 'enabled')), ...settings };
    return {
      alias: p.alias, type: p.type, enabled: p.enabled ? 1 : 0, config: JSON.stringify(config),
      secrets: Object.keys(secrets).length ? this.deps.kek.encrypt(JSON.stringify(secrets)) : null,
    };
  }

  private toProvider(r: Database['identity_providers']): StoredProvider {
    const stored = JSON.parse(r.config) as Record<string, unknown>;
    const common: Record<string, unknown> = {};
    const settings: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(stored)) (COMMON_KEYS.has(k) ? common : settings)[k] = v;
    // Stored rows were validated on the way in; decrypt fails loudly if TESSERA_SECRET changed.
    const secrets = r.secrets ? JSON.parse(this.deps.kek.decrypt(r.secrets)) as Record<string, string> : {};
    return {
      ...(common as Omit<ProviderConfig, 'settings' | 'secrets' | 'alias' | 'type' | 'enabled'>),
      alias: r.alias, type: r.type, enabled: Number(r.enabled) === 1, settings, secrets,
      source: r.source as ProviderSource, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at),
    };
  }
}
