/**
 * Gateway benchmark (part of `npm run bench`; alone: `npm run bench:gateway`).
 * One trivial upstream, reached three ways in the same run:
 *   direct → the upstream itself;
 *   bare undici proxy → a minimal reverse proxy (the ceiling for any proxy);
 *   gateway → the Tessera gateway validating a real Tessera-issued JWT
 *             (issued by a platform started in this run, in its own
 *             process) on every request;
 * plus the gateway with its verified-token cache off, to show what the
 * signature check costs per request. Prints requests/s, p50/p99 and ratios,
 * and per request the CPU time of the proxy under test (the main thread) and
 * of the upstream (its worker thread): unlike req/s, these barely move when
 * other processes share the machine.
 * A benchmark, not a test: nothing asserts a speed. See bench/README.md.
 */
import { readdirSync, readFileSync } from 'node:fs';
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
 * CPU time (µs) one thread of this process has used, from /proc (Linux):
 * schedstat's nanoseconds where the kernel keeps them, else stat's clock
 * ticks; undefined elsewhere. The proxies under test run on the main thread,
 * the upstream and the load generator on worker threads, so per request the
 * main thread's time is what each proxy costs, and unlike req/s it barely
 * moves when other processes compete for the CPU.
 */
function threadCpuMicros(tid: number): number | undefined {
  try {
    if (SCHEDSTAT) return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
    const fields = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * (1e6 / CLOCK_TICKS);
  } catch {
    return undefined;
  }
}
/** USER_HZ: 100 on every mainstream Linux build. */
const CLOCK_TICKS = 100;
/** Whether the kernel keeps per-thread run time in nanoseconds (decided once, so a measurement never mixes the two sources). */
const SCHEDSTAT = (() => {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) > 0;
  } catch {
    return false;
  }
})();

/** This process's thread ids (Linux); empty elsewhere. */
function threadIds(): Set<string> {
  try {
    return new Set(readdirSync('/proc/self/task'));
  } catch {
    return new Set();
  }
}

/** CPU µs used by a thread while `work` ran (undefined when not measurable). */
async function cpuDuring<T>(tid: number | undefined, work: () => Promise<T>): Promise<{ result: T; used: number | undefined }> {
  const before = tid === undefined ? undefined : threadCpuMicros(tid);
  const result = await work();
  const after = tid === undefined ? undefined : threadCpuMicros(tid);
  return { result, used: before === undefined || after === undefined ? undefined : after - before };
}

interface Measured {
  summary: LoadSummary;
  /** Main-thread (proxy) CPU µs per request, if measurable. */
  cpuPerRequest: number | undefined;
  /** Share of one CPU the main thread used while loaded: near 1 means the proxy itself was the bottleneck. */
  busy: number | undefined;
  /** The upstream worker's CPU µs per request, if measurable. */
  upstreamCpuPerRequest: number | undefined;
  /** Each round's rate and CPU per request, in round order (to pair targets measured moments apart). */
  rounds: Array<{ perSecond: number; cpuPerRequest: number | undefined }>;
}

/** Sums per-round figures; one unmeasurable round makes the total unmeasurable. */
const add = (total: number | undefined, x: number | undefined) => (total === undefined || x === undefined ? undefined : total + x);

