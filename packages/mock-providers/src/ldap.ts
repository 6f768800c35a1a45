import type { AddressInfo } from 'node:net';
import ldap from 'ldapjs';
import { uuidFor, nameParts, type Persona } from './personas.js';
import type { TlsMaterial } from './cert.js';

/** What a persona's directory entry and binds do (switch per persona with setScenario or the /ldap page). */
export const LDAP_SCENARIOS = ['ok', 'deny', 'missing_email', 'duplicate', 'stale_group', 'slow', 'account_disabled', 'password_expired'] as const;
export type LdapScenario = (typeof LDAP_SCENARIOS)[number];

export const LDAP_SCENARIO_HELP: Record<LdapScenario, string> = {
  ok: 'the entry as it is; binds with the persona password succeed',
  deny: 'every bind as the person fails (invalid credentials, AD data 52e)',
  missing_email: 'the entry has no mail attribute',
  duplicate: 'mail is the email of a local account',
  stale_group: 'the person has left some groups (memberOf and the groups\' member lists)',
  slow: 'binds and searches answer only after the slow delay',
  account_disabled: 'binds fail as AD answers for a disabled account (data 533)',
  password_expired: 'binds fail as AD answers for an expired password (data 532)',
};

export function isLdapScenario(s: string): s is LdapScenario {
  return (LDAP_SCENARIOS as readonly string[]).includes(s);
}

/** Active Directory's bind diagnostics (the "data" code says why); clients parse them for clear messages. */
const AD_BIND_ERROR = (data: string) => `80090308: LdapErr: DSID-0C09042F, comment: AcceptSecurityContext error, data ${data}, v4563`;

export interface LdapOptions {
  port: number;
  host: string;
  baseDn: string;
  bindDn: string;
  bindPassword: string;
  localEmail: string;
  personas: Persona[];
  slow(): Promise<void>;
  /** Also serve LDAPS (TLS from the first byte) on this port with this certificate. */
  tls?: { port: number; material: TlsMaterial };
}

export interface MockDirectory {
  /** Plain LDAP. */
  url: string;
  /** LDAPS, when served: trust `caCertificatePem` (also at GET /ldap/ca.pem). */
  ldapsUrl?: string;
  caCertificatePem?: string;
  port: number;
  baseDn: string;
  usersDn: string;
  groupsDn: string;
  /** The service account Tessera searches with. */
  bindDn: string;
  bindPassword: string;
  /** A filter that finds a person by what they type (`{{username}}`: uid or mail). */
  userFilter: string;
  setScenario(persona: string, scenario: LdapScenario): void;
  scenarioOf(persona: string): LdapScenario;
  /** Every bind attempt: who, and whether it succeeded (tests assert what Tessera did). */
  binds: { dn: string; ok: boolean; at: number }[];
  close(): Promise<void>;
}

type Attrs = Record<string, string[]>;

/**
 * A small LDAP directory (ldapjs server) with the personas as inetOrgPerson entries under
 * ou=people and their groups as groupOfNames under ou=groups (with memberOf, as slapd's memberof
 * overlay or AD give it). Plain LDAP: point Tessera at it with plain LDAP explicitly allowed.
 */
