// A/B comparison of Tessera builds on the hot paths of bench/speed.ts (client
// credentials, UserInfo, introspection): server CPU per request from /proc,
// each build in its own `tessera serve` process on the same core, taking turns
// round by round. For judging one optimisation on a shared machine, where
// req/s swing but CPU per request stays comparable between processes measured
// moments apart. A benchmark, not a test: see bench/README.md.
//
//   node bench/speed-ab.mjs [--rounds 5] [--seconds 3] [--scenarios cc,userinfo,introspection[,refresh][,signin]]
//                           [--prof DIR] [--log-level info] LABEL=ROOT[,VAR=value...] ...
//
// The label `bare` (any ROOT) is the bare engine of bench/speed-bare.mjs.
// ROOT is a checkout (its packages/server/bin/tessera.js is started with
// TESSERA_FROM_SOURCE=1, so no build is needed); e.g. a `git archive` of the
// base commit next to the working tree. --prof writes a V8 CPU profile of each
// server (node --cpu-prof) into DIR when it stops.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';

const API = 'https://api.bench.test';
const SECRET = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const USER = { username: 'bench-user', password: 'bench user password, long enough' };
const REDIRECT = 'http://127.0.0.1:9/cb';

const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const ROUNDS = Number(opt('rounds', 5));
const SECONDS = Number(opt('seconds', 3));
const CONNECTIONS = Number(opt('connections', 10));
const SCENARIOS = opt('scenarios', 'cc,userinfo,introspection').split(',');
const PROF = opt('prof', '');
const LOG_LEVEL = opt('log-level', '');
// LABEL=ROOT[,VAR=value...]: environment overrides per target (e.g. base=.,LOG_LEVEL=warn); `VAR=` (empty)
// removes the variable: `TESSERA_FROM_SOURCE=` runs that checkout's compiled build (npm run build first).
const targets = argv.map((a) => {
  const [head, ...vars] = a.split(',');
  const [label, root] = head.split('=');
  return { label, root: resolve(root), env: Object.fromEntries(vars.map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)])) };
});
if (!targets.length) throw new Error('usage: node bench/speed-ab.mjs LABEL=ROOT [LABEL=ROOT ...]');

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const PIN = availableParallelism() >= 2;
const basic = (id) => `Basic ${Buffer.from(`${id}:${SECRET}`).toString('base64')}`;
/**
 * CPU time of a process in µs: nanoseconds on a CPU summed over its threads from schedstat (the
 * crypto thread pool's included), where the kernel keeps them; else utime + stime in clock ticks,
 * which on a loaded machine are too coarse for one-second rounds.
 */
const cpuMicros = (pid) => {
  try {
    let ns = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try { ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]); } catch { /* thread gone */ }
    }
    if (ns > 0) return ns / 1e3;
  } catch { /* no schedstat */ }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK;
};
/**
 * CPU time of the PostgreSQL server's processes (every process named `postgres`), in µs: with
 * DATABASE_URL on PostgreSQL, what the database spent for a target's requests (the machine's
 * other clients of the same server included, so read it on a quiet machine).
 */
const USES_PG = targets.some((t) => Object.entries(t.env ?? {}).some(([k, v]) => k === 'DATABASE_URL' && /^postgres/.test(String(v))));
const dbMicros = () => {
  if (!USES_PG) return 0;
  let us = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
      us += Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e3;
    } catch { /* gone */ }
  }
  return us;
};
/** The bare engine's labels (speed-bare.mjs): minimal, or with Tessera's engine features. */
const isBare = (label) => label === 'bare' || label === 'bare-tessera';
const freePort = () => new Promise((res, rej) => {
  const s = createServer();
  s.once('error', rej);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
});
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };

