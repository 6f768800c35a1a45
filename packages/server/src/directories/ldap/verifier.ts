import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { EventBus, EventContext } from '../../audit/events.js';
import type { User } from '../../identity/model.js';
import type { PasswordVerifier, VerifierOutcome } from '../../identity/password-method.js';
import type { ExternalLinkRepository } from '../../federation/links.js';
import { DirectoryUnavailableError } from './client.js';
import type { DirectoryAccounts } from './accounts.js';
import type { LdapProviders } from './providers.js';

export interface LdapVerifierDeps {
  providers: LdapProviders;
  accounts: DirectoryAccounts;
  identity: {
    findByLogin(tenantId: string, login: string): Promise<User | undefined>;
    recordLoginFailure(user: User, context: EventContext): Promise<void>;
    /** The lock that applies to this attempt's source (docs/security.md#lockout-and-throttling). */
    lockedOut(user: User, context: EventContext): Promise<boolean>;
  };
  links: Pick<ExternalLinkRepository, 'listForUser' | 'touch'>;
  events: EventBus;
  log: Logger;
  /** `tessera_directory_unavailable_total{provider}`. */
  unavailable: Counter<'provider'>;
  onEventError?: (err: unknown) => void;
}

/** Catalogue keys of the messages a directory sign-in may show. */
export const DIRECTORY_MESSAGES = {
  unavailable: 'directory.unavailable',
  password_expired: 'directory.password_expired',
  account_disabled: 'directory.account_disabled',
} as const;

/**
 * Bind authentication (docs/directories.md#sign-in): the password form's
 * verifier for logins a directory answers for. Search as the service
 * account, bind as the person, then the account as the directory describes
 * it. Every failure is the one generic answer (a wrong password counts
 * toward the account's lockout; the pipeline counts it toward the per-IP
 * throttle); only what the right password reveals (expired, disabled) and
 * a directory that does not answer are said. Never a cached credential.
 */
export function ldapPasswordVerifier(deps: LdapVerifierDeps): PasswordVerifier {
  const route = (tenantId: string, login: string) => deps.providers.route(tenantId, login, { findByLogin: (t, l) => deps.identity.findByLogin(t, l), links: deps.links });
  return {
    id: 'ldap',
    handles: async (tenantId, login) => (await route(tenantId, login)) !== undefined,
    async verify(tenantId, login, password, context): Promise<VerifierOutcome> {
      const found = await route(tenantId, login);
      if (!found) return { ok: false, reason: 'invalid_credentials', detail: 'unknown_user' };
      const { settings, connector } = found.provider;
      const alias = settings.alias;
      const fail = async (detail: string, user?: User, count = false): Promise<VerifierOutcome> => {
        if (user && count) await deps.identity.recordLoginFailure(user, context);
        await deps.events.emit({
          type: 'login.failed', tenantId, subjectId: user?.id ?? null, context,
          data: { reason: detail, login: login.slice(0, 256), provider: alias, via: 'ldap' },
        }, deps.onEventError);
        return { ok: false, reason: 'invalid_credentials', detail };
      };
      const refused = async (reason: 'password_expired' | 'account_disabled', user: User | undefined, detail: string): Promise<VerifierOutcome> => {
        await deps.events.emit({
          type: 'login.failed', tenantId, subjectId: user?.id ?? null, context,
          data: { reason, detail, login: login.slice(0, 256), provider: alias, via: 'ldap' },
        }, deps.onEventError);
        return { ok: false, reason: 'refused', status: 403, error: DIRECTORY_MESSAGES[reason], outcome: 'refused', detail: reason };
      };
      const down = (err: DirectoryUnavailableError): VerifierOutcome => {
        deps.unavailable.inc({ provider: alias });
        deps.log.warn({ event: 'directory.unavailable', provider: alias, detail: err.detail, tenant: tenantId }, 'directory unavailable');
        return { ok: false, reason: 'refused', status: 503, error: DIRECTORY_MESSAGES.unavailable, outcome: 'unavailable', detail: 'directory_unavailable' };
      };

      // A locked account is refused before the directory is asked (nor is the directory's own lockout fed).
      if (found.user && (await deps.identity.lockedOut(found.user, context))) return fail('locked', found.user);
      try {
        const entry = await connector.findUser(login);
        if (!entry) {
          // One bind anyway, so an unknown person takes as long as a wrong password.
          await connector.bind(`cn=${randomBytes(12).toString('hex')},${settings.user_base}`, password || 'x').catch(() => undefined);
          return fail('unknown_user', found.user, found.user !== undefined);
        }
        const linked = await deps.accounts.linked(settings, entry.subject);
        // The login names an account linked to another directory entry: the directory's entry was replaced.
        if (found.user && linked?.id !== found.user.id) return fail('subject_mismatch', found.user, true);
        if (linked && (await deps.identity.lockedOut(linked, context))) return fail('locked', linked);
        const bound = await connector.bind(entry.dn, password);
        if (!bound.ok) {
          if (bound.reason === 'invalid') return fail('wrong_password', linked, linked !== undefined);
          return refused(bound.reason, linked, bound.detail);
        }
        const account = await deps.accounts.upsert(settings, entry, context);
        if (!account.ok) return fail(account.reason, linked);
        const user = account.user;
        if (user.status === 'disabled') return fail('disabled', user);
        if (user.status === 'pending') return fail('pending', user);
        await deps.links.touch(tenantId, alias, entry.subject);
        await deps.events.emit({
          type: 'login.succeeded', tenantId, subjectId: user.id, context,
          data: { method: 'pwd', provider: alias, via: 'ldap', ...(account.change === 'created' ? { jit_created: true } : {}) },
        }, deps.onEventError);
        return { ok: true, subject: { userId: user.id } };
      } catch (err) {
        if (err instanceof DirectoryUnavailableError) return down(err);
        throw err;
      }
    },
  };
}