export async function startMockDirectory(o: LdapOptions): Promise<MockDirectory> {
  const base = o.baseDn;
  const usersDn = `ou=people,${base}`;
  const groupsDn = `ou=groups,${base}`;
  const scenarios = new Map<string, LdapScenario>();
  const binds: MockDirectory['binds'] = [];
  const scenarioOf = (id: string) => scenarios.get(id) ?? 'ok';
  const personDn = (p: Persona) => `uid=${p.id},${usersDn}`;

  /** The directory as it is right now (scenarios change entries, so it is built per operation). */
  function entries(): { dn: string; attributes: Attrs }[] {
    const out: { dn: string; attributes: Attrs }[] = [
      { dn: base, attributes: { objectclass: ['top', 'dcObject', 'organization'], o: ['Mock directory'] } },
      { dn: usersDn, attributes: { objectclass: ['top', 'organizationalUnit'], ou: ['people'] } },
      { dn: groupsDn, attributes: { objectclass: ['top', 'organizationalUnit'], ou: ['groups'] } },
    ];
    const members = new Map<string, string[]>();
    for (const p of o.personas) {
      const s = scenarioOf(p.id);
      const drop = s === 'stale_group' ? (p.stale_groups ?? p.groups.slice(-1)) : [];
      const groups = p.groups.filter((g) => !drop.includes(g));
      for (const g of groups) members.set(g, [...(members.get(g) ?? []), personDn(p)]);
      const { given, family } = nameParts(p);
      const mail = s === 'missing_email' ? undefined : s === 'duplicate' ? o.localEmail : p.email;
      out.push({
        dn: personDn(p),
        attributes: {
          objectclass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
          uid: [p.id], cn: [p.name], sn: [family ?? p.name], givenname: [given], displayname: [p.name],
          ...(mail ? { mail: [mail] } : {}),
          ...(p.tenant ? { o: [p.tenant] } : {}),
          entryuuid: [uuidFor(`ldap:${p.id}`)],
          memberof: groups.map((g) => `cn=${g},${groupsDn}`),
        },
      });
    }
    const allGroups = new Set(o.personas.flatMap((p) => p.groups));
    for (const g of allGroups) {
      // groupOfNames needs a member: an empty group keeps the directory's own entry, as admins do.
      out.push({ dn: `cn=${g},${groupsDn}`, attributes: { objectclass: ['top', 'groupOfNames'], cn: [g], member: members.get(g) ?? [base], entryuuid: [uuidFor(`ldap:group:${g}`)] } });
    }
    return out;
  }

  const norm = (dn: string) => ldap.parseDN(dn).toString().toLowerCase();

  /** The same directory behind each listener (plain and TLS). */
  const install = (server: ldap.Server) => {
    server.bind(base, async (req: BindRequest, res: LdapRes, next: (e?: unknown) => void) => {
      const dn = norm(req.dn.toString());
      const password = String(req.credentials ?? '');
      const persona = o.personas.find((p) => norm(personDn(p)) === dn);
      const s = persona ? scenarioOf(persona.id) : 'ok';
      if (s === 'slow') await o.slow();
      let ok = false;
      let error: unknown = new ldap.InvalidCredentialsError(AD_BIND_ERROR('52e'));
      if (dn === norm(o.bindDn)) ok = password === o.bindPassword;
      else if (persona && password === persona.password) {
        if (s === 'account_disabled') error = new ldap.InvalidCredentialsError(AD_BIND_ERROR('533'));
        else if (s === 'password_expired') error = new ldap.InvalidCredentialsError(AD_BIND_ERROR('532'));
        else ok = s !== 'deny';
      }
      binds.push({ dn: req.dn.toString(), ok, at: Date.now() });
      if (binds.length > 10_000) binds.shift();
      if (!ok) return fail(res, next, error);
      res.end();
      return next();
    });

    server.search(base, async (req: SearchRequest, res: LdapRes, next: (e?: unknown) => void) => {
      const who = req.connection.ldap.bindDN.toString().toLowerCase();
      if (who === 'cn=anonymous') {
        // As Active Directory: no anonymous reads (slapd would allow them; Tessera must bind anyway).
        return fail(res, next, new ldap.OperationsError('000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v4563'));
      }
      const bound = o.personas.find((p) => norm(personDn(p)) === who);
      if (bound && scenarioOf(bound.id) === 'slow') await o.slow();
      else if (o.personas.some((p) => scenarioOf(p.id) === 'slow') && who === norm(o.bindDn)) {
        // The service account's lookups are slow when they concern a slow persona.
        const text = req.filter.toString().toLowerCase();
        if (o.personas.some((p) => scenarioOf(p.id) === 'slow' && (text.includes(`=${p.id})`) || (p.email && text.includes(p.email.toLowerCase()))))) await o.slow();
      }
      const reqBase = norm(req.dn.toString());
      const all = entries();
      if (!all.some((e) => norm(e.dn) === reqBase)) return fail(res, next, new ldap.NoSuchObjectError(req.dn.toString()));
      // Case-insensitive matching on names and values (as the usual matching rules for uid, mail, member).
      const filter = ldap.parseFilter(req.filter.toString().toLowerCase()) as unknown as { matches(o: Attrs, strictAttrCase: boolean): boolean };
      for (const e of all) {
        const dn = norm(e.dn);
        const inScope = req.scope === 'base' ? dn === reqBase
          : req.scope === 'one' ? dn.endsWith(`,${reqBase}`) && dn.split(',').length === reqBase.split(',').length + 1
            : dn === reqBase || dn.endsWith(`,${reqBase}`);
        if (!inScope) continue;
        const lowered = Object.fromEntries(Object.entries(e.attributes).map(([k, v]) => [k, v.map((x) => x.toLowerCase())]));
        // Sent as a ready entry: ldapjs' own attribute selection compares names case-sensitively.
        if (filter.matches(lowered, false)) {
          res.send(res.createSearchEntry({ objectName: ldap.parseDN(e.dn), attributes: ldapAttributes(select(e.attributes, req.attributes)) }));
        }
      }
      res.end();
      return next();
    });
    return server;
  };

  const listen = (server: ldap.Server, port: number) => new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, o.host, () => resolve((server as unknown as { address(): AddressInfo }).address().port));
  });
  const server = install(ldap.createServer());
  const port = await listen(server, o.port);
  const tlsServer = o.tls ? install(ldap.createServer({ certificate: o.tls.material.certPem, key: o.tls.material.keyPem })) : undefined;
  const tlsPort = tlsServer ? await listen(tlsServer, o.tls!.port).catch((err: unknown) => { server.close(() => undefined); throw err; }) : undefined;
  const hostPart = o.host.includes(':') ? `[${o.host}]` : o.host;

  return {
    url: `ldap://${hostPart}:${port}`, port, baseDn: base, usersDn, groupsDn,
    ...(tlsServer ? { ldapsUrl: `ldaps://${hostPart}:${tlsPort}`, caCertificatePem: o.tls!.material.caPem } : {}),
    bindDn: o.bindDn, bindPassword: o.bindPassword, userFilter: '(&(objectClass=inetOrgPerson)(|(uid={{username}})(mail={{username}})))',
    binds, scenarioOf,
    setScenario(persona, scenario) {
      if (!o.personas.some((p) => p.id === persona)) throw new Error(`unknown persona ${persona}`);
      if (!isLdapScenario(scenario)) throw new Error(`unknown directory scenario ${scenario}`);
      scenarios.set(persona, scenario);
    },
    close: async () => {
      await Promise.all([server, ...(tlsServer ? [tlsServer] : [])].map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
    },
  };
}

