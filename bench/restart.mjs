#!/usr/bin/env node
// Restart to ready, CPU spent until ready and idle RSS of `tessera serve`
// (issue 20), measured N times on one data directory after a first start:
//
//   node bench/restart.mjs [--runs 5] [--users 0] [--engine sqlite|postgres] [--modes built,source,dist=DIR]
//
// --modes: which code each restart runs, taking turns in every round (built:
// packages/server/dist as `npm start` runs it when up to date; source: the
// TypeScript sources through tsx, TESSERA_FROM_SOURCE=1; dist=DIR: another
// compiled build, e.g. a copy of packages/server/dist made before a change,
// kept inside packages/server so that it resolves the same node_modules, for
// a before/after comparison in one run). Prints each run and
// the medians per mode. On a shared machine wall time swings with
// the load; the CPU time of the server process until it answers /readyz
// (utime + stime from /proc) is the steadier figure. --users N declares N
// users in the configuration file, to see whether start-up grows with them.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

const ROOT = join(import.meta.dirname, '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, users: { type: 'string', default: '0' }, engine: { type: 'string', default: 'sqlite' }, modes: { type: 'string', default: 'built' } } });
const RUNS = Number(values.runs);
const USERS = Number(values.users);
const MODES = values.modes.split(',');
const CLK_TCK = 100;

const freePort = () => new Promise((r) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
const cpuMs = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK; };
const rssMiB = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const dir = mkdtempSync(join(tmpdir(), 'tessera-restart-'));
let databaseUrl = `sqlite:${join(dir, 'tessera.db')}`;
let schema;
const pgBase = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
if (values.engine === 'postgres') {
  schema = `restart_${process.pid}`;
  databaseUrl = `${pgBase}?schema=${schema}`;
}
const config = join(dir, 'tessera.json');
writeFileSync(config, JSON.stringify({
  clients: [{ client_id: 'bench-client', client_secret: 'bench-secret-bench-secret-0123456789', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' }],
  users: Array.from({ length: USERS }, (_, i) => ({ username: `user${i}`, password: `password-${i}-long-enough`, email: `user${i}@example.test` })),
}));

async function start(mode) {
  const port = await freePort();
  const env = {
    ...process.env, PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: `http://127.0.0.1:${port}`, TESSERA_DATA_DIR: dir, DATABASE_URL: databaseUrl,
    TESSERA_SECRET: 'bench-secret-bench-secret-bench-secret', TESSERA_CONFIG: config, TESSERA_BOOTSTRAP_ADMIN_PASSWORD: 'bench-admin-password-0123456789',
  };
  if (mode === 'source') env.TESSERA_FROM_SOURCE = '1';
  else delete env.TESSERA_FROM_SOURCE;
  delete env.LOG_LEVEL;
  delete env.TEST_DATABASE_URL;
  const t0 = performance.now();
  // dist=DIR runs that build's CLI directly (the launcher only knows packages/server/dist).
  const args = mode.startsWith('dist=')
    ? ['--input-type=module', '-e', `const { runCli } = await import(${JSON.stringify(pathToFileURL(resolve(mode.slice(5), 'server/src/cli.js')).href)}); process.exitCode = await runCli(['serve']);`]
    : [join(ROOT, 'packages/server/bin/tessera.js'), 'serve'];
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  let exited = false;
  child.once('exit', () => { exited = true; });
  for (;;) {
    if (exited) throw new Error(`exited before ready: ${err.slice(-800)}`);
    try { const r = await fetch(`http://127.0.0.1:${port}/readyz`); await r.arrayBuffer(); if (r.status === 200) break; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 10));
  }
  const ms = performance.now() - t0;
  const cpu = cpuMs(child.pid);
  await new Promise((r) => setTimeout(r, 2000));
  const rss = rssMiB(child.pid);
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
  return { ms, cpu, rss, notice: err.split('\n').find((l) => l.startsWith('tessera: running')) };
}

try {
  const first = await start(MODES[0]);
  console.log(`first start (${MODES[0]}): ${first.ms.toFixed(0)} ms, ${first.cpu.toFixed(0)} ms CPU${first.notice ? ` (${first.notice})` : ''}`);
  const runs = Object.fromEntries(MODES.map((m) => [m, []]));
  for (let i = 0; i < RUNS; i++) {
    for (const mode of i % 2 ? [...MODES].reverse() : MODES) {
      const r = await start(mode);
      runs[mode].push(r);
      console.log(`restart ${i + 1} (${mode}): ${r.ms.toFixed(0)} ms to ready, ${r.cpu.toFixed(0)} ms CPU until ready, idle RSS ${r.rss.toFixed(1)} MiB${r.notice ? ` [${r.notice}]` : ''}`);
    }
  }
  for (const mode of MODES) {
    const rs = runs[mode];
    console.log(`median of ${RUNS} (${mode}, ${values.engine}, ${USERS} declared users): restart to ready ${median(rs.map((r) => r.ms)).toFixed(0)} ms, CPU until ready ${median(rs.map((r) => r.cpu)).toFixed(0)} ms, idle RSS ${median(rs.map((r) => r.rss)).toFixed(1)} MiB`);
  }
  console.log(`load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
  if (schema) {
    const c = new pg.Client({ connectionString: pgBase });
    await c.connect();
    await c.query(`drop schema if exists ${schema} cascade`);
    await c.end();
  }
}
