/**
 * `npm run bench` (first part): Tessera next to the bare protocol engine it is
 * built on, on every hot path, in the same run (issue 20). Servers run in
 * their own processes (`tessera serve` as `npm start` runs it, at the default
 * log level; the bare engine in bench/speed-bare.mjs), pinned to core 0 when
 * the machine has two cores or more; this process and its load generators
 * are pinned to core 1. Scenarios take turns in BENCH_ROUNDS interleaved
 * rounds; the table gives medians and ranges of requests per second, the
 * server's CPU time per request (from /proc), and the ratios. A JSON file is
 * written for comparisons between commits (bench/speed-compare.mjs).
 * A benchmark, not a test: nothing here asserts a speed. See bench/README.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { runLoad, summarize } from './load.js';
import type { LoadOptions } from './load.js';
import { CONNECTIONS, ROUNDS, WARMUP } from './settings.js';

const API = 'https://api.bench.test';
const SECRET = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const USER = { username: 'bench-user', password: 'bench user password, long enough' };
const REDIRECT = 'http://127.0.0.1:9/cb';
/** Seconds per round, per scenario and server (BENCH_ROUND_SECONDS). */
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS || 3);
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const CLK_TCK = Number((() => { try { return execFileSync('getconf', ['CLK_TCK']).toString().trim(); } catch { return '100'; } })()) || 100;
const PIN = availableParallelism() >= 2 && (() => { try { execFileSync('taskset', ['-V']); return true; } catch { return false; } })();

const basic = (id: string) => `Basic ${Buffer.from(`${id}:${SECRET}`).toString('base64')}`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** utime + stime of a process, in µs (clock ticks from /proc/<pid>/stat). */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface Proc {
  name: 'tessera' | 'bare';
  origin: string;
  child: ChildProcess;
  pid: number;
  /** Milliseconds from spawn to ready. */
  startMs: number;
  stderr: string[];
  stop(): Promise<void>;
}