/**
 * ldapjs v3 drops the message of an error passed to next(); the diagnostic text matters here
 * (AD's "data 533" tells a disabled account from a wrong password), so it is set on the response.
 */
function fail(res: LdapRes, next: (e?: unknown) => void, error: unknown): void {
  res.diagnosticMessage = (error as Error).message;
  next(error);
}

/** entryUUID and memberOf are operational (as in OpenLDAP): returned only when asked for by name or with "+". */
const OPERATIONAL = new Set(['entryuuid', 'memberof']);

/** The attributes a search asked for (names case-insensitive; none, "*" and "+" as RFC 4511/3673 say). */
function select(a: Attrs, requested: string[]): Attrs {
  const want = new Set(requested.map((r) => r.toLowerCase()));
  const allUser = want.size === 0 || want.has('*');
  const allOperational = want.has('+');
  if (want.size === 1 && want.has('1.1')) return {};
  return withNames(Object.fromEntries(Object.entries(a).filter(([k]) =>
    want.has(k) || (OPERATIONAL.has(k) ? allOperational : allUser))));
}

/** Attribute names as directories spell them (entries are kept in lower case for matching). */
const SPELLING: Record<string, string> = {
  objectclass: 'objectClass', givenname: 'givenName', displayname: 'displayName', entryuuid: 'entryUUID', memberof: 'memberOf',
};
function withNames(a: Attrs): Attrs {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [SPELLING[k] ?? k, v]));
}

// ldapjs' own types are loose; these are the parts used here.
interface BindRequest { dn: { toString(): string }; credentials?: string }
interface SearchRequest {
  dn: { toString(): string };
  attributes: string[];
  scope: 'base' | 'one' | 'sub';
  filter: { toString(): string };
  connection: { ldap: { bindDN: { toString(): string } } };
}
interface LdapRes {
  end(): void;
  send(entry: unknown): void;
  createSearchEntry(o: { objectName: unknown; attributes: unknown }): unknown;
  diagnosticMessage: string;
}
const ldapAttributes = (a: Attrs): unknown => (ldap as unknown as { Attribute: { fromObject(o: Attrs): unknown } }).Attribute.fromObject(a);