async function start(t) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-ab-'));
  const port = await freePort();
  if (isBare(t.label)) return startBare(t, dir, port);
  const config = join(dir, 'tessera.json');
  writeFileSync(config, JSON.stringify({
    apis: [{ identifier: API, name: 'Bench API', scopes: ['read'], signing_alg: 'ES256' }],
    clients: [
      { client_id: 'bench-client', client_secret: SECRET, grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'read' },
      { client_id: 'bench-rp', client_secret: SECRET, grant_types: ['password', 'refresh_token'], token_endpoint_auth_method: 'client_secret_basic', scope: 'openid offline_access profile' },
      {
        client_id: 'bench-web', client_secret: SECRET, grant_types: ['authorization_code'], redirect_uris: [REDIRECT], first_party: true,
        token_endpoint_auth_method: 'client_secret_basic', scope: 'openid profile',
      },
    ],
    users: [{ ...USER, email: 'bench-user@example.test', email_verified: true, given_name: 'Bench', family_name: 'User' }],
  }));
  const env = {
    ...process.env, PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: `http://127.0.0.1:${port}`, TESSERA_DATA_DIR: dir,
    DATABASE_URL: `sqlite:${join(dir, 'tessera.db')}`, TESSERA_SECRET: 'bench-secret-bench-secret-bench-secret', TESSERA_CONFIG: config,
    TESSERA_BOOTSTRAP_ADMIN_PASSWORD: 'bench-admin-password-0123456789', TESSERA_AUTH_FAILURES_PER_MINUTE: '1000000', TESSERA_FROM_SOURCE: '1',
  };
  delete env.LOG_LEVEL;
  delete env.TEST_DATABASE_URL;
  if (LOG_LEVEL) env.LOG_LEVEL = LOG_LEVEL;
  for (const [k, v] of Object.entries(t.env)) {
    if (v === '') delete env[k];
    else env[k] = v;
  }
  const node = [...(PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`, `--cpu-prof-name=${t.label}.cpuprofile`] : []), join(t.root, 'packages/server/bin/tessera.js'), 'serve'];
  const child = spawn(PIN ? 'taskset' : process.execPath, PIN ? ['-c', '0', process.execPath, ...node] : node, { env, cwd: t.root, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const origin = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`${t.label} exited: ${err.slice(-800)}`);
    try { const r = await fetch(`${origin}/readyz`); await r.arrayBuffer(); if (r.status === 200) break; } catch { /* not yet */ }
    if (i > 6000) throw new Error(`${t.label} not ready`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const res = await fetch(`${origin}/oidc/token`, {
    method: 'POST', headers: { authorization: basic('bench-rp'), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', ...USER, scope: 'openid offline_access profile' }).toString(),
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`${t.label}: password grant ${res.status} ${JSON.stringify(body)}`);
  return { ...t, dir, origin, child, pid: child.pid, access: body.access_token, prefix: '/oidc', stderr: () => err };
}

/** The bare engine of bench/speed.ts (bench/speed-bare.mjs), same clients and API; its routes have no /oidc prefix. */
async function startBare(t, dir, port) {
  const node = [...(PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`, `--cpu-prof-name=${t.label}.cpuprofile`] : []), join(import.meta.dirname, 'speed-bare.mjs'), JSON.stringify({ port, api: API, secret: SECRET, features: t.label === 'bare-tessera' ? 'tessera' : 'minimal' })];
  const child = spawn(PIN ? 'taskset' : process.execPath, PIN ? ['-c', '0', process.execPath, ...node] : node, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.resume();
  const origin = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error('bare engine exited');
    try { const r = await fetch(`${origin}/.well-known/openid-configuration`); await r.arrayBuffer(); if (r.status === 200) break; } catch { /* not yet */ }
    if (i > 6000) throw new Error('bare engine not ready');
    await new Promise((r) => setTimeout(r, 10));
  }
  const res = await fetch(`${origin}/__bench/seed?n=1`, { method: 'POST' });
  const { access } = await res.json();
  return { ...t, dir, origin, child, pid: child.pid, access: access[0], prefix: '' };
}

const requests = {
  cc: (s) => ({ url: `${s.origin}${s.prefix}/token`, method: 'POST', headers: { authorization: basic('bench-client'), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: 'read' }).toString() }),
  userinfo: (s) => ({ url: `${s.origin}${s.prefix}/me`, method: 'GET', headers: { authorization: `Bearer ${s.access}` } }),
  introspection: (s) => ({ url: `${s.origin}${s.prefix}/token/introspection`, method: 'POST', headers: { authorization: basic('bench-rp'), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: s.access }).toString() }),
};