/** Spawns a server (pinned to core 0 when pinning) and waits until `readyPath` answers 200. */
async function spawnServer(name: Proc['name'], args: string[], env: NodeJS.ProcessEnv, origin: string, readyPath: string): Promise<Proc> {
  const command = PIN ? 'taskset' : process.execPath;
  const argv = PIN ? ['-c', '0', process.execPath, ...args] : args;
  const started = performance.now();
  const child = spawn(command, argv, { env, stdio: ['ignore', 'ignore', 'pipe'], cwd: ROOT });
  const stderr: string[] = [];
  child.stderr!.on('data', (d: Buffer) => stderr.push(String(d)));
  let exited = false;
  child.once('exit', () => { exited = true; });
  for (;;) {
    if (exited) throw new Error(`${name} exited before it was ready: ${stderr.join('').slice(-800)}`);
    try {
      const res = await fetch(origin + readyPath);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch { /* not listening yet */ }
    if (performance.now() - started > 60_000) throw new Error(`${name} not ready after 60 s: ${stderr.join('').slice(-800)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const startMs = performance.now() - started;
  return {
    name, origin, child, pid: child.pid!, startMs, stderr,
    async stop() {
      if (exited) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

interface Store { url: string; describe: string; dispose(): Promise<void> }

function sqliteStore(dir: string): Store {
  return { url: `sqlite:${join(dir, 'tessera.db')}`, describe: 'sqlite (WAL, file under the OS temp directory)', async dispose() {} };
}

function postgresStore(base: string): Store {
  const schema = `bench_${randomBytes(6).toString('hex')}`;
  const url = new URL(base);
  url.searchParams.set('schema', schema);
  return {
    url: url.href, describe: `postgres (${url.host}, schema ${schema})`,
    async dispose() {
      const client = new pg.Client({ connectionString: base });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    },
  };
}

/** What `tessera serve` runs with: the bench's API, clients and user, at the default log level. */
function tesseraEnv(dir: string, store: Store, port: number): NodeJS.ProcessEnv {
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
  const env: NodeJS.ProcessEnv = {
    ...process.env, PORT: String(port), HOST: '127.0.0.1', TESSERA_ISSUER: `http://127.0.0.1:${port}`, TESSERA_DATA_DIR: dir, DATABASE_URL: store.url,
    TESSERA_SECRET: 'bench-secret-bench-secret-bench-secret', TESSERA_CONFIG: config,
    TESSERA_BOOTSTRAP_ADMIN_PASSWORD: 'bench-admin-password-0123456789', TESSERA_AUTH_FAILURES_PER_MINUTE: '1000000',
  };
  // The default log level: whatever LOG_LEVEL the caller set is not Tessera's default.
  delete env.LOG_LEVEL;
  delete env.TEST_DATABASE_URL;
  return env;
}

async function startTessera(dir: string, store: Store, port: number): Promise<Proc> {
  return spawnServer('tessera', [join(ROOT, 'packages/server/bin/tessera.js'), 'serve'], tesseraEnv(dir, store, port), `http://127.0.0.1:${port}`, '/readyz');
}

async function startBare(port: number): Promise<Proc> {
  const env = { ...process.env };
  return spawnServer('bare', [join(HERE, 'speed-bare.mjs'), JSON.stringify({ port, api: API, secret: SECRET })], env, `http://127.0.0.1:${port}`, '/.well-known/openid-configuration');
}

/** Paths differ: Tessera mounts the engine under /oidc. */
const path = (p: Proc, engine: string) => (p.name === 'tessera' ? `/oidc${engine}` : engine);

async function post(p: Proc, enginePath: string, auth: string, form: Record<string, string>): Promise<Record<string, unknown>> {
  const res = await fetch(p.origin + path(p, enginePath), {
    method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString(),
  });
  const body = await res.json() as Record<string, unknown>;
  if (res.status !== 200) throw new Error(`${p.name} ${enginePath}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** `n` refresh tokens and access tokens (openid profile) of the bench user for the client bench-rp. */
async function tokens(p: Proc, n: number): Promise<{ refresh: string[]; access: string[] }> {
  if (p.name === 'bare') {
    const res = await fetch(`${p.origin}/__bench/seed?n=${n}`, { method: 'POST' });
    if (res.status !== 200) throw new Error(`bare seed: ${res.status} ${await res.text()}`);
    return res.json() as Promise<{ refresh: string[]; access: string[] }>;
  }
  const out = { refresh: [] as string[], access: [] as string[] };
  for (let i = 0; i < n; i++) {
    const body = await post(p, '/token', basic('bench-rp'), { grant_type: 'password', ...USER, scope: 'openid offline_access profile' });
    out.refresh.push(String(body.refresh_token));
    out.access.push(String(body.access_token));
  }
  return out;
}

interface Sample { rps: number; cpuUs: number; p50: number; p99: number; requests: number; failures: number }

interface RunResult { requests: number; seconds: number; p50: number; p99: number; failures: number; detail?: string }

/**
 * One scenario's load: `prepare` (not measured: tokens, request shapes) then
 * `exec` (measured: rate, the server's CPU per request, latencies).
 */
interface Runner {
  prepare(p: Proc, seconds: number): Promise<unknown>;
  exec(p: Proc, prepared: unknown): Promise<RunResult>;
}

function autocannonRunner(request: (p: Proc) => Promise<Omit<LoadOptions, 'connections' | 'duration'>>): Runner {
  return {
    prepare: async (p, seconds) => ({ ...(await request(p)), connections: CONNECTIONS, duration: seconds }),
    async exec(_p, prepared) {
      const opts = prepared as LoadOptions;
      const s = summarize([await runLoad(opts)], opts);
      return { requests: s.requests, seconds: s.seconds, p50: s.p50, p99: s.p99, failures: s.non2xx + s.errors + s.timeouts, detail: JSON.stringify(s.statusCodes) };
    },
  };
}

function workerRun(file: string, data: unknown): Promise<{ latencies: number[]; statusCodes: Record<string, number>; errors: number; seconds: number; firstError?: string }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(file, import.meta.url), { workerData: data });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => { if (code !== 0) reject(new Error(`${file} exited with ${code}`)); });
  });
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * q))]! : NaN;
};
/** The middle value; for an even count, the mean of the two middle ones. */
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (!n) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};

function closedLoop(file: string, data: (p: Proc, seconds: number) => Promise<Record<string, unknown>>): Runner {
  return {
    prepare: data,
    async exec(_p, prepared) {
    const r = await workerRun(file, prepared);
    const failed = Object.entries(r.statusCodes).filter(([c]) => c !== '200').reduce((n, [, v]) => n + v, 0) + r.errors;
    return { requests: r.latencies.length, seconds: r.seconds, p50: pct(r.latencies, 0.5), p99: pct(r.latencies, 0.99), failures: failed, ...(r.firstError ? { detail: r.firstError } : {}) };
    },
  };
}

interface Scenario { name: string; key: string; run: Runner }

function scenarios(): Scenario[] {
  const userinfoToken = new Map<Proc, string>();
  const introspectToken = new Map<Proc, string>();
  const once = async (p: Proc, map: Map<Proc, string>) => {
    if (!map.has(p)) map.set(p, (await tokens(p, 1)).access[0]!);
    return map.get(p)!;
  };
  return [
    {
      name: 'client credentials (ES256 JWT)', key: 'client_credentials',
      run: autocannonRunner(async (p) => ({
        url: p.origin + path(p, '/token'), method: 'POST',
        headers: { authorization: basic('bench-client'), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: API, scope: 'read' }).toString(),
      })),
    },
    {
      name: 'refresh with rotation', key: 'refresh',
      run: closedLoop('./refresh-worker.mjs', async (p, seconds) => ({
        origin: p.origin, path: path(p, '/token'), authorization: basic('bench-rp'), tokens: (await tokens(p, CONNECTIONS)).refresh, duration: seconds,
      })),
    },
    {
      name: 'UserInfo', key: 'userinfo',
      run: autocannonRunner(async (p) => ({ url: p.origin + path(p, '/me'), method: 'GET', headers: { authorization: `Bearer ${await once(p, userinfoToken)}` } })),
    },
    {
      name: 'introspection', key: 'introspection',
      run: autocannonRunner(async (p) => ({
        url: p.origin + path(p, '/token/introspection'), method: 'POST',
        headers: { authorization: basic('bench-rp'), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: await once(p, introspectToken) }).toString(),
      })),
    },
  ];
}

/** Before timing: every scenario answers correctly on both servers. */
async function verify(t: Proc, b: Proc): Promise<void> {
  for (const p of [t, b]) {
    const cc = await post(p, '/token', basic('bench-client'), { grant_type: 'client_credentials', resource: API, scope: 'read' });
    if (String(cc.access_token).split('.').length !== 3) throw new Error(`${p.name}: client credentials gave no JWT`);
    const { refresh, access } = await tokens(p, 1);
    const r = await post(p, '/token', basic('bench-rp'), { grant_type: 'refresh_token', refresh_token: refresh[0]! });
    if (!r.refresh_token || r.refresh_token === refresh[0]) throw new Error(`${p.name}: refresh did not rotate`);
    const ui = await fetch(p.origin + path(p, '/me'), { headers: { authorization: `Bearer ${access[0]}` } });
    const claims = await ui.json() as Record<string, unknown>;
    if (ui.status !== 200 || !claims.sub) throw new Error(`${p.name}: UserInfo ${ui.status} ${JSON.stringify(claims)}`);
    const intro = await post(p, '/token/introspection', basic('bench-rp'), { token: access[0]! });
    if (intro.active !== true) throw new Error(`${p.name}: introspection says ${JSON.stringify(intro)}`);
  }
}

interface Row { key: string; name: string; tessera: Sample[]; reference: Sample[]; referenceName: string }

function sample(p: Proc, before: number, r: RunResult): Sample {
  const cpu = cpuMicros(p.pid) - before;
  return { rps: r.requests / r.seconds, cpuUs: r.requests ? cpu / r.requests : NaN, p50: r.p50, p99: r.p99, requests: r.requests, failures: r.failures };
}

async function measure(p: Proc, run: Runner, seconds: number, label: string): Promise<Sample> {
  const prepared = await run.prepare(p, seconds);
  const before = cpuMicros(p.pid);
  const r = await run.exec(p, prepared);
  if (r.failures) throw new Error(`${label} on ${p.name}: ${r.failures} failed requests ${r.detail ?? ''}`);
  return sample(p, before, r);
}

/** argon2id verifications alone, pinned to the server's core: the floor of a password sign-in. */
async function argon2Floor(seconds: number): Promise<Sample> {
  const args = [join(HERE, 'speed-argon2.mjs'), JSON.stringify({ duration: seconds, concurrency: CONNECTIONS })];
  const out = execFileSync(PIN ? 'taskset' : process.execPath, PIN ? ['-c', '0', process.execPath, ...args] : args, { cwd: ROOT }).toString();
  const { verifications, seconds: s } = JSON.parse(out.trim().split('\n').pop()!) as { verifications: number; seconds: number };
  return { rps: verifications / s, cpuUs: NaN, p50: NaN, p99: NaN, requests: verifications, failures: 0 };
}

const signInRun: Runner = closedLoop('./speed-signin-worker.mjs', async (p, seconds) => ({
  origin: p.origin, clientId: 'bench-web', authorization: basic('bench-web'), redirectUri: REDIRECT, ...USER, connections: CONNECTIONS, duration: seconds,
}));

async function runEngine(engine: 'sqlite' | 'postgres', pgUrl: string | undefined): Promise<{ engine: string; storage: string; rows: Row[]; startup: Row; memory: Row }> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-speed-'));
  const store = engine === 'sqlite' ? sqliteStore(dir) : postgresStore(pgUrl!);
  const tPort = await freePort();
  const bPort = await freePort();
  let t: Proc | undefined;
  let b: Proc | undefined;
  const rows: Row[] = [];
  try {
    t = await startTessera(dir, store, tPort);
    b = await startBare(bPort);
    await verify(t, b);
    const list = scenarios();
    for (const s of list) rows.push({ key: s.key, name: s.name, tessera: [], reference: [], referenceName: 'bare engine' });
    const signIn: Row = { key: 'signin', name: 'password sign-in (authorize → form → code → token)', tessera: [], reference: [], referenceName: 'argon2id alone' };
    rows.push(signIn);
    if (WARMUP > 0) {
      for (const s of list) for (const p of [t, b]) await measure(p, s.run, WARMUP, `${s.name} warm-up`);
      await measure(t, signInRun, WARMUP, 'sign-in warm-up');
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, s] of list.entries()) {
        const order = round % 2 === 0 ? [t, b] : [b, t];
        for (const p of order) {
          const m = await measure(p, s.run, ROUND_SECONDS, s.name);
          (p === t ? rows[i]!.tessera : rows[i]!.reference).push(m);
        }
      }
      const tFirst = round % 2 === 0;
      if (tFirst) signIn.tessera.push(await measure(t, signInRun, ROUND_SECONDS, 'sign-in'));
      signIn.reference.push(await argon2Floor(ROUND_SECONDS));
      if (!tFirst) signIn.tessera.push(await measure(t, signInRun, ROUND_SECONDS, 'sign-in'));
      process.stderr.write(`  ${engine}: round ${round + 1}/${ROUNDS} done\n`);
    }
    await t.stop();
    await b.stop();
    t = undefined;
    b = undefined;
    // Restart to ready and idle memory, on the store just used (a restart, not a first start), taking turns.
    const startup: Row = { key: 'startup', name: 'restart to ready (ms)', tessera: [], reference: [], referenceName: 'bare engine' };
    const memory: Row = { key: 'idle_rss', name: 'idle RSS after start (MiB)', tessera: [], reference: [], referenceName: 'bare engine' };
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of round % 2 === 0 ? ['tessera', 'bare'] as const : ['bare', 'tessera'] as const) {
        const p = kind === 'tessera' ? await startTessera(dir, store, tPort) : await startBare(bPort);
        await new Promise((r) => setTimeout(r, 2000));
        const rss = rssMiB(p.pid);
        await p.stop();
        const row = (r: Row) => (kind === 'tessera' ? r.tessera : r.reference);
        row(startup).push({ rps: p.startMs, cpuUs: NaN, p50: NaN, p99: NaN, requests: 1, failures: 0 });
        row(memory).push({ rps: rss, cpuUs: NaN, p50: NaN, p99: NaN, requests: 1, failures: 0 });
      }
    }
    return { engine, storage: store.describe, rows, startup, memory };
  } finally {
    await t?.stop();
    await b?.stop();
    await store.dispose().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '–');
const range = (xs: number[], d = 0) => `${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)}`;

/** A row's figures: medians, ranges, ratios (throughput: Tessera ÷ reference; for start-up and memory: reference ÷ Tessera, so 1.0 is parity and lower is worse in every column). */
function summarizeRow(r: Row, lowerIsBetter = false) {
  const tr = r.tessera.map((s) => s.rps);
  const rr = r.reference.map((s) => s.rps);
  const perRound = tr.map((v, i) => (lowerIsBetter ? rr[i]! / v : v / rr[i]!));
  const tCpu = median(r.tessera.map((s) => s.cpuUs));
  const rCpu = median(r.reference.map((s) => s.cpuUs));
  return {
    key: r.key, name: r.name, reference: r.referenceName,
    tessera: { median: median(tr), min: Math.min(...tr), max: Math.max(...tr), cpu_us_per_request: tCpu, p50_ms: median(r.tessera.map((s) => s.p50)), p99_ms: median(r.tessera.map((s) => s.p99)) },
    bare: { median: median(rr), min: Math.min(...rr), max: Math.max(...rr), cpu_us_per_request: rCpu },
    ratio: median(perRound), ratio_min: Math.min(...perRound), ratio_max: Math.max(...perRound),
    cpu_ratio: Number.isFinite(tCpu) && Number.isFinite(rCpu) ? rCpu / tCpu : null,
  };
}

async function main(): Promise<number> {
  if (PIN) execFileSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });
  const pgUrl = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL;
  const engines = (process.env.BENCH_ENGINES || (pgUrl ? 'sqlite,postgres' : 'sqlite')).split(',').map((e) => e.trim()) as ('sqlite' | 'postgres')[];
  const started = new Date();
  console.log(`Tessera vs the bare engine: ${ROUNDS} rounds × ${ROUND_SECONDS} s per scenario and server, ${CONNECTIONS} connections, `
    + `${PIN ? 'servers on core 0, load on core 1' : 'no pinning (fewer than 2 cores or no taskset)'}; Tessera at the default log level`);
  const results = [];
  for (const engine of engines) {
    if (engine === 'postgres' && !pgUrl) throw new Error('BENCH_ENGINES names postgres: set BENCH_DATABASE_URL or TEST_DATABASE_URL');
    const r = await runEngine(engine, pgUrl);
    const rows = [...r.rows.map((x) => summarizeRow(x)), summarizeRow(r.startup, true), summarizeRow(r.memory, true)];
    results.push({ engine, storage: r.storage, rows });
    console.log(`\n${engine}: ${r.storage}`);
    console.log('| scenario | Tessera (median, range) | reference (median, range) | ratio (median, range) | CPU µs/req Tessera / reference | CPU ratio | Tessera p50 / p99 ms |');
    console.log('|---|---|---|---|---|---|---|');
    for (const x of rows) {
      const unit = x.key === 'startup' ? ' ms' : x.key === 'idle_rss' ? ' MiB' : ' /s';
      const d = x.key === 'idle_rss' ? 0 : 0;
      const tr = r.rows.find((y) => y.key === x.key) ?? (x.key === 'startup' ? r.startup : r.memory);
      console.log(`| ${x.name} | ${fmt(x.tessera.median, d)}${unit} (${range(tr.tessera.map((s) => s.rps), d)}) | ${x.reference}: ${fmt(x.bare.median, d)}${unit} (${range(tr.reference.map((s) => s.rps), d)}) `
        + `| **${fmt(x.ratio, 2)}** (${fmt(x.ratio_min, 2)}–${fmt(x.ratio_max, 2)}) | ${fmt(x.tessera.cpu_us_per_request)} / ${fmt(x.bare.cpu_us_per_request)} | ${x.cpu_ratio === null ? '–' : fmt(x.cpu_ratio, 2)} `
        + `| ${fmt(x.tessera.p50_ms, 1)} / ${fmt(x.tessera.p99_ms, 1)} |`);
    }
  }
  const out = process.env.BENCH_JSON || join(ROOT, 'data', 'bench', 'speed.json');
  mkdirSync(dirname(out), { recursive: true });
  let commit = 'unknown';
  try { commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim(); } catch { /* not a checkout */ }
  writeFileSync(out, `${JSON.stringify({
    commit, at: started.toISOString(), node: process.version, cores: availableParallelism(), pinned: PIN,
    settings: { rounds: ROUNDS, round_seconds: ROUND_SECONDS, connections: CONNECTIONS, warmup: WARMUP }, results,
  }, null, 2)}\n`);
  console.log(`\nRatios: Tessera ÷ reference for throughput; reference ÷ Tessera for restart time and memory (1.00 = parity, lower = further behind).`);
  console.log(`JSON: ${out} (compare two runs with: node bench/speed-compare.mjs OLD.json NEW.json)`);
  return 0;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exitCode = 1;
});
