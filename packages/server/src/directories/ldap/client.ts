import type { Client, Entry } from 'ldapts';
import type { LdapSettings } from './config.js';
import { lazy } from '../../startup/lazy.js';

// Loaded with the first connection to a directory, not at start (issue 20).
const ldapts = lazy(() => import('ldapts'));

/**
 * The LDAP side of a directory provider, with `ldapts`: TLS (ldaps:// or
 * StartTLS, the CA pinned when configured), a pool of connections bound as
 * the service account for searches, a fresh connection for each person's
 * bind (a bind changes who the connection is), connect and operation
 * timeouts, and failover across the configured servers.
 */

/** The directory could not be asked (down, timing out, TLS refused, the service account refused). Never a person's wrong password. */
export class DirectoryUnavailableError extends Error {
  constructor(readonly provider: string, readonly detail: string) {
    super(`directory ${provider} unavailable: ${detail}`);
    this.name = 'DirectoryUnavailableError';
  }
}

/** A person as the directory describes them (attribute mapping applied). */
export interface DirectoryEntry {
  dn: string;
  /** entryUUID, or objectGUID as a GUID string: the link to the account. */
  subject: string;
  username: string | null;
  email: string | null;
  givenName: string | null;
  familyName: string | null;
  /** Group DNs (memberOf or a group search). */
  groups: string[];
}

/**
 * Why a bind failed. Active Directory says why in its diagnostic ("data 532")
 * only when the password was right, so the reasons other than `invalid` may
 * be shown to the person (a wrong password stays the one generic answer).
 */
export type BindOutcome =
  | { ok: true }
  | { ok: false; reason: 'invalid' | 'password_expired' | 'account_disabled'; detail: string };

/** AD's sub-codes of LDAP result 49 (AcceptSecurityContext error, data XXX). */
const AD_DATA: Record<string, 'password_expired' | 'account_disabled'> = {
  532: 'password_expired', // password expired
  773: 'password_expired', // must change the password at the next sign-in
  533: 'account_disabled', // account disabled
  701: 'account_disabled', // account expired
};

/** RFC 4515 §3: the characters a value must escape inside a filter. */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** objectGUID's 16 bytes as AD shows them (the first three groups little-endian). */
export function guidString(b: Buffer): string {
  const h = (i: number) => b[i]!.toString(16).padStart(2, '0');
  const r = (is: number[]) => is.map(h).join('');
  return `${r([3, 2, 1, 0])}-${r([5, 4])}-${r([7, 6])}-${r([8, 9])}-${r([10, 11, 12, 13, 14, 15])}`;
}

const first = (v: Entry[string] | undefined): string | null => {
  if (v === undefined) return null;
  const x = Array.isArray(v) ? v[0] : v;
  if (x === undefined) return null;
  return Buffer.isBuffer(x) ? x.toString('utf8') : String(x);
};
const all = (v: Entry[string] | undefined): string[] =>
  v === undefined ? [] : (Array.isArray(v) ? v : [v]).map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x)));

/** Whether a failure is the network's or the server's (unavailable) rather than an answer. */
function unavailable(provider: string, err: unknown): DirectoryUnavailableError {
  if (err instanceof DirectoryUnavailableError) return err;
  const e = err as { code?: unknown; message?: string };
  return new DirectoryUnavailableError(provider, `${typeof e.code === 'string' ? `${e.code}: ` : ''}${e.message ?? String(err)}`);
}

export class LdapConnector {
  private readonly idle: Client[] = [];
  private open = 0;
  private readonly waiting: Array<(c: Client | Error) => void> = [];
  private closed = false;
  readonly urls: string[];

  constructor(readonly settings: LdapSettings, private readonly bindPassword: string) {
    this.urls = Array.isArray(settings.url) ? settings.url : [settings.url];
  }

