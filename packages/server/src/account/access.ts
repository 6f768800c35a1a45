import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { EventBus, EventContext } from '../audit/events.js';
import type { OidcPayloadStore } from '../oidc/payload-store.js';
import type { ClientRepository } from '../oidc/repository.js';
import type { SessionMetaRepository } from './session-meta.js';

/** The built-in client behind the account pages (same value as session.ts exports; kept here to avoid an HTTP import). */
const ACCOUNT_CLIENT = 'tessera-account';

export interface AccessServiceDeps {
  payloads: OidcPayloadStore;
  meta: SessionMetaRepository;
  clients: ClientRepository;
  provider(): Provider;
  events: EventBus;
  log: Logger;
}

export interface SessionView {
  /** The engine Session's stable uid (what the sign-out form names). */
  uid: string;
  /** This browser's session (the one the account pages run in). */
  current: boolean;
  signedInAt: number | null;
  expiresAt: number | null;
  lastSeenAt: number | null;
  userAgent: string | null;
  ip: string | null;
  /** The tenant the session last signed in to (session_meta.signed_in_tenant), when recorded. */
  signedInTenant: string | null;
  /** Names of the applications signed in through this session (the account pages left out). */
  applications: string[];
}

export interface ApplicationView {
  clientId: string;
  name: string;
  scopes: string[];
  resources: { resource: string; scopes: string[] }[];
  grantedAt: number | null;
}

interface Authorization { sid?: string; grantId?: string; persistsLogout?: boolean }
type Payload = Record<string, unknown>;

const authorizationsOf = (session: Payload) => (session.authorizations ?? {}) as Record<string, Authorization>;
const seconds = (v: unknown) => (typeof v === 'number' ? v * 1000 : null);
/** Scopes in the order people read them (who you are, then what), unknown ones after, alphabetically. */
const SCOPE_ORDER = ['openid', 'profile', 'email', 'phone', 'roles', 'offline_access'];
const byScopeOrder = (a: string, b: string) => {
  const rank = (s: string) => (SCOPE_ORDER.includes(s) ? SCOPE_ORDER.indexOf(s) : SCOPE_ORDER.length);
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
};
/** A session younger than this may not have its device row yet (the row is written as the sign-in completes). */
const PRUNE_GRACE_MS = 60_000;

/**
 * The user's platform sessions and connected applications, read from the
 * engine's own artefacts (Session, Grant) so the page shows exactly what the
 * engine will honour, and revoked through the same store the engine reads.
 */
export class AccessService {
  constructor(private readonly deps: AccessServiceDeps) {}

  /** Live sessions, newest sign-in first, with device details where recorded. */
  async listSessions(userId: string, currentSid: string | null): Promise<SessionView[]> {
    const sessions = await this.deps.payloads.listByAccount('Session', userId);
    const meta = new Map((await this.deps.meta.listByAccount(userId)).map((m) => [m.sid, m]));
    const uids = sessions.map((s) => s.uid).filter((u): u is string => typeof u === 'string');
    // Rows of sessions that ended (logout, expiry) are cleaned up here rather than by a separate sweeper.
    await this.deps.meta.prune(userId, uids, Date.now() - PRUNE_GRACE_MS);
    const views = await Promise.all(sessions.filter((s) => typeof s.uid === 'string').map(async (s) => {
      const uid = s.uid as string;
      const m = meta.get(uid);
      const auth = authorizationsOf(s);
      return {
        uid,
        current: currentSid !== null && auth[ACCOUNT_CLIENT]?.sid === currentSid,
        signedInAt: seconds(s.loginTs),
        expiresAt: seconds(s.exp),
        lastSeenAt: m?.lastSeenAt ?? null,
        userAgent: m?.userAgent ?? null,
        ip: m?.ip ?? null,
        signedInTenant: m?.signedInTenant ?? null,
        applications: await this.clientNames(Object.keys(auth).filter((c) => c !== ACCOUNT_CLIENT)),
      } satisfies SessionView;
    }));
    return views.sort((a, b) => (b.signedInAt ?? 0) - (a.signedInAt ?? 0));
  }

  /**
   * Ends one of the user's sessions: the engine session goes (it stops
   * working at once: prompt=none answers login_required), with its device
   * row, the grants that do not outlive logout (as the engine's own
   * end-session does: offline_access grants stay, listed under
   * applications), and back-channel logout notices to the clients.
   * Returns false when the user has no such session.
   */
  async revokeSession(userId: string, tenantId: string, uid: string, ctx: EventContext): Promise<boolean> {
    const session = await this.deps.payloads.findByUid('Session', uid);
    if (!session || session.accountId !== userId) return false;
    await this.endSession(userId, uid, session);
    await this.emit('session.revoked', userId, tenantId, ctx, { session: uid, scope: 'one' });
    return true;
  }

