import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/app.js';

/**
 * Debian's SimpleSAMLphp (1.19) as a real SAML 2.0 IdP, served by
 * `php -S` on a loopback port from a temporary config directory
 * (SIMPLESAMLPHP_CONFIG_DIR): the saml20-idp-hosted entity with a key and
 * certificate made by openssl, the exampleauth:UserPass source with the
 * given people, and the service providers written as saml20-sp-remote
 * entries (signed AuthnRequests checked, assertions encrypted to the SP).
 * `apt-get install -y simplesamlphp php-cli php-xml` (.ci/run).
 */
export const SSP_ROOT = process.env.SIMPLESAMLPHP_ROOT ?? '/usr/share/simplesamlphp';
export const PHP = process.env.PHP_BIN ?? '/usr/bin/php';

export interface SspPerson {
  username: string;
  password: string;
  attributes: Record<string, string[]>;
}

export interface SspServiceProvider {
  entityId: string;
  acs: string;
  /** PEM certificates from the SP's metadata. */
  signingCertificate: string;
  encryptionCertificate: string;
  /** The attribute sent as a persistent NameID. */
  nameIdAttribute: string;
}

export interface SimpleSamlPhp {
  url: string;
  metadataUrl: string;
  entityId: string;
  addServiceProvider(sp: SspServiceProvider): void;
  /** SimpleSAMLphp's own log (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

const php = (v: unknown): string => {
  if (Array.isArray(v)) return `[${v.map(php).join(', ')}]`;
  if (v && typeof v === 'object') return `[${Object.entries(v).map(([k, x]) => `${php(k)} => ${php(x)}`).join(', ')}]`;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return String(v);
  return `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
};
const certBody = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');

/**
 * Starts SimpleSAMLphp. Fails with what to install when it or PHP's DOM
 * extension is missing (never skips).
 * @param host the host name in its URLs (its pages and Tessera's differ in host, as two sites would).
 */
export async function startSimpleSamlPhp(people: SspPerson[], host = 'localhost', fixedPort?: number): Promise<SimpleSamlPhp> {
  if (!existsSync(join(SSP_ROOT, 'www', 'saml2', 'idp', 'SSOService.php')) || !existsSync(PHP)) {
    throw new Error(`SimpleSAMLphp is not installed (${SSP_ROOT}, ${PHP}): apt-get install -y simplesamlphp php-cli php-xml (.ci/run DEBIAN_PACKAGES)`);
  }
  const modules = execFileSync(PHP, ['-m'], { encoding: 'utf8' });
  if (!/^dom$/m.test(modules)) throw new Error('PHP has no DOM extension, which SimpleSAMLphp needs: apt-get install -y php-xml (.ci/run DEBIAN_PACKAGES)');

  const port = fixedPort ?? await freePort();
  const url = `http://${host}:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'tessera-ssp-'));
  for (const sub of ['config', 'metadata', 'cert', 'log', 'data', 'tmp', 'sessions']) mkdirSync(join(dir, sub));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2', '-subj', '/CN=SimpleSAMLphp test IdP',
    '-keyout', join(dir, 'cert', 'idp.key'), '-out', join(dir, 'cert', 'idp.crt')], { stdio: 'ignore' });
  writeFileSync(join(dir, 'config', 'config.php'), `<?php\n$config = ${php({
    baseurlpath: `${url}/`,
    certdir: `${dir}/cert/`, loggingdir: `${dir}/log/`, datadir: `${dir}/data/`, tempdir: `${dir}/tmp`, metadatadir: `${dir}/metadata/`,
    secretsalt: `salt-${port}-${Date.now()}`, 'auth.adminpassword': `admin-${Date.now()}`, 'admin.protectindexpage': true,
    technicalcontact_name: 'Tessera tests', technicalcontact_email: 'tests@example.com', timezone: 'UTC',
    'enable.saml20-idp': true,
    'module.enable': { exampleauth: true, core: true, saml: true, admin: true },
    'logging.level': 7, 'logging.handler': 'file', 'logging.logfile': 'simplesamlphp.log',
    'session.cookie.secure': false,
    'store.type': 'phpsession', 'session.phpsession.savepath': `${dir}/sessions`,
  })};\n`);
  const users = Object.fromEntries(people.map((p) => [`${p.username}:${p.password}`, p.attributes]));
  writeFileSync(join(dir, 'config', 'authsources.php'), `<?php\n$config = ${php({ admin: ['core:AdminPassword'], people: ['exampleauth:UserPass'] })};\n`
    + `$config['people'] = array_merge($config['people'], ${php(users)});\n`);
  writeFileSync(join(dir, 'metadata', 'saml20-idp-hosted.php'), `<?php\n$metadata['__DYNAMIC:1__'] = ${php({
    host: '__DEFAULT__', privatekey: 'idp.key', certificate: 'idp.crt', auth: 'people',
    // Sign both the Response and the Assertion (SimpleSAMLphp signs the assertion by default).
    'saml20.sign.response': true, 'saml20.sign.assertion': true,
  })};\n`);
  const sps: SspServiceProvider[] = [];
  const writeSps = () => writeFileSync(join(dir, 'metadata', 'saml20-sp-remote.php'), `<?php\n$metadata = [];\n${sps.map((sp) => `$metadata[${php(sp.entityId)}] = ${php({
    AssertionConsumerService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', Location: sp.acs }],
    NameIDFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    keys: [
      { type: 'X509Certificate', signing: true, encryption: false, X509Certificate: certBody(sp.signingCertificate) },
      { type: 'X509Certificate', signing: false, encryption: true, X509Certificate: certBody(sp.encryptionCertificate) },
    ],
    'validate.authnrequest': true,
    'assertion.encryption': true,
    'attributes.NameFormat': 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
    authproc: { 10: { class: 'saml:AttributeNameID', attribute: sp.nameIdAttribute, Format: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent' } },
  })};`).join('\n')}\n`);
  writeSps();

  const child: ChildProcess = spawn(PHP, ['-S', `127.0.0.1:${port}`, '-t', join(SSP_ROOT, 'www')], {
    env: { ...process.env, SIMPLESAMLPHP_CONFIG_DIR: join(dir, 'config') }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
  });
  const metadataUrl = `${url}/saml2/idp/metadata.php`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`php -S exited (${child.exitCode}): ${stderr.slice(-2000)}`);
    try {
      const res = await fetch(metadataUrl);
      const text = await res.text();
      if (res.ok && text.includes('IDPSSODescriptor')) break;
      if (Date.now() > deadline) throw new Error(`SimpleSAMLphp metadata answered ${res.status}: ${text.slice(0, 500)} ${readLog(dir)}`);
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`SimpleSAMLphp did not start: ${(err as Error).message} ${stderr.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return {
    url, metadataUrl, entityId: metadataUrl,
    addServiceProvider(sp) {
      sps.push(sp);
      writeSps();
    },
    log: () => readLog(dir),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'log', 'simplesamlphp.log'), 'utf8').split('\n').filter((l) => /ERROR|WARNING/.test(l)).slice(-30).join('\n');
  } catch {
    return '';
  }
}
