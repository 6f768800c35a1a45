/**
 * `npm run bench`: Tessera against a bare oidc-provider, both started in this
 * process on loopback ports, loaded by autocannon on a worker thread.
 * Prints requests/s, the Tessera / bare ratio and p50/p99 latency per scenario.
 * A benchmark, not a test: nothing here asserts a speed. See bench/README.md.
 */
import { availableParallelism } from 'node:os';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { RawResult } from 'autocannon';
import { runLoad, summarize } from './load.js';
import type { LoadOptions, LoadRequest, LoadSummary } from './load.js';
import { API_IDENTIFIER, startBare, startTessera, tokenRequest } from './targets.js';
import type { Target, TesseraTarget } from './targets.js';
import { totalQueries } from './query-counter.js';
import { CONNECTIONS, DURATION, ROUNDS, VERBOSE, WARMUP } from './settings.js';

interface Scenario {
  name: string;
  request(t: Target): LoadRequest;
}

interface Measurement {
  tessera: LoadSummary;
  bare: LoadSummary;
  /** SQL statements Tessera ran during the measured runs, by kind and table. */
  tesseraQueries: Map<string, number>;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'token (client_credentials, ES256 JWT)',
    request: (t) => ({ url: t.origin + t.tokenPath, method: 'POST', ...tokenRequest() }),
  },
  {
    name: 'discovery document',
    request: (t) => ({ url: t.origin + t.discoveryPath, method: 'GET' }),
  },
];

/**
 * Proves each server answers the measured requests correctly before timing
 * them: the token endpoint must return 200 with an ES256 JWT for the API.
 * @throws Error describing the first failure.
 */
