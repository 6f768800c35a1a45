/**
 * Gateway benchmark (part of `npm run bench`; alone: `npm run bench:gateway`).
 * One trivial upstream, reached three ways in the same run:
 *   direct → the upstream itself;
 *   bare undici proxy → a minimal reverse proxy (the ceiling for any proxy);
 *   gateway → the Tessera gateway validating a real Tessera-issued JWT
 *             (issued by a platform started in this run, in its own
 *             process) on every request;
 * plus the gateway with its verified-token cache off, to show what the
 * signature check costs per request. Prints requests/s, p50/p99 and ratios.
 * A benchmark, not a test: nothing asserts a speed. See bench/README.md.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { RawResult } from 'autocannon';
import { decodeJwt } from 'jose';
import { runLoad, summarize } from './load.js';
import type { LoadOptions, LoadSummary } from './load.js';
import { API_IDENTIFIER, tokenRequest } from './targets.js';
import { startBareProxy, startGatewayTarget, startTesseraProcess, startUpstream } from './gateway-targets.js';
import type { GatewayTarget, HttpTarget, IssuerTarget } from './gateway-targets.js';

import { CONNECTIONS, DURATION, ROUNDS, VERBOSE, WARMUP } from './settings.js';
const PATH = '/items?page=1';

async function issueToken(tessera: IssuerTarget): Promise<string> {
  const { headers, body } = tokenRequest();
  const res = await fetch(tessera.origin + tessera.tokenPath, { method: 'POST', headers, body });
  const json = await res.json() as { access_token?: string };
  if (res.status !== 200 || !json.access_token) throw new Error(`Tessera token endpoint answered ${res.status}`);
  const claims = decodeJwt(json.access_token);
  if (claims.aud !== API_IDENTIFIER || claims.scope !== 'read') throw new Error(`unexpected token claims ${JSON.stringify(claims)}`);
  return json.access_token;
}

/**
 * Proves each target answers the measured request with the upstream's exact
 * body before timing it, and that the gateway really checks the token
 * (no token → 401, tampered → 401). @throws Error on the first failure.
 */
