import type { Kysely } from 'kysely';
import type { Database } from '../../storage/schema.js';
import type { EventBus, EventContext } from '../../audit/events.js';
import type { User } from '../../identity/model.js';
import { normalizeEmail, normalizeUsername, usernameProblem } from '../../identity/model.js';
import type { RoleRepository, UserRepository } from '../../identity/repository.js';
import { createUserRepository } from '../../identity/repository.js';
import { createExternalLinkRepository } from '../../federation/links.js';
import type { ExternalLinkRepository } from '../../federation/links.js';
import { ConflictError } from '../../storage/errors.js';
import type { DirectoryRepository } from '../repository.js';
import type { DirectoryEntry } from './client.js';
import type { LdapSettings } from './config.js';

/**
 * Directory entries → Tessera accounts, the same way at sign-in and in a
 * sync: the link (provider, entryUUID/objectGUID) finds the account; a person
 * without one gets an account when the provider's `jit` is `create`. An
 * email that belongs to a local account is never linked silently (the
 * federation rule): that person is refused until an administrator links them.
 * Groups become roles through `group_mappings`; the directory takes back
 * only the roles it granted.
 */

export type AccountOutcome =
  | { ok: true; user: User; change: 'created' | 'updated' | 'unchanged' }
  | { ok: false; reason: 'jit_off' | 'link_required' | 'username_taken' | 'missing_identifier' | 'other_tenant' };

export interface AccountDeps {
  db: Kysely<Database>;
  users: UserRepository;
  roles: Pick<RoleRepository, 'list'>;
  links: ExternalLinkRepository;
  entries: DirectoryRepository;
  events: EventBus;
  onEventError?: (err: unknown) => void;
}

/**
 * The roles the entry's groups grant in the provider's tenant (a mapping
 * names a group by cn or by full DN, case-insensitively; mappings for
 * another tenant are not applied by directories).
 */
export function mappedRoles(settings: Pick<LdapSettings, 'group_mappings' | 'tenants'>, groups: readonly string[]): string[] {
  const dns = new Set(groups.map((g) => g.toLowerCase().replace(/\s*,\s*/g, ',')));
  const cns = new Set(groups.map((g) => /^cn=([^,]+)/i.exec(g)?.[1]?.toLowerCase()).filter((x) => x !== undefined));
  const out = new Set<string>();
  for (const m of settings.group_mappings) {
    if (m.tenant && m.tenant !== settings.tenants[0]) continue;
    const g = m.group.toLowerCase().replace(/\s*,\s*/g, ',');
    if (dns.has(g) || cns.has(g)) m.roles.forEach((r) => out.add(r));
  }
  return [...out].sort();
}

const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

export class DirectoryAccounts {
  constructor(private readonly deps: AccountDeps) {}

  /** The account tied to the entry (by its link), if any. */
  async linked(settings: LdapSettings, subject: string): Promise<User | undefined> {
    const link = await this.deps.links.find(settings.tenants[0]!, settings.alias, subject);
    return link ? this.deps.users.findById(link.userId) : undefined;
  }

  /**
   * Brings the account in line with the entry: creates it (JIT), updates the
   * profile and the directory's roles, re-enables an account the directory
   * had removed and now has again. Never touches a password or another link.
   */
  async upsert(settings: LdapSettings, entry: DirectoryEntry, ctx: EventContext, now = Date.now()): Promise<AccountOutcome> {
    const tenantId = settings.tenants[0]!;
    const record = await this.deps.entries.findEntry(settings.alias, entry.subject);
    let user = await this.linked(settings, entry.subject);
    if (user && user.tenantId !== tenantId) return { ok: false, reason: 'other_tenant' };
    const granted = await this.grantable(tenantId, mappedRoles(settings, entry.groups));
    let change: 'created' | 'updated' | 'unchanged' = 'unchanged';
    /** The roles the directory holds on the account after this (what it may take back later). */
    let owned = granted;

    if (!user) {
      // `approve` (an administrator's approval queue) is federation's; a directory creates or does not.
      if (settings.jit !== 'create') return { ok: false, reason: 'jit_off' };
      // Default roles are the JIT account's start, not the directory's to take back later.
      const created = await this.create(settings, entry, [...new Set([...granted, ...(await this.grantable(tenantId, settings.default_roles))])]);
      if (!created.ok) return created;
      user = created.user;
      change = 'created';
      await this.emit('user.jit_created', user, ctx, { via: 'directory', provider: settings.alias, roles: user.roles });
    } else {
      const patch = this.profilePatch(settings, user, entry);
      if (patch.username !== undefined && patch.username !== null) {
        const other = await this.deps.users.findByUsername(tenantId, patch.username);
        if (other && other.id !== user.id) {
          delete patch.username; // another account holds the name now: keep the old one
        }
      }
      if (patch.email) {
        const other = await this.deps.users.findByEmail(tenantId, patch.email);
        if (other && other.id !== user.id) delete patch.email;
      }
      // The directory removed this person once (a sync disabled the account); they are back.
      if (record && !record.present && user.status === 'disabled') patch.status = 'active';
      if (Object.keys(patch).length) {
        user = await this.deps.users.updateProfile(user.id, patch);
        change = 'updated';
        await this.emit('user.updated', user, ctx, { via: 'directory', provider: settings.alias, fields: Object.keys(patch).sort() });
        if (patch.status === 'active') await this.emit('user.enabled', user, ctx, { via: 'directory', provider: settings.alias });
      }
      const before = user.roles;
      const previouslyGranted = record?.roles ?? [];
      // Roles it granted and no longer grants go; roles an administrator gave stay.
      const keep = before.filter((r) => !previouslyGranted.includes(r) || granted.includes(r));
      const next = [...new Set([...keep, ...granted])].sort();
      // A role the account held before the directory granted it stays the administrator's.
      owned = granted.filter((r) => previouslyGranted.includes(r) || !before.includes(r));
      if (!same(next, before)) {
        await this.deps.users.setRoles(user.id, tenantId, next);
        user = (await this.deps.users.findById(user.id))!;
        change = 'updated';
        await this.emit('user.roles_changed', user, ctx, { via: 'directory', provider: settings.alias, roles: next, previous: [...before].sort() });
      }
    }
    await this.deps.entries.saveEntry({
      provider: settings.alias, subject: entry.subject, tenantId, userId: user.id, dn: entry.dn, groups: entry.groups,
      roles: owned, present: true, seenAt: now,
    });
    return { ok: true, user, change };
  }

