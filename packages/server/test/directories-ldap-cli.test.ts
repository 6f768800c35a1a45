/**
 * `tessera ldap sync --provider ALIAS` as an operator runs it (a child
 * process on the server's store and configuration file) against Debian's
 * slapd: the summary line, idempotent reruns, exit codes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createCliStore, runTessera } from './helpers/cli.js';
import type { CliStore } from './helpers/cli.js';
import { groupLdif, personLdif, startSlapd } from './helpers/slapd.js';
import type { Slapd } from './helpers/slapd.js';

let slapd: Slapd;
let store: CliStore;
let env: Record<string, string>;

beforeAll(async () => {
  slapd = await startSlapd();
  const people = Array.from({ length: 25 }, (_, i) => ({ uid: `p${i}`, cn: `Person ${i}`, sn: `P${i}`, mail: `p${i}@corp.test`, password: `pw-${i}-long` }));
  await slapd.ldapmodify([...people.map((p) => personLdif(slapd.baseDn, p)), groupLdif(slapd.baseDn, 'staff', ['p0', 'p1'])].join('\n'), true);
  store = createCliStore();
  const config = join(store.dir, 'tessera.json');
  writeFileSync(config, JSON.stringify({
    roles: [{ name: 'staff', tenant: 'default' }],
    identity_providers: [{
      alias: 'corp', type: 'ldap', display_name: 'Corp', jit: 'create', url: slapd.ldapsUrl, ca_certificate: slapd.caPem, bind_dn: slapd.bindDn, bind_password: slapd.bindPassword,
      user_base: slapd.peopleDn, user_filter: '(&(objectClass=inetOrgPerson)(uid={{username}}))', group_mappings: [{ group: 'staff', roles: ['staff'] }],
    }],
  }));
  env = { DATABASE_URL: store.databaseUrl, TESSERA_DATA_DIR: store.dir, TESSERA_SECRET: 'cli-test-secret-cli-test-secret', TESSERA_CONFIG: config, TESSERA_BOOTSTRAP_ADMIN_PASSWORD: 'admin-password-for-tests' };
}, 120_000);

afterAll(async () => {
  await slapd?.close();
  await store?.dispose();
});

test('a sync prints the progress and summary; the rerun after a deletion disables that one and changes nothing else', async () => {
  const first = await runTessera(['ldap', 'sync', '--provider', 'corp'], env);
  expect(first.stderr).toContain('25/25');
  expect(first.stdout).toMatch(/corp: 25 created, 0 updated, 0 disabled, 0 unchanged \(/);
  expect(first.code).toBe(0);
  await slapd.ldapdelete(`uid=p3,${slapd.peopleDn}`);
  const after = await runTessera(['ldap', 'sync', '--provider', 'corp'], env);
  expect(after.stdout).toMatch(/corp: 0 created, 0 updated, 1 disabled, 24 unchanged \(/);
}, 120_000);

test('a stopped directory exits 69 and disables nobody', async () => {
  await slapd.stop();
  try {
    const down = await runTessera(['ldap', 'sync', '--provider', 'corp'], env);
    expect(down.code).toBe(69);
    expect(down.stderr).toContain('nothing was disabled');
  } finally {
    await slapd.start();
  }
}, 120_000);