  private attributes(): string[] {
    const a = this.settings.attributes;
    const names = [a.username, a.email, a.given_name, a.family_name, this.settings.subject_attribute];
    if (this.settings.groups.source === 'member_of') names.push(this.settings.groups.attribute);
    return [...new Set(names)];
  }

  /** A connected client (TLS as configured), on the first server that answers. */
  private async connect(): Promise<Client> {
    const s = this.settings;
    let last: unknown;
    for (const url of this.urls) {
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      const tlsOptions = {
        ...(s.ca_certificate ? { ca: [s.ca_certificate] } : {}), minVersion: 'TLSv1.2' as const,
        ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }),
      };
      const client = new (await ldapts()).Client({
        url, timeout: s.timeout_ms, connectTimeout: s.connect_timeout_seconds * 1000, strictDN: false,
        ...(url.startsWith('ldaps:') ? { tlsOptions } : {}),
      });
      try {
        if (s.start_tls) await client.startTLS(tlsOptions);
        return client;
      } catch (err) {
        last = err;
        await client.unbind().catch(() => undefined);
      }
    }
    throw unavailable(s.alias, last);
  }

  /** A client bound as the service account, from the pool. */
  private async acquire(): Promise<Client> {
    if (this.closed) throw new DirectoryUnavailableError(this.settings.alias, 'closed');
    const c = this.idle.pop();
    if (c) return c;
    if (this.open >= this.settings.pool_size) {
      const got = await new Promise<Client | Error>((resolve) => this.waiting.push(resolve));
      if (got instanceof Error) throw got;
      return got;
    }
    this.open += 1;
    try {
      const client = await this.connect();
      try {
        await client.bind(this.settings.bind_dn, this.bindPassword);
      } catch (err) {
        await client.unbind().catch(() => undefined);
        // The service account refused is a configuration problem, not the person's: the directory is unusable.
        throw new DirectoryUnavailableError(this.settings.alias, `service bind failed: ${(err as Error).message}`);
      }
      return client;
    } catch (err) {
      this.open -= 1;
      throw unavailable(this.settings.alias, err);
    }
  }

  private release(c: Client, broken: boolean): void {
    if (broken || this.closed) {
      this.open -= 1;
      c.unbind().catch(() => undefined);
      // A waiter gets a fresh connection slot.
      const next = this.waiting.shift();
      if (next) this.acquire().then(next, next);
      return;
    }
    const next = this.waiting.shift();
    if (next) next(c);
    else this.idle.push(c);
  }

  /** Runs one operation on a pooled service connection; a failed connection is dropped, not reused. */
  private async withService<T>(op: (c: Client) => Promise<T>): Promise<T> {
    const c = await this.acquire();
    try {
      const out = await op(c);
      this.release(c, false);
      return out;
    } catch (err) {
      // A result the server gave (no such object, size limit) leaves the connection usable; anything else does not.
      // Loaded: the connection was made with it.
      this.release(c, !(err instanceof (await ldapts()).ResultCodeError));
      throw unavailable(this.settings.alias, err);
    }
  }

  private toEntry(e: Entry): DirectoryEntry | undefined {
    const a = this.settings.attributes;
    const raw = e[this.settings.subject_attribute];
    const v = Array.isArray(raw) ? raw[0] : raw;
    const subject = v === undefined ? null : Buffer.isBuffer(v) ? (v.length === 16 ? guidString(v) : v.toString('utf8')) : String(v);
    if (!subject) return undefined; // without its stable subject an entry cannot be linked
    return {
      dn: e.dn, subject, username: first(e[a.username]), email: first(e[a.email]),
      givenName: first(e[a.given_name]), familyName: first(e[a.family_name]),
      groups: this.settings.groups.source === 'member_of' ? all(e[this.settings.groups.attribute]) : [],
    };
  }

  private async groupsBySearch(c: Client, dn: string): Promise<string[]> {
    const g = this.settings.groups;
    const { searchEntries } = await c.search(g.base!, { scope: 'sub', filter: g.filter.replaceAll('{{dn}}', escapeFilterValue(dn)), attributes: ['1.1'] });
    return searchEntries.map((x) => x.dn);
  }

  /**
   * Finds the person by what they typed (the user filter), as the service account.
   * Undefined when there is none, or more than one (an ambiguous login signs no one in).
   * @throws DirectoryUnavailableError
   */
  async findUser(login: string): Promise<DirectoryEntry | undefined> {
    return this.withService(async (c) => {
      const filter = this.settings.user_filter.replaceAll('{{username}}', escapeFilterValue(login));
      const { searchEntries } = await c.search(this.settings.user_base, {
        scope: 'sub', filter, attributes: this.attributes(), sizeLimit: 2,
        explicitBufferAttributes: this.settings.subject_attribute === 'objectGUID' ? ['objectGUID'] : [],
      });
      if (searchEntries.length !== 1) return undefined;
      const entry = this.toEntry(searchEntries[0]!);
      if (entry && this.settings.groups.source === 'search') entry.groups = await this.groupsBySearch(c, entry.dn);
      return entry;
    });
  }

  /**
   * Binds as the person on a connection of its own (simple bind over TLS).
   * An empty password never reaches the directory: RFC 4513 §5.1.2's
   * unauthenticated bind would "succeed".
   * @throws DirectoryUnavailableError
   */
  async bind(dn: string, password: string): Promise<BindOutcome> {
    if (!password) return { ok: false, reason: 'invalid', detail: 'empty password' };
    const c = await this.connect();
    try {
      await c.bind(dn, password);
      return { ok: true };
    } catch (err) {
      if (err instanceof (await ldapts()).InvalidCredentialsError) {
        const data = /data ([0-9a-f]{3})/i.exec(err.message)?.[1]?.toLowerCase();
        return { ok: false, reason: (data && AD_DATA[data]) || 'invalid', detail: data ? `ldap 49, data ${data}` : 'ldap 49' };
      }
      throw unavailable(this.settings.alias, err);
    } finally {
      await c.unbind().catch(() => undefined);
    }
  }

  /**
   * Every person the sync filter finds, page by page (RFC 2696 paged results).
   * @throws DirectoryUnavailableError
   */
  async *entries(pageSize = 500): AsyncGenerator<DirectoryEntry[]> {
    const c = await this.acquire();
    let broken = false;
    try {
      const filter = this.settings.sync_filter ?? this.settings.user_filter.replaceAll('{{username}}', '*');
      const pages = c.searchPaginated(this.settings.user_base, {
        scope: 'sub', filter, attributes: this.attributes(), paged: { pageSize },
        explicitBufferAttributes: this.settings.subject_attribute === 'objectGUID' ? ['objectGUID'] : [],
      });
      for await (const page of pages) {
        const out: DirectoryEntry[] = [];
        for (const e of page.searchEntries) {
          const entry = this.toEntry(e);
          if (!entry) continue;
          if (this.settings.groups.source === 'search') entry.groups = await this.groupsBySearch(c, entry.dn);
          out.push(entry);
        }
        yield out;
      }
    } catch (err) {
      broken = true;
      throw unavailable(this.settings.alias, err);
    } finally {
      this.release(c, broken);
    }
  }

  /** How many entries the sync filter finds (names only; for a progress bar). @throws DirectoryUnavailableError */
  async count(pageSize = 1000): Promise<number> {
    return this.withService(async (c) => {
      let n = 0;
      const filter = this.settings.sync_filter ?? this.settings.user_filter.replaceAll('{{username}}', '*');
      for await (const page of c.searchPaginated(this.settings.user_base, { scope: 'sub', filter, attributes: ['1.1'], paged: { pageSize } })) {
        n += page.searchEntries.length;
      }
      return n;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w(new DirectoryUnavailableError(this.settings.alias, 'closed'));
    await Promise.all(this.idle.splice(0).map((c) => c.unbind().catch(() => undefined)));
  }
}