  /** Mapped roles that exist in the tenant (a mapping to an undeclared role is ignored, and logged by the caller). */
  private async grantable(tenantId: string, roles: string[]): Promise<string[]> {
    if (!roles.length) return roles;
    const known = new Set((await this.deps.roles.list(tenantId)).map((r) => r.name));
    return roles.filter((r) => known.has(r));
  }

  private profilePatch(settings: LdapSettings, user: User, entry: DirectoryEntry) {
    const patch: { username?: string | null; email?: string | null; emailVerified?: boolean; givenName?: string | null; familyName?: string | null; status?: 'active' } = {};
    const username = entry.username && !usernameProblem(entry.username) ? entry.username.trim() : null;
    if (username && normalizeUsername(username) !== normalizeUsername(user.username ?? '')) patch.username = username;
    if (entry.email && normalizeEmail(entry.email) !== normalizeEmail(user.email ?? '')) {
      patch.email = entry.email.trim();
      patch.emailVerified = settings.trust_email_verified;
    }
    if ((entry.givenName ?? null) !== user.givenName) patch.givenName = entry.givenName;
    if ((entry.familyName ?? null) !== user.familyName) patch.familyName = entry.familyName;
    return patch;
  }

  private async create(settings: LdapSettings, entry: DirectoryEntry, roles: string[]): Promise<AccountOutcome> {
    const tenantId = settings.tenants[0]!;
    const username = entry.username && !usernameProblem(entry.username) ? entry.username.trim() : null;
    const email = entry.email?.trim() || null;
    if (!username && !email) return { ok: false, reason: 'missing_identifier' };
    // Never link by email: a local account with this address stays its owner's (and this person waits for an administrator).
    if (email && (await this.deps.users.findByEmail(tenantId, email))) return { ok: false, reason: 'link_required' };
    if (username && (await this.deps.users.findByUsername(tenantId, username))) return { ok: false, reason: 'username_taken' };
    try {
      const user = await this.deps.db.transaction().execute(async (trx) => {
        const users = createUserRepository(trx);
        const created = await users.create({
          tenantId, username, email, emailVerified: email ? settings.trust_email_verified : false,
          givenName: entry.givenName, familyName: entry.familyName, status: 'active', passwordHash: null,
        });
        if (roles.length) await users.setRoles(created.id, tenantId, roles);
        await createExternalLinkRepository(trx).link({ tenantId, provider: settings.alias, subject: entry.subject, userId: created.id, email });
        return created;
      });
      return { ok: true, user: (await this.deps.users.findById(user.id))!, change: 'created' };
    } catch (err) {
      // A sign-in and a sync creating the same person at once: the loser finds the winner's account.
      if (err instanceof ConflictError) {
        const winner = await this.linked(settings, entry.subject);
        if (winner) return { ok: true, user: winner, change: 'unchanged' };
        return { ok: false, reason: email ? 'link_required' : 'username_taken' };
      }
      throw err;
    }
  }

  private async emit(type: 'user.jit_created' | 'user.updated' | 'user.enabled' | 'user.roles_changed', user: User, ctx: EventContext, data: Record<string, unknown>) {
    await this.deps.events.emit({ type, tenantId: user.tenantId, subjectId: user.id, context: ctx, data }, this.deps.onEventError);
  }
}