async function verify(t: Target): Promise<void> {
  const { headers, body } = tokenRequest();
  const res = await fetch(t.origin + t.tokenPath, { method: 'POST', headers, body });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${t.name}: token endpoint answered ${res.status}: ${text.slice(0, 300)}`);
  const json = JSON.parse(text) as { access_token?: unknown; token_type?: unknown };
  const token = json.access_token;
  if (typeof token !== 'string' || token.split('.').length !== 3) {
    throw new Error(`${t.name}: access_token is not a JWT (3 dot-separated parts): ${text.slice(0, 300)}`);
  }
  const header = decodeProtectedHeader(token);
  const claims = decodeJwt(token);
  if (header.alg !== 'ES256') throw new Error(`${t.name}: access token is signed ${header.alg}, expected ES256`);
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(API_IDENTIFIER)) throw new Error(`${t.name}: access token aud is ${JSON.stringify(claims.aud)}, expected ${API_IDENTIFIER}`);

  const disco = await fetch(t.origin + t.discoveryPath);
  const doc = (await disco.json().catch(() => ({}))) as { issuer?: unknown };
  if (disco.status !== 200 || doc.issuer !== t.origin) {
    throw new Error(`${t.name}: discovery answered ${disco.status} with issuer ${JSON.stringify(doc.issuer)}`);
  }
}

/** Warms both servers up, then alternates measured rounds between them. */
async function measure(scenario: Scenario, tessera: TesseraTarget, bare: Target): Promise<Measurement> {
  const opts = (t: Target): LoadOptions => ({ ...scenario.request(t), connections: CONNECTIONS, duration: DURATION / ROUNDS });
  if (WARMUP > 0) {
    for (const t of [tessera, bare]) await runLoad({ ...opts(t), duration: WARMUP });
  }
  const raws = new Map<Target, RawResult[]>([[tessera, []], [bare, []]]);
  const queries = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of round % 2 === 0 ? [tessera, bare] : [bare, tessera]) {
      const before = tessera.queries.snapshot();
      const raw = await runLoad(opts(t));
      raws.get(t)!.push(raw);
      if (VERBOSE) process.stderr.write(`  round ${round + 1} ${t.name}: ${Math.round(raw.totalCompletedRequests / raw.duration)} req/s\n`);
      if (t !== tessera) continue;
      for (const [k, v] of tessera.queries.since(before)) queries.set(k, (queries.get(k) ?? 0) + v);
    }
  }
  const t = summarize(raws.get(tessera)!, opts(tessera));
  const b = summarize(raws.get(bare)!, opts(bare));
  return { tessera: t, bare: b, tesseraQueries: queries };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  return out.join('\n');
}

const fmtRps = (n: number) => Math.round(n).toString();
const fmtLat = (r: LoadSummary) => `${r.p50} / ${r.p99}`;
/** "2.01 per request (select clients 1.01, …)"; statements rarer than 1 in 200 requests are shown as totals. */
const fmtQueries = (m: Map<string, number>, requests: number) => {
  if (m.size === 0) return 'none';
  const per = (n: number) => n / Math.max(1, requests);
  const parts = [...m].sort((a, b) => b[1] - a[1])
    .map(([k, v]) => (per(v) >= 0.005 ? `${k} ${per(v).toFixed(2)}` : `${k}: ${v} in all`));
  return `${per(totalQueries(m)).toFixed(2)} per request (${parts.join(', ')}; ${requests} requests)`;
};

async function main(): Promise<number> {
  const targets: Target[] = [];
  try {
    const tessera = await startTessera();
    targets.push(tessera);
    const bare = await startBare();
    targets.push(bare);

    console.log('Tessera vs bare oidc-provider');
    console.log(`storage engine (Tessera): ${tessera.storage}`);
    console.log('bare oidc-provider:       default in-memory adapter, static client');
    console.log(`load: autocannon on a worker thread, ${CONNECTIONS} connections; per scenario and server ${WARMUP} s warm-up,`);
    console.log(`      then ${DURATION} s measured in ${ROUNDS} alternating round(s) of ${DURATION / ROUNDS} s (Tessera and bare take turns);`);
    console.log(`      servers on this process's main thread (same process as the load generator), ${availableParallelism()} CPUs`);

    const before = tessera.queries.snapshot();
    for (const t of targets) await verify(t);
    console.log(`verified: both token endpoints return 200 with an ES256 JWT for ${API_IDENTIFIER}; discovery returns 200`);
    const verifySql = [...tessera.queries.since(before)].map(([k, v]) => `${k} ×${v}`).join(', ') || 'none';
    console.log(`Tessera SQL during the verification (1 token + 1 discovery request): ${verifySql}`);
    console.log('');

    const rows: string[][] = [[
      'scenario', 'Tessera req/s', 'bare req/s', 'ratio', 'Tessera p50/p99 ms', 'bare p50/p99 ms', 'non-2xx T/b', 'errors T/b',
    ]];
    const notes: string[] = [];
    let failures = 0;
    for (const scenario of SCENARIOS) {
      process.stderr.write(`measuring ${scenario.name}…\n`);
      const m = await measure(scenario, tessera, bare);
      const tr = m.tessera;
      const br = m.bare;
      rows.push([
        scenario.name,
        fmtRps(tr.perSecond),
        fmtRps(br.perSecond),
        br.perSecond > 0 ? (tr.perSecond / br.perSecond).toFixed(2) : 'n/a',
        fmtLat(tr),
        fmtLat(br),
        `${tr.non2xx} / ${br.non2xx}`,
        `${tr.errors} / ${br.errors}`,
      ]);
      notes.push(`Tessera SQL, ${scenario.name}: ${fmtQueries(m.tesseraQueries, tr.requests)}`);
      for (const [who, r] of [['Tessera', tr], ['bare', br]] as const) {
        if (r.non2xx > 0 || r.errors > 0) {
          failures++;
          const codes = Object.entries(r.statusCodes).map(([code, n]) => `${code}×${n}`).join(' ');
          notes.push(`WARNING ${who}, ${scenario.name}: ${r.non2xx} non-2xx, ${r.errors} errors (${r.timeouts} timeouts); status codes: ${codes}`);
        }
      }
    }

    console.log(table(rows));
    console.log('');
    console.log('ratio = Tessera req/s ÷ bare req/s (1.00 = parity; 0.50 = half the throughput). Latencies from autocannon, whole ms.');
    for (const n of notes) console.log(n);
    if (tessera.logs.length) {
      console.log(`Tessera wrote ${tessera.logs.length} warn/error log lines; first: ${tessera.logs[0]!.slice(0, 300)}`);
    }
    return failures ? 1 : 0;
  } finally {
    for (const t of targets.reverse()) {
      await t.close().catch((err: unknown) => console.error(`closing ${t.name} failed:`, err));
    }
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error('bench failed:', err instanceof Error ? err.message : err);
    if (err instanceof Error && err.stack) console.error(err.stack);
    process.exitCode = 1;
  },
);
