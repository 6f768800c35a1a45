/**
 * `tessera providers keys` and `tessera providers rotate-key`
 * (docs/federation.md#rotating-the-key): a private_key_jwt provider's client
 * keys listed, staged and rotated from the command line, audited; usage
 * errors exit 2. Real processes, real store (SQLite, or a PostgreSQL schema
 * with TEST_DATABASE_URL).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createCliStore, runTessera } from './helpers/cli.js';
import type { CliStore } from './helpers/cli.js';
import { openStore } from '../src/storage/database.js';
import { createAuditRepository } from '../src/audit/repository.js';

let store: CliStore;
let env: Record<string, string>;
const ISSUER = 'https://id.example.test';

beforeAll(() => {
  store = createCliStore();
  const config = join(store.dir, 'tessera.yaml');
  writeFileSync(config, `identity_providers:
  - { alias: corp, type: oidc, display_name: Corp, issuer: https://login.corp.example, client_id: tessera, client_auth: private_key_jwt }
  - { alias: plain, type: oidc, display_name: Plain, issuer: https://login.corp.example, client_id: tessera, client_secret: s3cret-s3cret }
`);
  env = { TESSERA_DATA_DIR: store.dir, DATABASE_URL: store.databaseUrl, TESSERA_SECRET: 'keys-cli-secret-keys-cli-secret', TESSERA_CONFIG: config, TESSERA_ISSUER: ISSUER };
});
afterAll(async () => {
  await store?.dispose();
});

const keyLines = (stdout: string) => stdout.split('\n').filter((l) => /^[0-9a-f-]{36} {2}RS256 {2}/.test(l));

// Each command boots the app in its own process (seconds on a busy machine): generous timeouts.
test('stage, rotate, list: the JWKS URL, the keys and their states; audited with via cli', { timeout: 180_000 }, async () => {
  const staged = await runTessera(['providers', 'rotate-key', '--provider', 'corp', '--stage'], env);
  expect(staged.code, staged.stderr).toBe(0);
  expect(staged.stdout).toContain(`JWKS URL: ${ISSUER}/federation/corp/jwks`);
  const first = keyLines(staged.stdout).find((l) => / active /.test(l))!.split(' ')[0]!;
  const next = keyLines(staged.stdout).find((l) => / next /.test(l))!.split(' ')[0]!;

  const rotated = await runTessera(['providers', 'rotate-key', '--provider', 'corp', '--overlap', '600'], env);
  expect(rotated.code, rotated.stderr).toBe(0);
  expect(rotated.stdout).toContain('rotated:');

  const listed = await runTessera(['providers', 'keys', '--provider', 'corp'], env);
  expect(listed.code, listed.stderr).toBe(0);
  const lines = keyLines(listed.stdout);
  expect(lines).toHaveLength(2);
  expect(lines.find((l) => / active /.test(l))!.startsWith(next)).toBe(true);
  expect(lines.find((l) => / retiring /.test(l))).toMatch(new RegExp(`^${first} .*unpublished after `));

  const s = openStore(store.databaseUrl);
  try {
    const events = (await createAuditRepository(s.db).query({ action: 'identity_provider.key_rotated' })).map((e) => e.details as Record<string, unknown>);
    expect(events).toEqual(expect.arrayContaining([
      expect.objectContaining({ via: 'cli', stage: true, kid: next }), expect.objectContaining({ via: 'cli', stage: false, kid: next }),
    ]));
  } finally {
    await s.close();
  }
});

test('usage errors exit 2: no provider, a bad overlap (before any boot), a provider without private_key_jwt', { timeout: 120_000 }, async () => {
  for (const args of [['providers', 'keys'], ['providers', 'rotate-key', '--provider', 'corp', '--overlap', '99999999'], ['providers', 'rotate-key', '--provider', 'plain']]) {
    const r = await runTessera(args, env);
    expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(2);
  }
});
