import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockProviders, type MockProviders } from '../../src/index.js';
import type { MockDirectory } from '../../src/ldap.js';

/**
 * The mock directory read by Debian's OpenLDAP client (ldap-utils), over LDAP
 * and LDAPS: a peer nobody here wrote. In the peers suite (`npm run test:peers`):
 * `npm test` must pass on a machine without Debian packages.
 */
const run = promisify(execFile);
let mock: MockProviders;
let dir: MockDirectory;

beforeAll(async () => {
  mock = await startMockProviders({ port: 0 });
  dir = mock.ldap!;
});
afterAll(async () => {
  await mock?.close();
});

describe('mock directory and Debian ldapsearch', () => {
  it('Debian ldapsearch verifies the LDAPS certificate against the mock CA', async () => {
    const caFile = join(mkdtempSync(join(tmpdir(), 'mock-ldap-ca-')), 'ca.pem');
    writeFileSync(caFile, dir.caCertificatePem!);
    const { stdout } = await run('ldapsearch', ['-x', '-LLL', '-H', dir.ldapsUrl!, '-D', dir.bindDn, '-w', dir.bindPassword, '-b', dir.usersDn, '(uid=alice)', 'mail'], {
      env: { ...process.env, LDAPTLS_CACERT: caFile, LDAPTLS_REQCERT: 'demand' },
    }).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? new Error('ldapsearch is missing: install Debian ldap-utils (.ci/run does)') : err;
    });
    expect(stdout).toContain('mail: alice@example.com');
    rmSync(caFile, { force: true });
  });

  it('Debian ldapsearch reads the same entries', async () => {
    const { stdout } = await run('ldapsearch', ['-x', '-LLL', '-H', dir.url, '-D', dir.bindDn, '-w', dir.bindPassword, '-b', dir.baseDn, '(uid=bob)', 'mail', 'memberOf']).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? new Error('ldapsearch is missing: install Debian ldap-utils (.ci/run does)') : err;
    });
    expect(stdout).toContain(`dn: uid=bob,${dir.usersDn}`);
    expect(stdout).toContain('mail: bob@example.com');
    expect(stdout).toContain(`memberOf: cn=staff,${dir.groupsDn}`);
  });
});