  /** Ends every session of the user, this browser's included. Returns how many there were. */
  async revokeAllSessions(userId: string, tenantId: string, ctx: EventContext): Promise<number> {
    const sessions = await this.deps.payloads.listByAccount('Session', userId);
    for (const session of sessions) {
      if (typeof session.uid === 'string') await this.endSession(userId, session.uid, session);
    }
    // Sessions that raced in meanwhile, and every device row, go too.
    await this.deps.payloads.revokeByAccount(userId, ['Session']);
    await this.deps.meta.deleteByAccount(userId);
    await this.emit('session.revoked', userId, tenantId, ctx, { scope: 'all', count: sessions.length });
    return sessions.length;
  }

  /** Applications the user has granted access to, one entry per client (the account pages left out). */
  async listApplications(userId: string): Promise<ApplicationView[]> {
    const grants = (await this.deps.payloads.listByAccount('Grant', userId))
      .filter((g) => typeof g.clientId === 'string' && g.clientId !== ACCOUNT_CLIENT);
    const byClient = new Map<string, Payload[]>();
    for (const g of grants) byClient.set(g.clientId as string, [...(byClient.get(g.clientId as string) ?? []), g]);
    const apps = await Promise.all([...byClient.entries()].map(async ([clientId, list]) => {
      const scopes = new Set<string>();
      const resources = new Map<string, Set<string>>();
      for (const g of list) {
        const openidScope = (g.openid as { scope?: unknown } | undefined)?.scope;
        if (typeof openidScope === 'string') openidScope.split(' ').filter(Boolean).forEach((s) => scopes.add(s));
        for (const [resource, scope] of Object.entries((g.resources ?? {}) as Record<string, unknown>)) {
          const set = resources.get(resource) ?? new Set<string>();
          if (typeof scope === 'string') scope.split(' ').filter(Boolean).forEach((s) => set.add(s));
          resources.set(resource, set);
        }
      }
      const issued = list.map((g) => g.iat).filter((v): v is number => typeof v === 'number');
      return {
        clientId,
        name: (await this.clientNames([clientId]))[0] ?? clientId,
        scopes: [...scopes].sort(byScopeOrder),
        resources: [...resources.entries()].map(([resource, s]) => ({ resource, scopes: [...s].sort() })),
        grantedAt: issued.length ? Math.min(...issued) * 1000 : null,
      } satisfies ApplicationView;
    }));
    return apps.sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Revokes everything the user granted one client: its grants and every
   * token issued under them (refresh tokens then fail with invalid_grant).
   * Returns false when the user has granted the client nothing.
   */
  async revokeApplication(userId: string, tenantId: string, clientId: string, ctx: EventContext): Promise<boolean> {
    if (clientId === ACCOUNT_CLIENT) return false;
    const grants = (await this.deps.payloads.listByAccount('Grant', userId)).filter((g) => g.clientId === clientId);
    if (!grants.length) return false;
    for (const g of grants) {
      if (typeof g.jti === 'string') await this.revokeGrant(g.jti);
    }
    await this.emit('grant.revoked', userId, tenantId, ctx, { client_id: clientId, grants: grants.length });
    return true;
  }

  private async endSession(userId: string, uid: string, session: Payload): Promise<void> {
    // The session first: from here on it authorizes nothing, even if a later step fails.
    await this.deps.payloads.destroyByUid('Session', uid);
    await this.deps.meta.delete(uid);
    const entries = Object.entries(authorizationsOf(session));
    for (const [, auth] of entries) {
      if (auth.grantId && !auth.persistsLogout) await this.revokeGrant(auth.grantId);
    }
    await Promise.all(entries.map(([clientId, auth]) => this.backchannelLogout(clientId, userId, auth.sid)));
  }

  private async revokeGrant(grantId: string): Promise<void> {
    await this.deps.payloads.revokeByGrantId(grantId);
    await this.deps.payloads.destroy('Grant', grantId);
  }

  /** OpenID Back-Channel Logout 1.0, as the engine's end-session would send it. Failures are logged only. */
  private async backchannelLogout(clientId: string, userId: string, sid: string | undefined): Promise<void> {
    if (clientId === ACCOUNT_CLIENT) return;
    try {
      const client = await this.deps.provider().Client.find(clientId);
      if (!client?.backchannelLogoutUri) return;
      await (client as unknown as { backchannelLogout(sub: string, sid?: string): Promise<void> }).backchannelLogout(userId, sid);
    } catch (err) {
      this.deps.log.warn({ err: { message: (err as Error).message }, clientId }, 'back-channel logout delivery failed');
    }
  }

  private async clientNames(clientIds: string[]): Promise<string[]> {
    return Promise.all(clientIds.map(async (id) => {
      const name = (await this.deps.clients.find(id))?.metadata.client_name;
      return typeof name === 'string' && name ? name : id;
    }));
  }

  private async emit(type: 'session.revoked' | 'grant.revoked', userId: string, tenantId: string, ctx: EventContext, data: Record<string, unknown>) {
    await this.deps.events.emit({ type, tenantId, subjectId: userId, context: ctx, data },
      (err) => this.deps.log.error({ err, event: type }, 'event listener failed'));
  }
}
