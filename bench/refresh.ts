/**
 * `npm run bench` (third part): the refresh_token grant of a confidential
 * client with rotation (`refresh_token_rotation: always`, the default) next to
 * the same client without (`never`), in the same run against the same server.
 * Each connection holds its own token family and always presents the refresh
 * token it was last given (bench/refresh-worker.mjs). Prints req/s, the ratio
 * to the run without rotation, p50/p99 latency and the SQL per request.
 * A benchmark, not a test: nothing here asserts a speed. See bench/README.md.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { decodeJwt } from 'jose';
import { API_IDENTIFIER, startTessera } from './targets.js';
import type { TesseraTarget } from './targets.js';
import { totalQueries } from './query-counter.js';
import { CONNECTIONS, DURATION, ROUNDS, VERBOSE, WARMUP } from './settings.js';

const SECRET = 'bench-refresh-secret-0123456789-abcdefghijklmnop';
const USER = { username: 'bench-user', password: 'bench user password, long enough' };
const MODES = [
  { name: 'refresh, rotation (always)', clientId: 'bench-rotate', rotation: 'always' },
  { name: 'refresh, no rotation (never)', clientId: 'bench-keep', rotation: 'never' },
] as const;
type Mode = (typeof MODES)[number];

const basic = (clientId: string) => `Basic ${Buffer.from(`${clientId}:${SECRET}`).toString('base64')}`;

/** A new refresh token family for the mode's client (the password grant: no browser needed). */
async function newFamily(t: TesseraTarget, mode: Mode): Promise<string> {
  const res = await fetch(t.origin + t.tokenPath, {
    method: 'POST',
    headers: { authorization: basic(mode.clientId), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', ...USER, scope: 'openid offline_access read', resource: API_IDENTIFIER }).toString(),
  });
  const body = await res.json() as { refresh_token?: string };
  if (res.status !== 200 || !body.refresh_token) throw new Error(`${mode.clientId}: password grant answered ${res.status} ${JSON.stringify(body)}`);
  return body.refresh_token;
}

interface Run { latencies: number[]; statusCodes: Record<string, number>; errors: number; rotated: number; seconds: number }

function runLoad(t: TesseraTarget, mode: Mode, tokens: string[], duration: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./refresh-worker.mjs', import.meta.url), {
      workerData: { origin: t.origin, path: t.tokenPath, authorization: basic(mode.clientId), resource: API_IDENTIFIER, tokens, duration },
    });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => { if (code !== 0) reject(new Error(`refresh worker exited with ${code}`)); });
  });
}

/** Before timing: one refresh per mode must give a JWT for the API, a new refresh token with rotation and the same one without. */
async function verify(t: TesseraTarget): Promise<void> {
  for (const mode of MODES) {
    const rt = await newFamily(t, mode);
    const res = await fetch(t.origin + t.tokenPath, {
      method: 'POST',
      headers: { authorization: basic(mode.clientId), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt, resource: API_IDENTIFIER }).toString(),
    });
    const body = await res.json() as { access_token?: string; refresh_token?: string };
    if (res.status !== 200 || !body.access_token) throw new Error(`${mode.name}: refresh answered ${res.status} ${JSON.stringify(body)}`);
    if (decodeJwt(body.access_token).aud !== API_IDENTIFIER) throw new Error(`${mode.name}: access token is not for ${API_IDENTIFIER}`);
    const rotatedOut = body.refresh_token !== rt;
    if (rotatedOut !== (mode.rotation === 'always')) throw new Error(`${mode.name}: refresh token ${rotatedOut ? 'rotated' : 'kept'}`);
  }
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! : NaN);

async function main(): Promise<number> {
  const t = await startTessera({
    clients: MODES.map((m) => ({
      client_id: m.clientId, client_secret: SECRET, grant_types: ['password', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic', refresh_token_rotation: m.rotation, scope: 'openid offline_access read',
    })),
    users: [{ ...USER, email: 'bench-user@example.test', email_verified: true }],
  });
  try {
    console.log('Refresh tokens: a confidential client with rotation next to the same client without');
    console.log(`storage engine: ${t.storage}`);
    console.log(`load: ${CONNECTIONS} connections on a worker thread, each its own token family (closed loop, the last token given);`);
    console.log(`      per mode ${WARMUP} s warm-up, then ${DURATION} s in ${ROUNDS} alternating round(s); a new family per connection and round; ${availableParallelism()} CPUs`);
    await verify(t);
    console.log(`verified: each refresh returns an ES256 JWT for ${API_IDENTIFIER}; "always" returns a new refresh token, "never" the same one`);
    console.log('');
    const runs = new Map<Mode, Run[]>(MODES.map((m) => [m, []]));
    const queries = new Map<Mode, number>(MODES.map((m) => [m, 0]));
    const families = async (mode: Mode) => Promise.all(Array.from({ length: CONNECTIONS }, () => newFamily(t, mode)));
    if (WARMUP > 0) for (const mode of MODES) await runLoad(t, mode, await families(mode), WARMUP);
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of round % 2 === 0 ? MODES : [...MODES].reverse()) {
        const tokens = await families(mode);
        const before = t.queries.snapshot();
        const run = await runLoad(t, mode, tokens, DURATION / ROUNDS);
        queries.set(mode, queries.get(mode)! + totalQueries(t.queries.since(before)));
        runs.get(mode)!.push(run);
        if (VERBOSE) process.stderr.write(`  round ${round + 1} ${mode.name}: ${Math.round(run.latencies.length / run.seconds)} req/s\n`);
      }
    }
    const rows = [['mode', 'req/s', 'ratio', 'p50 / p99 ms', 'SQL per request', 'new refresh tokens', 'non-200', 'errors']];
    const baseline = runs.get(MODES[1])!;
    const rate = (rs: Run[]) => rs.reduce((n, r) => n + r.latencies.length, 0) / rs.reduce((n, r) => n + r.seconds, 0);
    let failures = 0;
    for (const mode of MODES) {
      const rs = runs.get(mode)!;
      const lat = rs.flatMap((r) => r.latencies).sort((a, b) => a - b);
      const requests = lat.length;
      const non200 = rs.reduce((n, r) => n + Object.entries(r.statusCodes).filter(([c]) => c !== '200').reduce((m, [, v]) => m + v, 0), 0);
      const errors = rs.reduce((n, r) => n + r.errors, 0);
      failures += non200 + errors;
      rows.push([
        mode.name, Math.round(rate(rs)).toString(), (rate(rs) / rate(baseline)).toFixed(2),
        `${pct(lat, 0.5).toFixed(1)} / ${pct(lat, 0.99).toFixed(1)}`, (queries.get(mode)! / Math.max(1, requests)).toFixed(2),
        rs.reduce((n, r) => n + r.rotated, 0).toString(), String(non200), String(errors),
      ]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    console.log([line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n'));
    console.log('');
    console.log('ratio = req/s ÷ req/s without rotation (same run). SQL per request: statements Tessera ran during the measured runs.');
    if (t.logs.length) console.log(`Tessera wrote ${t.logs.length} warn/error log lines; first: ${t.logs[0]!.slice(0, 300)}`);
    return failures ? 1 : 0;
  } finally {
    await t.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error('bench failed:', err instanceof Error ? err.stack ?? err.message : err);
    process.exitCode = 1;
  },
);
