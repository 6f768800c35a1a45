import type { FastifyInstance } from 'fastify';
import { Counter } from 'prom-client';
import type { Platform } from '../platform.js';
import { AccessService } from '../account/access.js';
import { createSessionMetaRepository } from '../account/session-meta.js';
import { createExternalLinkRepository } from '../federation/links.js';
import { createDirectoryRepository } from './repository.js';
import { DirectoryAccounts } from './ldap/accounts.js';
import { LdapProviders } from './ldap/providers.js';
import { ldapPasswordVerifier } from './ldap/verifier.js';
import { DirectoryBusyError, DirectorySync } from './ldap/sync.js';

/**
 * Enterprise directories (docs/directories.md): the registry's LDAP /
 * Active Directory providers (`type: ldap`), their bind authentication behind the
 * password form (a PasswordVerifier ahead of the local accounts) and their
 * sync (`tessera ldap sync`, and scheduled per provider).
 */
export interface Directories {
  providers: LdapProviders;
  sync: DirectorySync;
  /** One scheduling pass: runs the syncs that are due (the lease keeps it to one instance). */
  tick(): Promise<void>;
}

const byPlatform = new WeakMap<Platform, Directories>();

/** The directories of an app (the CLI's `ldap sync` uses them). */
export function directoriesOf(p: Platform): Directories | undefined {
  return byPlatform.get(p);
}

/** How often an instance looks for a due scheduled sync. */
const TICK_MS = 15_000;

export async function directoriesFeature(app: FastifyInstance, p: Platform): Promise<void> {
  const onEventError = (err: unknown) => p.log.error({ err }, 'event listener failed');
  // The registry's `type: ldap` entries (the file's, applied at start, and the admin API's).
  const providers = new LdapProviders({ registry: p.identityProviders, log: p.log });
  p.events.on((event) => {
    if (event.type.startsWith('identity_provider.')) providers.invalidate();
  });

  const links = createExternalLinkRepository(p.db);
  const entries = createDirectoryRepository(p.db);
  const accounts = new DirectoryAccounts({ db: p.db, users: p.users, roles: p.roles, links, entries, events: p.events, onEventError });
  const unavailable = new Counter({
    name: 'tessera_directory_unavailable_total', help: 'Directory sign-ins answered 503 because the directory did not answer, by provider',
    labelNames: ['provider'] as const, registers: [p.metrics.registry],
  });
  p.passwords.register(ldapPasswordVerifier({ providers, accounts, identity: p.identity, links, events: p.events, log: p.log, unavailable, onEventError }));

  const access = new AccessService({ payloads: p.payloads, meta: createSessionMetaRepository(p.db), clients: p.clients, provider: p.provider, events: p.events, log: p.log });
  const sync = new DirectorySync({
    providers, accounts, entries, users: p.users, events: p.events, log: p.log, onEventError,
    async signOutEverywhere(userId, tenantId) {
      await access.revokeAllSessions(userId, tenantId, { actorId: null });
      await p.payloads.revokeByAccount(userId);
    },
  });

  const running = new Set<string>();
  const tick = async () => {
    for (const provider of await providers.list()) {
      const every = provider.settings.sync_interval_seconds;
      const alias = provider.settings.alias;
      if (!every || running.has(alias)) continue;
      const last = (await entries.lease(`ldap-sync:${alias}`))?.last_run_at;
      if (last && Date.now() - Number(last) < every * 1000) continue;
      running.add(alias);
      try {
        await sync.run(alias, { notIfRanWithinMs: every * 1000 });
      } catch (err) {
        if (!(err instanceof DirectoryBusyError)) p.log.warn({ err, event: 'directory.sync_failed', provider: alias }, 'scheduled directory sync failed');
      } finally {
        running.delete(alias);
      }
    }
  };
  byPlatform.set(p, { providers, sync, tick });

  const timer = setInterval(() => tick().catch((err: unknown) => p.log.error({ err }, 'directory sync schedule failed')), TICK_MS);
  timer.unref();
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await providers.close();
  });
}
