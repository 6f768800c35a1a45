import type { User } from '../identity/model.js';
import type { UserRepository } from '../identity/repository.js';
import type { AuditEntry, AuditRepository } from '../audit/repository.js';
import type { ExternalLinkRepository } from '../federation/links.js';
import type { MfaFactors } from '../mfa/factors.js';
import type { AccessService } from '../account/access.js';
import type { UserData } from '../userdata/repository.js';

/** The export's format name; a breaking change to its shape gets a new number. */
export const EXPORT_FORMAT = 'tessera.user-export/1';
/** Audit entries per direction (about the user, by the user) in one export; beyond that `audit.truncated` is true. */
export const AUDIT_ENTRY_LIMIT = 10_000;

export interface UserExportDeps {
  issuer: string;
  users: Pick<UserRepository, 'listMemberships' | 'rolesIn'>;
  /** Attributes and external ids (userdata/); the export carries whatever the tenant's schema holds. */
  userData: { dataOfMany(userIds: string[]): Promise<Map<string, UserData>> };
  links: Pick<ExternalLinkRepository, 'listForUser'>;
  factors: Pick<MfaFactors, 'forUser'>;
  access: Pick<AccessService, 'listSessions' | 'listApplications'>;
  audit: Pick<AuditRepository, 'search'>;
  now?: () => number;
}

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/**
 * One person's data, as Tessera holds it, for a data-protection access
 * request (GDPR Art. 15, Art. 20): profile, attributes and external ids,
 * links to identity providers, memberships and roles, second factors (what
 * and when, never a secret), sessions with their devices, the applications
 * they consented to, and the audit entries about them or by them. Secrets
 * never leave: no password hash, TOTP secret, passkey key, recovery code or
 * token. Free of HTTP: the admin API and the account page both call it.
 */
export class UserExportService {
  constructor(private readonly deps: UserExportDeps) {}

  async export(user: User): Promise<Record<string, unknown>> {
    const d = this.deps;
    const [data, links, factors, sessions, applications, tenants, about, by] = await Promise.all([
      d.userData.dataOfMany([user.id]).then((m) => m.get(user.id) ?? { attributes: {}, externalIds: {} }),
      d.links.listForUser(user.id),
      d.factors.forUser(user.id),
      d.access.listSessions(user.id, null),
      d.access.listApplications(user.id),
      d.users.listMemberships(user.id),
      this.auditEntries({ subjectId: user.id }),
      this.auditEntries({ actorId: user.id }),
    ]);
    const memberships = await Promise.all(tenants.map(async (tenant) => ({
      tenant, home: tenant === user.tenantId, roles: await d.users.rolesIn(user.id, tenant),
    })));
    // Entries both about and by the user (most self-service events) appear once.
    const seen = new Set<string>();
    const entries = [...about.entries, ...by.entries].filter((e) => !seen.has(e.id) && seen.add(e.id)).sort((a, b) => b.at - a.at || (a.id < b.id ? -1 : 1));
    return {
      format: EXPORT_FORMAT,
      exported_at: iso(d.now?.() ?? Date.now()),
      issuer: d.issuer,
      user: {
        id: user.id, tenant: user.tenantId, username: user.username, email: user.email, email_verified: user.emailVerified,
        given_name: user.givenName, family_name: user.familyName, phone_number: user.phoneNumber, phone_number_verified: user.phoneNumberVerified,
        status: user.status, locked_until: iso(user.lockedUntil), locale: user.locale, has_password: user.passwordHash !== null,
        password_changed_at: iso(user.passwordChangedAt), created_at: iso(user.createdAt), updated_at: iso(user.updatedAt),
      },
      attributes: data.attributes,
      external_ids: data.externalIds,
      identity_provider_links: links.map((l) => ({ provider: l.provider, subject: l.subject, email: l.email, created_at: iso(l.createdAt), last_used_at: iso(l.lastUsedAt) })),
      memberships,
      second_factors: factors.map((f) => ({ kind: f.kind, label: f.label, created_at: iso(f.createdAt), last_used_at: iso(f.lastUsedAt) })),
      sessions: sessions.map((s) => ({
        id: s.uid, signed_in_at: iso(s.signedInAt), expires_at: iso(s.expiresAt), last_seen_at: iso(s.lastSeenAt),
        ip: s.ip, user_agent: s.userAgent, signed_in_tenant: s.signedInTenant, applications: s.applications,
      })),
      consents: applications.map((a) => ({ client_id: a.clientId, name: a.name, scopes: a.scopes, resources: a.resources, granted_at: iso(a.grantedAt) })),
      audit: {
        truncated: about.truncated || by.truncated,
        entries: entries.map((e) => ({
          at: iso(e.at), action: e.action, tenant: e.tenantId, actor: e.actorId, subject: e.subjectId, ip: e.ip, user_agent: e.userAgent, details: e.details,
        })),
      },
    };
  }

  /** Newest first, up to AUDIT_ENTRY_LIMIT, page by page (keyset) so a long history never loads at once. */
  private async auditEntries(filter: { subjectId?: string; actorId?: string }): Promise<{ entries: AuditEntry[]; truncated: boolean }> {
    const entries: AuditEntry[] = [];
    let after: { at: number; id: string } | undefined;
    for (;;) {
      const page = await this.deps.audit.search({ ...filter, after, limit: 500 });
      entries.push(...page.entries);
      if (!page.next) return { entries, truncated: false };
      if (entries.length >= AUDIT_ENTRY_LIMIT) return { entries: entries.slice(0, AUDIT_ENTRY_LIMIT), truncated: true };
      after = page.next;
    }
  }
}
