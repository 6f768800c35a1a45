import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventBus } from '../../audit/events.js';
import type { UserRepository } from '../../identity/repository.js';
import type { DirectoryRepository } from '../repository.js';
import type { DirectoryAccounts } from './accounts.js';
import type { LdapProvider, LdapProviders } from './providers.js';

/**
 * Directory sync (docs/directories.md#sync): reads every entry of the sync
 * filter, page by page, and brings the accounts in line (create, update,
 * roles from group mappings); once the whole directory has been read, the
 * accounts whose entries vanished are disabled and signed out everywhere.
 * An interrupted run disables no one (the vanished are only known after a
 * complete read), and a rerun is idempotent. One instance runs a provider's
 * sync at a time: a lease in the database, renewed while the run lasts.
 */

export interface SyncSummary {
  provider: string;
  created: number;
  updated: number;
  disabled: number;
  unchanged: number;
  /** Entries the directory has but that could not become accounts (email of a local account, no identifier, jit off). */
  skipped: number;
  ms: number;
}

export interface SyncProgress { seen: number; total?: number }

export interface SyncDeps {
  providers: LdapProviders;
  accounts: DirectoryAccounts;
  entries: DirectoryRepository;
  users: Pick<UserRepository, 'findById' | 'updateProfile'>;
  /** Ends every session and grant of the account (sessions with back-channel logout first). */
  signOutEverywhere(userId: string, tenantId: string): Promise<void>;
  events: EventBus;
  log: Logger;
  onEventError?: (err: unknown) => void;
}

export class DirectoryBusyError extends Error {
  constructor(readonly provider: string) {
    super(`a sync of ${provider} is running on another instance`);
    this.name = 'DirectoryBusyError';
  }
}

export class UnknownProviderError extends Error {
  constructor(readonly provider: string) {
    super(`no enabled LDAP provider "${provider}"`);
    this.name = 'UnknownProviderError';
  }
}

/** A lease lives this long without renewal (a crashed instance frees it after this). */
export const LEASE_MS = 60_000;
export const leaseName = (alias: string) => `ldap-sync:${alias}`;

export class DirectorySync {
  /** This instance's id; each run holds the lease as `instance:run`. */
  private readonly instance = `${process.pid}-${randomBytes(6).toString('hex')}`;
  private runs = 0;

  constructor(private readonly deps: SyncDeps) {}

  /**
   * One sync of the provider.
   * @throws UnknownProviderError; DirectoryBusyError while another run holds the lease;
   *   DirectoryUnavailableError when the directory cannot be read (nothing is disabled then).
   */
  async run(alias: string, opts: { onProgress?(p: SyncProgress): void; signal?: AbortSignal; notIfRanWithinMs?: number } = {}): Promise<SyncSummary | undefined> {
    const provider = await this.deps.providers.get(alias);
    if (!provider || !provider.settings.enabled) throw new UnknownProviderError(alias);
    const name = leaseName(alias);
    const holder = `${this.instance}:${(this.runs += 1)}`;
    if (!(await this.deps.entries.acquireLease(name, holder, LEASE_MS))) throw new DirectoryBusyError(alias);
    const renew = setInterval(() => {
      this.deps.entries.acquireLease(name, holder, LEASE_MS).catch((err: unknown) => this.deps.log.error({ err, provider: alias }, 'sync lease renewal failed'));
    }, LEASE_MS / 3);
    renew.unref();
    let summary: SyncSummary | undefined;
    try {
      if (opts.notIfRanWithinMs !== undefined) {
        const last = (await this.deps.entries.lease(name))?.last_run_at;
        if (last && Date.now() - Number(last) < opts.notIfRanWithinMs) return undefined; // another instance just ran it
      }
      summary = await this.sync(provider, opts);
      return summary;
    } finally {
      clearInterval(renew);
      await this.deps.entries.releaseLease(name, holder, summary ? JSON.stringify(summary) : undefined);
    }
  }

  private async sync({ settings, connector }: LdapProvider, opts: { onProgress?(p: SyncProgress): void; signal?: AbortSignal }): Promise<SyncSummary> {
    const alias = settings.alias;
    const started = Date.now();
    const ctx = { actorId: null };
    const s: SyncSummary = { provider: alias, created: 0, updated: 0, disabled: 0, unchanged: 0, skipped: 0, ms: 0 };
    let seen = 0;
    for await (const page of connector.entries()) {
      for (const entry of page) {
        if (opts.signal?.aborted) throw new Error('sync interrupted');
        const out = await this.deps.accounts.upsert(settings, entry, ctx, started);
        if (out.ok) s[out.change] += 1;
        else {
          s.skipped += 1;
          this.deps.log.info({ event: 'directory.sync_skipped', provider: alias, dn: entry.dn, reason: out.reason }, 'directory entry skipped');
        }
        seen += 1;
      }
      opts.onProgress?.({ seen });
    }
    // The whole directory was read: what it no longer has is gone.
    const unseen = await this.deps.entries.unseen(alias, started);
    if (seen === 0 && unseen.length > 0) {
      // An empty answer for a directory that had people is a filter or permission problem far more often than a mass departure.
      this.deps.log.warn({ event: 'directory.sync_empty', provider: alias, known: unseen.length }, 'directory sync read no entries; nobody was disabled');
    } else {
      for (const e of unseen) {
        if (opts.signal?.aborted) throw new Error('sync interrupted');
        const user = await this.deps.users.findById(e.userId);
        if (user && user.status !== 'disabled') {
          await this.deps.users.updateProfile(user.id, { status: 'disabled' });
          await this.deps.signOutEverywhere(user.id, user.tenantId);
          await this.deps.events.emit({
            type: 'user.disabled', tenantId: user.tenantId, subjectId: user.id, context: ctx,
            data: { via: 'directory_sync', provider: alias, reason: 'not_in_directory', previous_status: user.status },
          }, this.deps.onEventError);
          s.disabled += 1;
        }
        await this.deps.entries.markGone(alias, e.subject);
      }
    }
    s.ms = Date.now() - started;
    this.deps.log.info({ event: 'directory.synced', ...s }, 'directory sync finished');
    await this.deps.events.emit({ type: 'directory.synced', tenantId: settings.tenants[0]!, subjectId: null, context: ctx, data: { ...s } }, this.deps.onEventError);
    return s;
  }
}

/** "N created, N updated, N disabled, N unchanged" (and skipped when some were). */
export function summaryLine(s: SyncSummary): string {
  return `${s.created} created, ${s.updated} updated, ${s.disabled} disabled, ${s.unchanged} unchanged${s.skipped ? `, ${s.skipped} skipped` : ''}`;
}