/** `n` fresh refresh tokens of the bench user (bench-rp, password grant; not measured). */
async function refreshTokens(s, n) {
  if (isBare(s.label)) {
    const res = await fetch(`${s.origin}/__bench/seed?n=${n}`, { method: 'POST' });
    return (await res.json()).refresh;
  }
  const out = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${s.origin}/oidc/token`, {
      method: 'POST', headers: { authorization: basic('bench-rp'), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', ...USER, scope: 'openid offline_access profile' }).toString(),
    });
    out.push((await res.json()).refresh_token);
  }
  return out;
}

/** Refresh with rotation: bench/refresh-worker.mjs's closed loops (each connection sends the token it was last given). */
async function runRefresh(s, seconds) {
  const tokens = await refreshTokens(s, CONNECTIONS);
  const before = cpuMicros(s.pid);
  const dbBefore = dbMicros();
  const r = await new Promise((resolve, reject) => {
    const w = new Worker(join(import.meta.dirname, 'refresh-worker.mjs'), { workerData: { origin: s.origin, path: `${s.prefix}/token`, authorization: basic('bench-rp'), tokens, duration: seconds } });
    w.once('message', resolve);
    w.once('error', reject);
  });
  const cpu = cpuMicros(s.pid) - before;
  const db = dbMicros() - dbBefore;
  const total = r.latencies.length;
  const failed = r.errors + Object.entries(r.statusCodes).filter(([code]) => code !== '200').reduce((n, [, c]) => n + c, 0);
  if (failed) throw new Error(`refresh on ${s.label}: ${failed} failed`);
  return { rps: total / seconds, cpu: cpu / total, db: db / total, requests: total };
}

/** Full password sign-ins: bench/speed-signin-worker.mjs's closed loops (authorize → form → code → token); Tessera only. */
async function runSignIn(s, seconds) {
  if (isBare(s.label)) throw new Error('signin: the bare engine has no sign-in (bench/speed.ts compares sign-ins with argon2id alone)');
  const before = cpuMicros(s.pid);
  const dbBefore = dbMicros();
  const r = await new Promise((resolve, reject) => {
    const w = new Worker(join(import.meta.dirname, 'speed-signin-worker.mjs'), {
      workerData: { origin: s.origin, clientId: 'bench-web', authorization: basic('bench-web'), redirectUri: REDIRECT, ...USER, connections: CONNECTIONS, duration: seconds },
    });
    w.once('message', resolve);
    w.once('error', reject);
  });
  const cpu = cpuMicros(s.pid) - before;
  const total = r.latencies.length;
  const failed = r.errors + Object.entries(r.statusCodes).filter(([code]) => code !== '200').reduce((n, [, c]) => n + c, 0);
  if (failed) throw new Error(`signin on ${s.label}: ${failed} failed (${r.firstError ?? ''})`);
  return { rps: total / seconds, cpu: cpu / total, db: (dbMicros() - dbBefore) / total, requests: total };
}

async function run(s, scenario, seconds) {
  if (scenario === 'refresh') return runRefresh(s, seconds);
  if (scenario === 'signin') return runSignIn(s, seconds);
  const before = cpuMicros(s.pid);
  const dbBefore = dbMicros();
  const r = await autocannon({ ...requests[scenario](s), connections: CONNECTIONS, duration: seconds, pipelining: 1, timeout: 10 });
  const cpu = cpuMicros(s.pid) - before;
  const db = dbMicros() - dbBefore;
  const failed = r.non2xx + r.errors + r.timeouts;
  if (failed) throw new Error(`${scenario} on ${s.label}: ${failed} failed`);
  return { rps: r.requests.total / seconds, cpu: cpu / r.requests.total, db: db / r.requests.total, requests: r.requests.total };
}

if (PIN) execFileSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });
const servers = [];
try {
  for (const t of targets) servers.push(await start(t));
  const results = {};
  for (const sc of SCENARIOS) for (const s of servers) { await run(s, sc, 1); results[`${sc}/${s.label}`] = []; }
  for (let round = 0; round < ROUNDS; round++) {
    for (const sc of SCENARIOS) {
      const order = round % 2 ? [...servers].reverse() : servers;
      for (const s of order) results[`${sc}/${s.label}`].push(await run(s, sc, SECONDS));
    }
    process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
  }
  // Paired: each round's CPU per request of a target ÷ the first target's in the same round (moments
  // apart, so load that drifts over minutes cancels out); median and range over the rounds.
  const first = servers[0];
  const others = servers.slice(1);
  const dbCols = USES_PG ? servers : [];
  console.log(`| scenario | ${servers.map((s) => `${s.label} CPU µs/req (range)`).join(' | ')} | ${others.map((s) => `${s.label} ÷ ${first.label}, paired (range)`).join(' | ')} | ${servers.map((s) => `${s.label} req/s`).join(' | ')} |${dbCols.map((s) => ` ${s.label} PostgreSQL CPU µs/req |`).join('')}`);
  console.log(`|---|${servers.map(() => '---|').join('')}${others.map(() => '---|').join('')}${servers.map(() => '---|').join('')}${dbCols.map(() => '---|').join('')}`);
  for (const sc of SCENARIOS) {
    const cells = servers.map((s) => { const c = results[`${sc}/${s.label}`].map((x) => x.cpu); return `${median(c).toFixed(0)} (${Math.min(...c).toFixed(0)}–${Math.max(...c).toFixed(0)})`; });
    const paired = others.map((s) => {
      const r = results[`${sc}/${s.label}`].map((x, i) => x.cpu / results[`${sc}/${first.label}`][i].cpu);
      return `${median(r).toFixed(3)} (${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)})`;
    });
    const rates = servers.map((s) => median(results[`${sc}/${s.label}`].map((x) => x.rps)).toFixed(0));
    const dbCells = dbCols.map((s) => ` ${median(results[`${sc}/${s.label}`].map((x) => x.db ?? 0)).toFixed(0)} |`);
    console.log(`| ${sc} | ${cells.join(' | ')} | ${paired.join(' | ')} | ${rates.join(' | ')} |${dbCells.join('')}`);
    if (PROF) process.stderr.write(`requests measured (${sc}): ${servers.map((s) => `${s.label} ${results[`${sc}/${s.label}`].reduce((n, x) => n + x.requests, 0)}`).join(', ')}\n`);
  }
} finally {
  for (const s of servers) {
    // What a server said on its standard error (its log goes to standard output), e.g. a database warning.
    // Never in the way of stopping the servers: a server left running skews every later measurement.
    try {
      const said = s.stderr?.().split('\n').filter((l) => l.startsWith('tessera:')) ?? [];
      if (said.length) process.stderr.write(`${s.label} said:\n${said.slice(0, 10).join('\n')}\n`);
    } catch { /* nothing to say */ }
    const gone = new Promise((r) => s.child.once('exit', r));
    s.child.kill('SIGTERM');
    await gone;
    rmSync(s.dir, { recursive: true, force: true });
  }
}
