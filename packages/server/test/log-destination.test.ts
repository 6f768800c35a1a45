import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchedLogDestination } from '../src/http/log-destination.js';
import { createCliStore, startTessera } from './helpers/cli.js';
import type { CliStore } from './helpers/cli.js';
import { freePort } from './helpers/app.js';

// The log's standard-output destination gathers info lines while serving (src/http/log-destination.ts):
// these prove that no line is lost when the process ends, in real processes.

const DESTINATION = resolve(import.meta.dirname, '../src/http/log-destination.ts');
// The child script lives in a temporary directory: it imports pino by this file's resolution.
const PINO = import.meta.resolve('pino');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-logdest-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a script (through tsx) that logs `n` info lines with the batching destination, then ends as `how` says. */
function runChild(how: 'exit' | 'process.exit' | 'throw' | 'reject', n: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const file = join(dir, `child-${how}.ts`);
  writeFileSync(file, `
    import pino from ${JSON.stringify(PINO)};
    import { BatchedLogDestination } from ${JSON.stringify(DESTINATION)};
    const dest = new BatchedLogDestination();
    dest.batching(true);
    const log = pino({}, dest);
    const how = ${JSON.stringify(how)};
    const logAll = () => { for (let i = 0; i < ${n}; i++) log.info({ i }, 'line'); };
    // 'exit': logged as the event loop runs out (the flush timer is unref'd): the process ends with them held.
    if (how === 'exit') process.once('beforeExit', logAll);
    else logAll();
    if (how === 'process.exit') process.exit(0);
    if (how === 'throw') throw new Error('uncaught on purpose');
    if (how === 'reject') Promise.reject(new Error('unhandled on purpose'));
  `);
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: resolve(import.meta.dirname, '..') });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const indexes = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { i: number }).i);

describe('batched log destination', () => {
  it('holds info lines while serving, writes warn and worse at once and everything on flush', () => {
    const written: string[] = [];
    const dest = new BatchedLogDestination({ write: (s: string) => written.push(s) });
    dest.write('before\n');
    expect(written).toEqual(['before\n']);
    dest.batching(true);
    dest.lastLevel = 30;
    dest.write('a\n');
    dest.write('b\n');
    expect(written).toEqual(['before\n']);
    dest.lastLevel = 40;
    dest.write('warned\n');
    expect(written).toEqual(['before\n', 'a\nb\n', 'warned\n']);
    dest.lastLevel = 30;
    dest.write('c\n');
    dest.batching(false);
    expect(written).toEqual(['before\n', 'a\nb\n', 'warned\n', 'c\n']);
  });

  for (const how of ['exit', 'process.exit', 'throw', 'reject'] as const) {
    it(`loses no line when the process ends by ${how}`, async () => {
      const { code, stdout, stderr } = await runChild(how, 500);
      expect(code, stderr).toBe(how === 'throw' || how === 'reject' ? 1 : 0);
      expect(indexes(stdout)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    });
  }
});

describe('tessera serve', () => {
  let store: CliStore;
  beforeAll(() => {
    store = createCliStore();
  });
  afterAll(() => store.dispose());

  it('writes every request line before it stops on SIGTERM', async () => {
    const port = await freePort();
    const server = await startTessera({
      TESSERA_DATA_DIR: store.dir, DATABASE_URL: store.databaseUrl, TESSERA_SECRET: 'log-destination-secret-0123456789',
      PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: `http://127.0.0.1:${port}`, LOG_LEVEL: 'info',
    });
    const ids = Array.from({ length: 40 }, (_, i) => `logdest-${i}`);
    for (const id of ids) {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { 'x-request-id': id } });
      expect(res.status).toBe(200);
    }
    expect(await server.stop()).toBe(0);
    const logged = server.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { requestId?: string; msg?: string });
    const completed = new Set(logged.filter((l) => l.msg === 'request completed').map((l) => l.requestId));
    for (const id of ids) expect(completed.has(id), id).toBe(true);
    // The lines of the stop itself come after them.
    expect(logged.at(-1)?.msg).not.toBe('request completed');
  });
});
