import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serverTls } from '../../../mock-providers/src/cert.js';
import { freePort } from './app.js';

const run = promisify(execFile);

/**
 * A throw-away OpenLDAP server (Debian's `slapd`, package `slapd`; clients from
 * `ldap-utils`): its own config file, database directory and ports, plain LDAP
 * (StartTLS offered) and LDAPS with a certificate from a throw-away CA. The
 * `memberof` overlay maintains `memberOf` as groupOfNames members change, as
 * Active Directory does.
 */
export interface Slapd {
  url: string;
  ldapsUrl: string;
  caPem: string;
  baseDn: string;
  peopleDn: string;
  groupsDn: string;
  /** The read-only service account Tessera binds as. */
  bindDn: string;
  bindPassword: string;
  rootDn: string;
  rootPassword: string;
  /** Runs `ldapadd`/`ldapmodify` (`-a` for adds) as the root DN with the LDIF on stdin. */
  ldapmodify(ldif: string, add?: boolean): Promise<void>;
  ldapdelete(dn: string): Promise<void>;
  stop(): Promise<void>;
  /** Starts it again on the same ports and data. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export const SLAPD_BIN = '/usr/sbin/slapd';
const ROOT_PASSWORD = 'slapd-root-password';
const SERVICE_PASSWORD = 'tessera-service-password';

export interface Person { uid: string; cn: string; sn: string; givenName?: string; mail?: string; password: string }

export function personLdif(baseDn: string, p: Person): string {
  return [`dn: uid=${p.uid},ou=people,${baseDn}`, 'objectClass: inetOrgPerson', `uid: ${p.uid}`, `cn: ${p.cn}`, `sn: ${p.sn}`,
    ...(p.givenName ? [`givenName: ${p.givenName}`] : []), ...(p.mail ? [`mail: ${p.mail}`] : []), `userPassword: ${p.password}`, ''].join('\n');
}

export function groupLdif(baseDn: string, cn: string, members: string[]): string {
  return [`dn: cn=${cn},ou=groups,${baseDn}`, 'objectClass: groupOfNames', `cn: ${cn}`,
    ...members.map((m) => `member: uid=${m},ou=people,${baseDn}`), ''].join('\n');
}

/** Starts slapd with the base entries (people, groups, services and the service account). */
export async function startSlapd(opts: { baseDn?: string } = {}): Promise<Slapd> {
  const baseDn = opts.baseDn ?? 'dc=corp,dc=test';
  const dir = mkdtempSync(join(tmpdir(), 'tessera-slapd-'));
  mkdirSync(join(dir, 'db'));
  const tls = await serverTls();
  writeFileSync(join(dir, 'ca.pem'), tls.caPem);
  writeFileSync(join(dir, 'cert.pem'), tls.certPem);
  writeFileSync(join(dir, 'key.pem'), tls.keyPem);
  const rootDn = `cn=admin,${baseDn}`;
  const bindDn = `cn=tessera,ou=services,${baseDn}`;
  writeFileSync(join(dir, 'slapd.conf'), `
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile ${dir}/slapd.pid
argsfile ${dir}/slapd.args
TLSCACertificateFile ${dir}/ca.pem
TLSCertificateFile ${dir}/cert.pem
TLSCertificateKeyFile ${dir}/key.pem
sizelimit unlimited
database mdb
maxsize 1073741824
suffix "${baseDn}"
rootdn "${rootDn}"
rootpw ${ROOT_PASSWORD}
directory ${dir}/db
index objectClass eq
index uid,mail,cn eq
index member eq
overlay memberof
memberof-refint TRUE
access to attrs=userPassword by self =xw by anonymous auth by * none
access to * by dn.exact="${bindDn}" read by self read by * none
limits dn.exact="${bindDn}" size=unlimited
`);
  const [port, ldapsPort] = [await freePort(), await freePort()];
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = `ldaps://127.0.0.1:${ldapsPort}`;
  let child: ChildProcess | undefined;

  const start = async () => {
    const proc = spawn(SLAPD_BIN, ['-f', join(dir, 'slapd.conf'), '-h', `${url}/ ${ldapsUrl}/`, '-d', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => { stderr += String(c); });
    child = proc;
    for (let i = 0; i < 200; i += 1) {
      if (proc.exitCode !== null) throw new Error(`slapd exited (${proc.exitCode}): ${stderr}`);
      if (await listening(port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`slapd did not start: ${stderr}`);
  };
  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  };
  const ldapmodify = async (ldif: string, add = false) => {
    const args = ['-x', '-H', url, '-D', rootDn, '-w', ROOT_PASSWORD, ...(add ? ['-a'] : [])];
    await new Promise<void>((resolve, reject) => {
      const p = spawn('ldapmodify', args, { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (c: Buffer) => { err += String(c); });
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ldapmodify failed (${code}): ${err}`))));
      p.stdin.end(ldif);
    });
  };

  await start();
  const rdn = baseDn.split(',')[0]!.split('=')[1]!;
  await ldapmodify([
    `dn: ${baseDn}`, 'objectClass: dcObject', 'objectClass: organization', `dc: ${rdn}`, 'o: Corp', '',
    `dn: ou=people,${baseDn}`, 'objectClass: organizationalUnit', 'ou: people', '',
    `dn: ou=groups,${baseDn}`, 'objectClass: organizationalUnit', 'ou: groups', '',
    `dn: ou=services,${baseDn}`, 'objectClass: organizationalUnit', 'ou: services', '',
    `dn: ${bindDn}`, 'objectClass: organizationalRole', 'objectClass: simpleSecurityObject', 'cn: tessera', `userPassword: ${SERVICE_PASSWORD}`, '',
  ].join('\n'), true);

  return {
    url, ldapsUrl, caPem: tls.caPem, baseDn, peopleDn: `ou=people,${baseDn}`, groupsDn: `ou=groups,${baseDn}`,
    bindDn, bindPassword: SERVICE_PASSWORD, rootDn, rootPassword: ROOT_PASSWORD,
    ldapmodify,
    async ldapdelete(dn) {
      await run('ldapdelete', ['-x', '-H', url, '-D', rootDn, '-w', ROOT_PASSWORD, dn]);
    },
    stop, start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}