async function verify(targets: HttpTarget[], gateways: HttpTarget[], token: string, expected: string): Promise<void> {
  for (const t of targets) {
    const res = await fetch(t.origin + PATH, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    if (res.status !== 200 || text !== expected) throw new Error(`${t.name} answered ${res.status}: ${text.slice(0, 200)}`);
  }
  for (const g of gateways) {
    const none = await fetch(g.origin + PATH);
    const tampered = await fetch(g.origin + PATH, { headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` } });
    if (none.status !== 401 || tampered.status !== 401) throw new Error(`${g.name} did not refuse missing/tampered tokens (${none.status}, ${tampered.status})`);
  }
}

/**
 * CPU time (µs) the main thread has used: the proxies under test run on it,
 * the upstream and the load generator on worker threads. Per request, this is
 * what each proxy costs, and unlike req/s it barely moves when other
 * processes compete for the CPU. Linux only (/proc); elsewhere undefined.
 */
function mainThreadCpuMicros(): number | undefined {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * (1e6 / CLOCK_TICKS);
  } catch {
    return undefined;
  }
}
/** USER_HZ: 100 on every mainstream Linux build. */
const CLOCK_TICKS = 100;

interface Measured {
  summary: LoadSummary;
  /** Main-thread CPU µs per request, if measurable. */
  cpuPerRequest: number | undefined;
}

/** Warm-up for each, then rounds in rotating order, so drift and noisy neighbours hit all alike. */
async function measure(targets: HttpTarget[], token: string): Promise<Map<HttpTarget, Measured>> {
  const opts = (t: HttpTarget): LoadOptions => ({
    url: t.origin + PATH, method: 'GET', headers: { authorization: `Bearer ${token}` }, connections: CONNECTIONS, duration: DURATION / ROUNDS,
  });
  if (WARMUP > 0) for (const t of targets) await runLoad({ ...opts(t), duration: WARMUP });
  const raws = new Map<HttpTarget, RawResult[]>(targets.map((t) => [t, []]));
  const cpu = new Map<HttpTarget, number | undefined>(targets.map((t) => [t, 0]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const t of round % 2 === 0 ? order : order.reverse()) {
      process.stderr.write(`  ${t.name}, round ${round + 1}…\n`);
      const before = mainThreadCpuMicros();
      const raw = await runLoad(opts(t));
      const after = mainThreadCpuMicros();
      raws.get(t)!.push(raw);
      const used = before === undefined || after === undefined ? undefined : after - before;
      cpu.set(t, used === undefined || cpu.get(t) === undefined ? undefined : cpu.get(t)! + used);
      if (VERBOSE) {
        const perReq = used === undefined ? '' : `, ${(used / raw.totalCompletedRequests).toFixed(1)} µs main-thread CPU per request`;
        process.stderr.write(`    ${Math.round(raw.totalCompletedRequests / raw.duration)} req/s${perReq}\n`);
      }
    }
  }
  return new Map(targets.map((t) => {
    const summary = summarize(raws.get(t)!, opts(t));
    const used = cpu.get(t);
    return [t, { summary, cpuPerRequest: used === undefined ? undefined : used / Math.max(1, summary.requests) }];
  }));
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<number> {
  const started: Array<{ close(): Promise<void>; name: string }> = [];
  try {
    const tessera = await startTesseraProcess();
    started.push(tessera);
    const upstream = await startUpstream();
    started.push(upstream);
    const bare = await startBareProxy(upstream.origin);
    started.push(bare);
    const gateway: GatewayTarget = await startGatewayTarget({ issuer: tessera.origin, upstream: upstream.origin, tokenCache: true, name: 'gateway (JWT validation)' });
    started.push(gateway);
    const uncached: GatewayTarget = await startGatewayTarget({ issuer: tessera.origin, upstream: upstream.origin, tokenCache: false, name: 'gateway, token cache off' });
    started.push(uncached);

    const token = await issueToken(tessera);
    const targets: HttpTarget[] = [upstream, bare, gateway, uncached];
    await verify(targets, [gateway, uncached], token, upstream.body);

    console.log('');
    console.log('Gateway vs bare undici proxy vs direct');
    console.log(`upstream: node:http on its own worker thread, ${upstream.body.length}-byte JSON; request: GET ${PATH} with a Tessera ES256 JWT (aud ${API_IDENTIFIER}, scope read)`);
    console.log('gateway:  one route, scopes [read]; JWKS from the Tessera platform started in this run; log level warn');
    console.log(`load: autocannon on a worker thread, ${CONNECTIONS} connections; per target ${WARMUP} s warm-up, then ${DURATION} s in ${ROUNDS} rotating round(s); ${availableParallelism()} CPUs`);
    console.log('verified: every target returns the upstream body; both gateways refuse a missing and a tampered token (401)');
    console.log('');

    const results = await measure(targets, token);
    const direct = results.get(upstream)!.summary;
    const bareR = results.get(bare)!.summary;
    const rows: string[][] = [['target', 'req/s', 'p50 ms', 'p99 ms', '÷ direct', '÷ bare proxy', 'CPU µs/req', 'non-2xx', 'errors']];
    let failures = 0;
    for (const t of targets) {
      const { summary: r, cpuPerRequest } = results.get(t)!;
      rows.push([
        t.name, Math.round(r.perSecond).toString(), String(r.p50), String(r.p99),
        (r.perSecond / direct.perSecond).toFixed(2), (r.perSecond / bareR.perSecond).toFixed(2),
        t === upstream || cpuPerRequest === undefined ? '–' : cpuPerRequest.toFixed(1), String(r.non2xx), String(r.errors),
      ]);
      if (r.non2xx > 0 || r.errors > 0) failures++;
    }
    console.log(table(rows));
    console.log('');
    const ratio = results.get(gateway)!.summary.perSecond / bareR.perSecond;
    console.log(`gateway ÷ bare proxy = ${ratio.toFixed(2)} (target ≥ 0.90: ${ratio >= 0.9 ? 'reached' : 'NOT reached'})`);
    const gwCpu = results.get(gateway)!.cpuPerRequest;
    const bareCpu = results.get(bare)!.cpuPerRequest;
    if (gwCpu !== undefined && bareCpu !== undefined) {
      console.log(`CPU per request, bare proxy ÷ gateway = ${(bareCpu / gwCpu).toFixed(2)} (the throughput ratio the gateway would reach if it were alone on its core)`);
    }
    console.log('÷ direct and ÷ bare proxy are throughput ratios (req/s ÷ req/s). Latencies from autocannon, whole ms.');
    console.log('CPU µs/req: main-thread CPU time per request, i.e. the proxy\'s own work (the upstream and autocannon run on worker threads).');
    for (const g of [gateway, uncached]) {
      if (g.logs.length) console.log(`${g.name} wrote ${g.logs.length} warn/error log lines; first: ${g.logs[0]!.slice(0, 300)}`);
    }
    if (failures) console.log('WARNING: some targets answered non-2xx or had socket errors; the numbers do not describe the working path.');
    return failures ? 1 : 0;
  } finally {
    for (const s of started.reverse()) await s.close().catch((err: unknown) => console.error(`closing ${s.name} failed:`, err));
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error('gateway bench failed:', err instanceof Error ? err.stack ?? err.message : err);
    process.exitCode = 1;
  },
);
