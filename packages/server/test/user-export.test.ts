/**
 * `tessera users export` (docs/users.md#export): JSONL with profile,
 * attributes, external ids, links and roles, never secrets unless asked;
 * the file imports as is into another tenant.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { exportUsers } from '../src/userdata/export.js';
import { runImport } from '../src/userdata/import/importer.js';
import { ADMIN_CALLER, sourceCaller } from '../src/userdata/model.js';
import { createExternalLinkRepository } from '../src/federation/links.js';

let t: TestApp;
const schema = (tenant: string) => [
  { tenant, name: 'team', type: 'string' }, { tenant, name: 'tier', type: 'enum', values: ['a', 'b'], source: 'crm' },
];

beforeAll(async () => {
  t = await startTestApp({
    config: {
      tenants: [{ id: 'acme', name: 'Acme' }, { id: 'copy', name: 'Copy' }],
      roles: [{ name: 'staff', tenant: 'acme' }, { name: 'staff', tenant: 'copy' }],
      attributes: [...schema('acme'), ...schema('copy')],
      users: [
        { username: 'ann', email: 'ann@example.test', password: 'ann password 123', tenant: 'acme', roles: ['staff'], given_name: 'Ann', attributes: { team: 'blue' } },
        { username: 'bob', tenant: 'acme' },
      ],
    },
  });
  const ann = (await t.app.platform.users.findByUsername('acme', 'ann'))!;
  await t.app.platform.userData.update(ADMIN_CALLER, ann, { externalIds: { crm: 'c-1' } });
  await t.app.platform.userData.update(sourceCaller('crm'), ann, { attributes: { tier: 'b' } });
  await createExternalLinkRepository(t.app.store.db).link({ tenantId: 'acme', provider: 'google', subject: 'g-1', userId: ann.id, email: 'ann@gmail.example' });
}, 60_000);
afterAll(async () => {
  await t?.close();
});

async function exported(opts: { withPasswordHashes?: boolean } = {}): Promise<Record<string, unknown>[]> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await exportUsers(t.app.store.db, 'acme', out, { ...opts, pageSize: 1 });
  return Buffer.concat(chunks).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('profile, roles, attributes, external ids and links; no hash unless asked', async () => {
  const lines = await exported();
  expect(lines.map((l) => l.username)).toEqual(['ann', 'bob']);
  expect(lines[0]).toMatchObject({
    email: 'ann@example.test', given_name: 'Ann', roles: ['staff'], status: 'active', attributes: { team: 'blue', tier: 'b' }, external_ids: { crm: 'c-1' },
    links: [{ provider: 'google', subject: 'g-1', email: 'ann@gmail.example' }],
  });
  expect(JSON.stringify(lines)).not.toContain('argon2');
  expect((await exported({ withPasswordHashes: true }))[0]!.password_hash).toMatch(/^\$argon2id\$/);
});

test('the export imports into another tenant as is (as the source that owns tier), and a second time changes nothing', async () => {
  const file = (await exported({ withPasswordHashes: true })).map((l) => JSON.stringify(l)).join('\n');
  const run = () => runImport(t.app.store.db, (async function* () { yield Buffer.from(file); })(), {
    tenantId: 'copy', format: 'jsonl', onConflict: 'skip', dryRun: false, sendActivation: false, caller: { admin: true, source: 'crm' }, batchSize: 10, maxRecordBytes: 65536,
  });
  expect((await run()).counts).toMatchObject({ created: 2, failed: 0 });
  const copy = (await t.app.platform.users.findByUsername('copy', 'ann'))!;
  expect(copy).toMatchObject({ email: 'ann@example.test', roles: ['staff'] });
  expect(await t.app.platform.userData.dataOf(copy.id)).toEqual({ attributes: { team: 'blue', tier: 'b' }, externalIds: { crm: 'c-1' } });
  expect((await t.app.identity.verifyLogin('copy', 'ann', 'ann password 123')).ok).toBe(true);
  expect((await run()).counts).toMatchObject({ created: 0, unchanged: 2 });
});

test('the CLI writes the file and says how many', async () => {
  const s = t.testStore;
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: s.schema ? `${s.url}${s.url.includes('?') ? '&' : '?'}schema=${s.schema}` : s.url, TESSERA_DATA_DIR: s.dir, LOG_LEVEL: 'warn' };
  delete env.TESSERA_CONFIG;
  const out = join(s.dir, 'acme.jsonl');
  const result = await new Promise<{ code: number | null; stderr: string }>((done) => {
    const child = spawn(process.execPath, [resolve(import.meta.dirname, '../bin/tessera.js'), 'users', 'export', '--tenant', 'acme', '--out', out], { env });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code, stderr }));
  });
  expect(result.code).toBe(0);
  expect(result.stderr).toContain(`exported 2 users of tenant acme to ${out}`);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  expect(lines).toHaveLength(2);
  expect(lines.join('')).not.toContain('password_hash');
}, 60_000);
