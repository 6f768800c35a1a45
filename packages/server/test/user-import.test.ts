/**
 * Bulk import (docs/users.md#import): the `tessera users import` CLI run as
 * a real child process against the test store (SQLite file, or its
 * PostgreSQL schema), and the admin API's asynchronous import job. Bad rows
 * get precise per-row errors and the rest is imported; a second run changes
 * nothing; a run killed with SIGKILL and started again loses and doubles nothing.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp } from './helpers/app.js';
import type { TestApp } from './helpers/app.js';
import { MACHINE_SECRET, adminApi, adminConfig, machineToken } from './helpers/admin.js';

let t: TestApp;
let env: NodeJS.ProcessEnv;
let admin: string;

const ATTRIBUTES = [
  { name: 'member_no', type: 'number', unique: true, tenant: 'acme' },
  { name: 'team', type: 'enum', values: ['red', 'blue'], tenant: 'acme' },
  { name: 'tags', type: 'string_list', tenant: 'acme' },
  { name: 'contact_id', type: 'string', source: 'secutix', tenant: 'acme' },
  { name: 'note', type: 'string', tenant: 'acme' },
];

beforeAll(async () => {
  t = await startTestApp({
    config: {
      ...adminConfig({
        clients: [{ client_id: 'secutix-sync', client_secret: MACHINE_SECRET, grant_types: ['client_credentials'], tenant: 'acme',
          admin_scopes: ['identity.admin'], attribute_source: 'secutix' }],
      }),
      attributes: ATTRIBUTES,
    },
  });
  const s = t.testStore;
  env = { ...process.env, DATABASE_URL: s.schema ? `${s.url}${s.url.includes('?') ? '&' : '?'}schema=${s.schema}` : s.url, TESSERA_DATA_DIR: s.dir, LOG_LEVEL: 'warn' };
  delete env.TESSERA_CONFIG;
  admin = await machineToken(t.issuer, 'acme-bot');
}, 90_000);
afterAll(async () => {
  await t?.close();
});

interface Run { code: number; stdout: string; stderr: string }
function cli(args: string[], opts: { onStderr?: (chunk: string, kill: () => void) => void } = {}): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [resolve(import.meta.dirname, '../bin/tessera.js'), 'users', ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      opts.onStderr?.(String(d), () => child.kill('SIGKILL'));
    });
    child.on('close', (code, signal) => done({ code: code ?? (signal ? -1 : -2), stdout, stderr }));
  });
}

const file = (name: string, content: string | Buffer) => {
  const path = join(t.testStore.dir, name);
  writeFileSync(path, content);
  return path;
};
const jsonl = (rows: unknown[]) => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';
const count = async (tenant: string) => Number((await t.app.store.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n'))
  .where('tenant_id', '=', tenant).executeTakeFirstOrThrow()).n);
const byExternal = (source: string, id: string) => t.app.platform.userData.findByExternalId('acme', source, id);

// Each CLI run starts a Node process (a few seconds on a busy machine).
const CLI_TIMEOUT = 120_000;

describe('tessera users import (JSONL)', () => {
  test('bad rows get precise errors and nothing of them is written; the rest is imported; a second run changes nothing', async () => {
    await t.app.platform.identity.createUser({ tenantId: 'acme', username: 'taken', email: 'taken@example.test' });
    const rows = [
      { external_id: 'secutix:1', email: 'one@example.test', given_name: 'One', attributes: { member_no: 1, team: 'red', tags: ['a'] }, roles: ['auditor'] },
      { external_id: 'secutix:2', email: 'two@example.test', attributes: { member_no: 2 } },
      '{"external_id": "secutix:3", "email": ',
      { external_id: 'secutix:4', email: 'four@example.test', attributes: { shoe: 42 } },
      { external_id: 'secutix:5', email: 'five@example.test', attributes: { member_no: 'five' } },
      { external_id: 'secutix:1', email: 'again@example.test' },
      { external_id: 'secutix:7', email: 'taken@example.test' },
      { external_id: 'secutix:8', email: 'eight@example.test', attributes: { member_no: 1 } },
      { external_id: 'secutix:9', email: 'nine@example.test', attributes: { contact_id: 'C-9' } },
      { external_id: 'secutix:10', email: 'ten@example.test', roles: ['nope'] },
      { external_id: 'bad id', email: 'eleven@example.test' },
      { external_id: 'secutix:12', email: 'twelve@example.test', unknown: 1 },
      { external_id: 'secutix:14', email: 'fourteen@example.test', password_hash: '$md5$abc' },
    ];
    const big = JSON.stringify({ external_id: 'secutix:15', email: 'fifteen@example.test', given_name: 'x'.repeat(70_000) });
    const content = Buffer.concat([Buffer.from(jsonl(rows)), Buffer.from('{"external_id": "secutix:13", "email": "thirteen@example.test", "given_name": "'),
      Buffer.from([0xc3, 0x28]), Buffer.from('"}\n'), Buffer.from(`${big}\n`)]);
    const path = file('mixed.jsonl', content);
    const first = await cli(['import', '--tenant', 'acme', '--file', path, '--errors', join(t.testStore.dir, 'errors.jsonl')]);
    expect(first.code).toBe(1);
    expect(first.stdout).toContain('2 created, 0 updated, 0 unchanged, 0 skipped, 13 failed');
    const lines = first.stderr.split('\n').filter((l) => l.startsWith('mixed.jsonl:'));
    expect(lines).toEqual(expect.arrayContaining([
      'mixed.jsonl:3: -: invalid_json: row is not a JSON object',
      'mixed.jsonl:4: attributes.shoe: unknown_attribute: attributes.shoe unknown attribute',
      'mixed.jsonl:5: attributes.member_no: invalid_type: attributes.member_no invalid type',
      'mixed.jsonl:6: external_ids.secutix: duplicate_in_file: external_ids.secutix repeats a value of an earlier row of the file',
      'mixed.jsonl:7: email: taken: email is already used by another user in tenant acme',
      'mixed.jsonl:8: attributes.member_no: duplicate_in_file: attributes.member_no repeats a value of an earlier row of the file',
      'mixed.jsonl:9: attributes.contact_id: owned_by_source: attributes.contact_id owned by source',
      'mixed.jsonl:10: roles.0: unknown_role: role "nope" is not declared in tenant acme',
      'mixed.jsonl:11: external_id: invalid_external_id: external id "bad id" must be SOURCE:ID, e.g. secutix:123',
      'mixed.jsonl:12: unknown: unknown_field: unknown is not a field an import takes',
      'mixed.jsonl:13: password_hash: unsupported_hash: password_hash is a hash algorithm or parameters Tessera does not verify',
      'mixed.jsonl:14: -: invalid_utf8: row is not valid UTF-8',
      'mixed.jsonl:15: -: too_large: row is larger than the largest row allowed',
    ]));
    const one = (await byExternal('secutix', '1'))!;
    expect(one).toMatchObject({ email: 'one@example.test', givenName: 'One', roles: ['auditor'], status: 'active', passwordHash: null });
    expect((await t.app.platform.userData.dataOf(one.id)).attributes).toEqual({ member_no: 1, tags: ['a'], team: 'red' });
    for (const id of ['3', '4', '5', '7', '8', '9', '10', '12', '13', '14', '15']) expect(await byExternal('secutix', id)).toBeUndefined();

    const second = await cli(['import', '--tenant', 'acme', '--file', path]);
    expect(second.stdout).toContain('0 created, 0 updated, 2 unchanged, 0 skipped, 13 failed');
  }, CLI_TIMEOUT);

  test('--dry-run writes nothing; --on-conflict skip reports a changed row; update changes it; a source import sets its attributes', async () => {
    const path = file('dry.jsonl', jsonl([{ external_id: 'crm:1', email: 'crm1@example.test', attributes: { team: 'blue' } }]));
    const dry = await cli(['import', '--tenant', 'acme', '--file', path, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('dry run, nothing written: dry.jsonl → tenant acme: 1 created');
    expect(await byExternal('crm', '1')).toBeUndefined();
    expect((await cli(['import', '--tenant', 'acme', '--file', path])).stdout).toContain('1 created');

    const changed = file('changed.jsonl', jsonl([{ external_id: 'crm:1', email: 'crm1@example.test', attributes: { team: 'red' }, given_name: 'Cee' }]));
    const skip = await cli(['import', '--tenant', 'acme', '--file', changed]);
    expect(skip.code).toBe(0);
    expect(skip.stdout).toContain('0 created, 0 updated, 0 unchanged, 1 skipped, 0 failed');
    expect(skip.stderr).toContain('changed.jsonl:1: external_ids.crm: exists:');
    const update = await cli(['import', '--tenant', 'acme', '--file', changed, '--on-conflict', 'update']);
    expect(update.stdout).toContain('0 created, 1 updated');
    const user = (await byExternal('crm', '1'))!;
    expect(user.givenName).toBe('Cee');
    expect((await t.app.platform.userData.dataOf(user.id)).attributes).toEqual({ team: 'red' });

    const owned = file('owned.jsonl', jsonl([{ external_id: 'crm:1', attributes: { contact_id: 'C-1' } }]));
    expect((await cli(['import', '--tenant', 'acme', '--file', owned, '--on-conflict', 'update'])).stderr).toContain('owned_by_source');
    expect((await cli(['import', '--tenant', 'acme', '--file', owned, '--on-conflict', 'update', '--source', 'secutix'])).stdout).toContain('1 updated');
    expect((await t.app.platform.userData.dataOf(user.id)).attributes).toEqual({ contact_id: 'C-1', team: 'red' });
  }, CLI_TIMEOUT);

  test('an oversized file and an unknown tenant are refused before anything is read', async () => {
    const path = file('big.jsonl', jsonl([{ email: 'x@example.test' }]));
    const big = await cli(['import', '--tenant', 'acme', '--file', path, '--max-size', '10']);
    expect(big.code).toBe(2);
    expect(big.stderr).toContain('more than --max-size 10: nothing imported');
    expect((await cli(['import', '--tenant', 'nope', '--file', path])).stderr).toContain('unknown tenant "nope"');
    expect((await cli(['import', '--tenant', 'acme'])).code).toBe(2);
  }, CLI_TIMEOUT);
});

describe('tessera users import (CSV)', () => {
  test('quoted fields, line breaks inside quotes, lists and typed attributes', async () => {
    const csv = 'external_id,email,given_name,family_name,roles,attributes.member_no,attributes.tags,email_verified,attributes.note\r\n'
      + 'hr:1,"csv1@example.test","Ann, Jr.","O""Neil",auditor,101,x|y,true,\r\n'
      + 'hr:2,csv2@example.test,Two,B,,102,,false,"two\nlines"\r\n'
      + 'hr:3,csv3@example.test,C,D,,not-a-number,,,\r\n'
      + 'hr:4,csv4@example.test,too,many,fields,,,,,,\r\n';
    const res = await cli(['import', '--tenant', 'acme', '--file', file('people.csv', csv)]);
    expect(res.stdout).toContain('2 created, 0 updated, 0 unchanged, 0 skipped, 2 failed');
    // Line numbers count the line break inside the quoted note.
    expect(res.stderr).toContain('people.csv:5: attributes.member_no: invalid_type');
    expect(res.stderr).toContain('people.csv:6: -: column_count');
    const ann = (await byExternal('hr', '1'))!;
    expect(ann).toMatchObject({ givenName: 'Ann, Jr.', familyName: 'O"Neil', roles: ['auditor'], emailVerified: true });
    expect((await t.app.platform.userData.dataOf(ann.id)).attributes).toEqual({ member_no: 101, tags: ['x', 'y'] });
    expect((await t.app.platform.userData.dataOf((await byExternal('hr', '2'))!.id)).attributes).toEqual({ member_no: 102, note: 'two\nlines' });
  }, CLI_TIMEOUT);

  test('a wrong header is reported at line 1 and nothing is imported', async () => {
    const before = await count('acme');
    const res = await cli(['import', '--tenant', 'acme', '--file', file('bad.csv', 'external_id,mail,attributes.shoe\nhr:9,x@example.test,1\n')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('bad.csv:1: mail: unknown_column');
    expect(res.stderr).toContain('bad.csv:1: attributes.shoe: unknown_attribute');
    expect(await count('acme')).toBe(before);
  }, CLI_TIMEOUT);
});

describe('interrupted imports', () => {
  test('SIGKILL mid-import, then the same command again: every row once, nothing lost, nothing doubled', async () => {
    const N = 6000;
    const rows = Array.from({ length: N }, (_, i) => ({ external_id: `bulk:${i}`, email: `bulk${i}@example.test`, attributes: { member_no: 100_000 + i } }));
    const path = file('bulk.jsonl', jsonl(rows));
    const countBulk = async () => Number((await t.app.store.db.selectFrom('user_external_ids').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', 'acme').where('source', '=', 'bulk').executeTakeFirstOrThrow()).n);
    let killedAt = -1;
    const killed = await new Promise<Run>((done) => {
      const child = spawn(process.execPath, [resolve(import.meta.dirname, '../bin/tessera.js'), 'users', 'import', '--tenant', 'acme', '--file', path, '--batch', '100'], { env });
      const poll = setInterval(async () => {
        const n = await countBulk();
        if (n > 0 && killedAt < 0) {
          killedAt = n;
          child.kill('SIGKILL');
        }
      }, 20);
      child.on('close', (code, signal) => {
        clearInterval(poll);
        done({ code: code ?? (signal === 'SIGKILL' ? -9 : -1), stdout: '', stderr: '' });
      });
    });
    expect(killed.code).toBe(-9);
    const partial = await countBulk();
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(N);
    // Whole batches only: a batch is one transaction.
    expect(partial % 100).toBe(0);
    const rerun = await cli(['import', '--tenant', 'acme', '--file', path, '--batch', '100']);
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain(`${N - partial} created, 0 updated, ${partial} unchanged, 0 skipped, 0 failed`);
    expect(await countBulk()).toBe(N);
    const emails = await t.app.store.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).where('tenant_id', '=', 'acme')
      .where('email_normalized', 'like', 'bulk%').executeTakeFirstOrThrow();
    expect(Number(emails.n)).toBe(N);
  }, 120_000);
});

describe('import through the admin API', () => {
  type Job = { id: string; status: string; counts: Record<string, number>; error_count: number; progress: number; rows: number };
  const api = () => adminApi(t.issuer);
  const upload = async (body: string, type: string, query = '') => {
    const res = await fetch(`${t.issuer}/api/admin/v1/users/imports?tenant=acme${query}`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': type }, body });
    return { status: res.status, body: await res.json() as Job & { error?: string } };
  };
  const finished = async (id: string) => {
    for (let i = 0; i < 200; i++) {
      const job = (await api()<Job>('GET', `/users/imports/${id}`, { token: admin })).body;
      if (job.status === 'done' || job.status === 'failed') return job;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('job did not finish');
  };

  test('a JSONL job runs in the background: progress, counts and the error report', async () => {
    const body = jsonl([{ external_id: 'api:1', email: 'api1@example.test' }, { external_id: 'api:2', email: 'api2@example.test', attributes: { team: 'green' } }, 'nope']);
    const started = await upload(body, 'application/x-ndjson');
    expect(started.status).toBe(202);
    const job = await finished(started.body.id);
    expect(job).toMatchObject({ status: 'done', progress: 1, rows: 3, counts: { created: 1, updated: 0, unchanged: 0, skipped: 0, failed: 2 }, error_count: 2 });
    const errors = await api()<{ items: unknown[]; next_cursor: string }>('GET', `/users/imports/${job.id}/errors?limit=1`, { token: admin });
    expect(errors.body.items).toEqual([{ line: 2, field: 'attributes.team', code: 'invalid_choice', message: 'attributes.team invalid choice' }]);
    const next = await api()<{ items: unknown[]; next_cursor: string | null }>('GET', `/users/imports/${job.id}/errors?limit=1&cursor=${errors.body.next_cursor}`, { token: admin });
    expect(next.body.items).toEqual([{ line: 3, field: null, code: 'invalid_json', message: 'row is not a JSON object' }]);
    expect(next.body.next_cursor).toBeNull();
    expect(await byExternal('api', '1')).toBeDefined();
    // Again: nothing to do.
    expect((await finished((await upload(body, 'application/x-ndjson')).body.id)).counts).toMatchObject({ created: 0, unchanged: 1, failed: 2 });
  });

  test('CSV with a wrong header fails the job with the header errors; a wrong content type is 415; an unknown job is 404', async () => {
    const bad = await finished((await upload('mail\nx@example.test\n', 'text/csv')).body.id);
    expect(bad.status).toBe('failed');
    const errors = await api()<{ items: { line: number; field: string | null; code: string }[] }>('GET', `/users/imports/${bad.id}/errors`, { token: admin });
    expect(errors.body.items.map((e) => [e.line, e.field, e.code])).toEqual([[1, 'mail', 'unknown_column'], [1, null, 'no_identity']]);
    expect((await upload('a', 'text/plain')).status).toBe(415);
    // The platform administrator sees every tenant's jobs.
    expect((await api()('GET', `/users/imports/${bad.id}`, { token: await machineToken(t.issuer, 'ops-bot') })).status).toBe(200);
    expect((await api()('GET', '/users/imports/unknown-job', { token: admin })).status).toBe(404);
  });
});