/** Warm-up for each, then rounds in rotating order, so drift and noisy neighbours hit all alike. */
async function measure(targets: HttpTarget[], token: string, upstreamTid: number | undefined): Promise<Map<HttpTarget, Measured>> {
  const opts = (t: HttpTarget): LoadOptions => ({
    url: t.origin + PATH, method: 'GET', headers: { authorization: `Bearer ${token}` }, connections: CONNECTIONS, duration: DURATION / ROUNDS,
  });
  if (WARMUP > 0) for (const t of targets) await runLoad({ ...opts(t), duration: WARMUP });
  const raws = new Map<HttpTarget, RawResult[]>(targets.map((t) => [t, []]));
  const cpu = new Map<HttpTarget, number | undefined>(targets.map((t) => [t, 0]));
  const upCpu = new Map<HttpTarget, number | undefined>(targets.map((t) => [t, 0]));
  const rounds = new Map<HttpTarget, Measured['rounds']>(targets.map((t) => [t, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const t of round % 2 === 0 ? order : order.reverse()) {
      process.stderr.write(`  ${t.name}, round ${round + 1}…\n`);
      const { result: { result: raw, used: upUsed }, used } = await cpuDuring(process.pid, () => cpuDuring(upstreamTid, () => runLoad(opts(t))));
      raws.get(t)!.push(raw);
      cpu.set(t, add(cpu.get(t), used));
      upCpu.set(t, add(upCpu.get(t), upUsed));
      rounds.get(t)!.push({ perSecond: raw.totalCompletedRequests / raw.duration, cpuPerRequest: used === undefined ? undefined : used / Math.max(1, raw.totalCompletedRequests) });
      if (VERBOSE) {
        const perReq = used === undefined ? '' : `, ${(used / raw.totalCompletedRequests).toFixed(1)} µs main-thread CPU per request`;
        process.stderr.write(`    ${Math.round(raw.totalCompletedRequests / raw.duration)} req/s${perReq}\n`);
      }
    }
  }
  return new Map(targets.map((t) => {
    const summary = summarize(raws.get(t)!, opts(t));
    const used = cpu.get(t);
    const upUsed = upCpu.get(t);
    const n = Math.max(1, summary.requests);
    return [t, {
      summary,
      cpuPerRequest: used === undefined ? undefined : used / n,
      busy: used === undefined || summary.seconds === 0 ? undefined : used / (summary.seconds * 1e6),
      upstreamCpuPerRequest: upUsed === undefined ? undefined : upUsed / n,
      rounds: rounds.get(t)!,
    }];
  }));
}

/**
 * The gateway's ratios to the bare proxy round by round (each pair measured
 * moments apart, so a burst of outside load hits both or neither): median and
 * range. A steadier summary than the totals when other work shares the machine.
 */
function pairedRatios(gw: Measured, bare: Measured): string | undefined {
  if (gw.rounds.length < 3) return undefined;
  const spread = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = sorted.length / 2;
    const median = sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    return `${median.toFixed(2)} (${sorted[0]!.toFixed(2)}–${sorted[sorted.length - 1]!.toFixed(2)})`;
  };
  const throughput = gw.rounds.map((r, i) => r.perSecond / bare.rounds[i]!.perSecond);
  const cpu = gw.rounds.map((r, i) => (r.cpuPerRequest && bare.rounds[i]!.cpuPerRequest ? bare.rounds[i]!.cpuPerRequest! / r.cpuPerRequest : NaN));
  const cpuText = cpu.some((x) => Number.isNaN(x)) ? '' : `, CPU per request ${spread(cpu)}`;
  return `gateway ÷ bare proxy round by round, median (range) of ${gw.rounds.length}: throughput ${spread(throughput)}${cpuText}`;
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
    const threadsBefore = threadIds();
    const upstream = await startUpstream();
    started.push(upstream);
    // The upstream's worker thread is the one thread that appeared with it (its CPU is measured too).
    const upstreamThreads = [...threadIds()].filter((tid) => !threadsBefore.has(tid));
    const upstreamTid = upstreamThreads.length === 1 ? Number(upstreamThreads[0]) : undefined;
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

    const results = await measure(targets, token, upstreamTid);
    const direct = results.get(upstream)!.summary;
    const bareR = results.get(bare)!.summary;
    const rows: string[][] = [['target', 'req/s', 'p50 ms', 'p99 ms', '÷ direct', '÷ bare proxy', 'CPU µs/req', 'proxy busy', 'upstream CPU µs/req', 'non-2xx', 'errors']];
    const fmt = (x: number | undefined, digits = 1) => (x === undefined ? '–' : x.toFixed(digits));
    let failures = 0;
    for (const t of targets) {
      const { summary: r, cpuPerRequest, busy, upstreamCpuPerRequest } = results.get(t)!;
      const proxied = t !== upstream;
      rows.push([
        t.name, Math.round(r.perSecond).toString(), String(r.p50), String(r.p99),
        (r.perSecond / direct.perSecond).toFixed(2), (r.perSecond / bareR.perSecond).toFixed(2),
        proxied ? fmt(cpuPerRequest) : '–', proxied && busy !== undefined ? `${Math.round(busy * 100)}%` : '–', fmt(upstreamCpuPerRequest),
        String(r.non2xx), String(r.errors),
      ]);
      if (r.non2xx > 0 || r.errors > 0) failures++;
    }
    console.log(table(rows));
    console.log('');
    const gw = results.get(gateway)!;
    const bareM = results.get(bare)!;
    const ratio = gw.summary.perSecond / bareR.perSecond;
    console.log(`gateway ÷ bare proxy = ${ratio.toFixed(2)} (target ≥ 0.90: ${ratio >= 0.9 ? 'reached' : 'NOT reached'})`);
    if (gw.cpuPerRequest !== undefined && bareM.cpuPerRequest !== undefined) {
      console.log(`CPU per request, bare proxy ÷ gateway = ${(bareM.cpuPerRequest / gw.cpuPerRequest).toFixed(2)} (the throughput ratio the gateway would reach if it were alone on its core)`);
    }
    const paired = pairedRatios(gw, bareM);
    if (paired) console.log(paired);
    if (gw.upstreamCpuPerRequest !== undefined && bareM.upstreamCpuPerRequest !== undefined) {
      const extra = gw.upstreamCpuPerRequest - bareM.upstreamCpuPerRequest;
      console.log(`upstream CPU per request: ${extra >= 0 ? '+' : ''}${extra.toFixed(1)} µs behind the gateway vs the bare proxy (parsing the context headers it adds; here the upstream shares the CPUs with the proxy)`);
    }
    console.log('÷ direct and ÷ bare proxy are throughput ratios (req/s ÷ req/s). Latencies from autocannon, whole ms.');
    console.log('CPU µs/req: main-thread CPU time per request, i.e. the proxy\'s own work (the upstream and autocannon run on worker threads);');
    console.log('proxy busy: that thread\'s CPU time ÷ wall time (near 100%: the proxy itself was the bottleneck). upstream CPU: the upstream worker thread\'s.');
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
