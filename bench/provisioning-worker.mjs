// Load generator for bench/provisioning.ts, on its own thread (its own event
// loop, free of the server's): sends the prepared requests with `concurrency`
// requests in flight and reports each one's latency and status.
import { parentPort, workerData } from 'node:worker_threads';
import { Pool } from 'undici';

const { origin, requests, concurrency } = workerData;
const pool = new Pool(origin, { connections: concurrency, pipelining: 1 });
const latencies = new Array(requests.length);
const statuses = {};
let next = 0;
const started = performance.now();

async function lane() {
  while (next < requests.length) {
    const i = next++;
    const r = requests[i];
    const t0 = performance.now();
    const res = await pool.request({ path: r.path, method: r.method, headers: r.headers, body: r.body });
    await res.body.dump();
    latencies[i] = performance.now() - t0;
    statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
  }
}

try {
  await Promise.all(Array.from({ length: concurrency }, lane));
  parentPort.postMessage({ ok: true, seconds: (performance.now() - started) / 1000, latencies, statuses });
} catch (err) {
  parentPort.postMessage({ ok: false, error: String(err?.stack ?? err) });
} finally {
  await pool.close();
}
