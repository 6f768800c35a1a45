/**
 * `npm run bench:client-auth`: client-credentials issuance with
 * `private_key_jwt` (an ES256 client assertion per request, its `jti`
 * recorded once in the shared database) next to `client_secret_basic` (the
 * secret's salted HMAC digest), in the same run against the same server, the
 * same API and scope. Prints req/s, the ratio to client_secret_basic, p50/p99
 * latency and the SQL per request. A benchmark, not a test: nothing here
 * asserts a speed. See bench/README.md.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey } from 'jose';
import { API_IDENTIFIER, startTessera } from './targets.js';
import type { TesseraTarget } from './targets.js';
import { totalQueries } from './query-counter.js';
import { CONNECTIONS, DURATION, ROUNDS, VERBOSE, WARMUP } from './settings.js';

const SECRET = 'bench-client-auth-secret-0123456789-abcdefghijklm';
/** Requests prepared per measured run (assertions are single-use, so they are signed before the clock starts). */
const POOL = Math.max(100, Number(process.env.BENCH_ASSERTIONS ?? 8000));
const MODES = [
  { name: 'client_credentials, private_key_jwt (ES256)', clientId: 'bench-key', method: 'private_key_jwt' },
  { name: 'client_credentials, client_secret_basic', clientId: 'bench-secret', method: 'client_secret_basic' },
] as const;
type Mode = (typeof MODES)[number];

const FORM = { grant_type: 'client_credentials', scope: 'read', resource: API_IDENTIFIER };
const basic = (clientId: string) => `Basic ${Buffer.from(`${clientId}:${SECRET}`).toString('base64')}`;

async function assertion(key: CryptoKey, t: TesseraTarget, clientId: string): Promise<string> {
  return new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: 'bench' })
    .setIssuer(clientId).setSubject(clientId).setAudience(t.origin).setIssuedAt().setExpirationTime('10m').sign(key);
}

/** The request bodies of one run: each with its own assertion (private_key_jwt), or the same form (client_secret_basic). */
async function bodies(t: TesseraTarget, mode: Mode, key: CryptoKey, n: number): Promise<string[]> {
  if (mode.method === 'client_secret_basic') return Array.from({ length: n }, () => new URLSearchParams(FORM).toString());
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(new URLSearchParams({
      ...FORM, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion(key, t, mode.clientId),
    }).toString());
  }
  return out;
}

interface Run { latencies: number[]; statusCodes: Record<string, number>; errors: number; seconds: number; exhausted: boolean }

function runLoad(t: TesseraTarget, mode: Mode, requestBodies: string[], duration: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./client-auth-worker.mjs', import.meta.url), {
      workerData: {
        origin: t.origin, path: t.tokenPath, bodies: requestBodies, connections: CONNECTIONS, duration,
        authorization: mode.method === 'client_secret_basic' ? basic(mode.clientId) : undefined,
      },
    });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => { if (code !== 0) reject(new Error(`client-auth worker exited with ${code}`)); });
  });
}

/** Before timing: each mode gets a JWT for the API with the scope; a replayed assertion is refused. */
async function verify(t: TesseraTarget, key: CryptoKey): Promise<void> {
  for (const mode of MODES) {
    const [body] = await bodies(t, mode, key, 1);
    const send = () => fetch(t.origin + t.tokenPath, {
      method: 'POST', body: body!,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(mode.method === 'client_secret_basic' ? { authorization: basic(mode.clientId) } : {}) },
    });
    const res = await send();
    const json = await res.json() as { access_token?: string };
    if (res.status !== 200 || !json.access_token) throw new Error(`${mode.name}: answered ${res.status} ${JSON.stringify(json)}`);
    const claims = decodeJwt(json.access_token);
    if (claims.aud !== API_IDENTIFIER || claims.scope !== 'read' || claims.client_id !== mode.clientId) throw new Error(`${mode.name}: unexpected token ${JSON.stringify(claims)}`);
    if (mode.method === 'private_key_jwt' && (await send()).status !== 401) throw new Error('a replayed assertion was accepted');
  }
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! : NaN);

async function main(): Promise<number> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', use: 'sig', alg: 'ES256' };
  const t = await startTessera({
    clients: [
      { client_id: 'bench-key', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] }, grant_types: ['client_credentials'], scope: 'read' },
      { client_id: 'bench-secret', client_secret: SECRET, token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'], scope: 'read' },
    ],
  });
  try {
    console.log('Client authentication: client_credentials with private_key_jwt next to client_secret_basic');
    console.log(`storage engine: ${t.storage}`);
    console.log(`load: ${CONNECTIONS} connections on a worker thread (closed loop); per mode ${WARMUP} s warm-up, then ${DURATION} s in ${ROUNDS} alternating round(s);`);
    console.log(`      up to ${POOL} requests per run, assertions signed before the clock starts (BENCH_ASSERTIONS); ${availableParallelism()} CPUs`);
    await verify(t, privateKey);
    console.log(`verified: both get an ES256 JWT for ${API_IDENTIFIER} with scope read; a replayed assertion gets 401`);
    console.log('');
    if (WARMUP > 0) for (const mode of MODES) await runLoad(t, mode, await bodies(t, mode, privateKey, POOL), WARMUP);
    const runs = new Map<Mode, Run[]>(MODES.map((m) => [m, []]));
    const queries = new Map<Mode, number>(MODES.map((m) => [m, 0]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of round % 2 === 0 ? MODES : [...MODES].reverse()) {
        const prepared = await bodies(t, mode, privateKey, POOL);
        const before = t.queries.snapshot();
        const run = await runLoad(t, mode, prepared, DURATION / ROUNDS);
        queries.set(mode, queries.get(mode)! + totalQueries(t.queries.since(before)));
        runs.get(mode)!.push(run);
        if (VERBOSE) process.stderr.write(`  round ${round + 1} ${mode.name}: ${Math.round(run.latencies.length / run.seconds)} req/s${run.exhausted ? ' (pool used up)' : ''}\n`);
      }
    }
    const rate = (rs: Run[]) => rs.reduce((n, r) => n + r.latencies.length, 0) / rs.reduce((n, r) => n + r.seconds, 0);
    const baseline = rate(runs.get(MODES[1])!);
    const rows = [['mode', 'req/s', 'ratio', 'p50 / p99 ms', 'SQL per request', 'non-200', 'errors']];
    let failures = 0;
    for (const mode of MODES) {
      const rs = runs.get(mode)!;
      const lat = rs.flatMap((r) => r.latencies).sort((a, b) => a - b);
      const non200 = rs.reduce((n, r) => n + Object.entries(r.statusCodes).filter(([c]) => c !== '200').reduce((m, [, v]) => m + v, 0), 0);
      const errors = rs.reduce((n, r) => n + r.errors, 0);
      failures += non200 + errors;
      rows.push([
        mode.name, Math.round(rate(rs)).toString(), (rate(rs) / baseline).toFixed(2), `${pct(lat, 0.5).toFixed(1)} / ${pct(lat, 0.99).toFixed(1)}`,
        (queries.get(mode)! / Math.max(1, lat.length)).toFixed(2), String(non200), String(errors),
      ]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    console.log([line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n'));
    console.log('');
    console.log('ratio = req/s ÷ req/s with client_secret_basic (same run). SQL per request: statements Tessera ran during the measured runs.');
    if ([...runs.values()].flat().some((r) => r.exhausted)) console.log(`note: a run used up its ${POOL} prepared requests before its time; raise BENCH_ASSERTIONS`);
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
